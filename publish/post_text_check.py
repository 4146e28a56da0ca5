"""Before staging: no JSONL file that goes to the Hub can hold a post's text.

- Predictions files recorded by ``dynahate eval``: every key of every line is one of
  ``PREDICTION_KEYS`` (id, case_id, functionality, round, matched, groups, gold, pred, p_hate, raw, raw_length,
  raw_sha256), none of which holds a post; and every value is a number, a boolean, null, a list of those, a
  SHA-256 in hex (``raw_sha256``), or a short string
  (:func:`sentence_like`: at most :data:`MAX_VALUE_CHARS` characters and :data:`MAX_VALUE_WORDS` words): an
  id, a code, a label, or the model's answer of at most 4 tokens. A ``raw`` answer that quotes the post
  (LLaMA-Factory's ``generated_predictions.jsonl`` keeps whatever the model generated) is refused, as is
  any key's value that reads like a sentence.
- Any other JSONL (LLaMA-Factory's ``trainer_log.jsonl``, one in a checkpoint folder): every key is
  one LLaMA-Factory's logging callback writes (:data:`TRAINER_LOG_KEYS`), and every value a number,
  except the two durations, which must read like ``0:01:02`` or ``1 day, 0:01:02``. A post could
  hide in neither a key nor a value that passes.

An error names the file, the line and the key, never the value (its length at most).
"""

from __future__ import annotations

import re
from pathlib import Path

from dynahate.core.errors import DynahateError
from dynahate.core.json_io import iter_jsonl
from dynahate.eval.predictions import PREDICTION_KEYS

# llamafactory.train.callbacks.LogCallback.on_log / on_prediction_step: the keys of trainer_log.jsonl
TRAINER_LOG_KEYS = ("current_steps", "total_steps", "loss", "eval_loss", "predict_loss", "reward", "accuracy", "lr",
                    "epoch", "percentage", "elapsed_time", "remaining_time", "throughput", "total_tokens",
                    "vram_allocated", "vram_reserved")
DURATION_KEYS = ("elapsed_time", "remaining_time")
DURATION = re.compile(r"(?:\d+ days?, )?\d+:\d{2}:\d{2}(?:\.\d+)?")
# a predictions line's strings are ids, codes, labels and an answer of at most 4 generated tokens
MAX_VALUE_CHARS = 48
MAX_VALUE_WORDS = 4
HEX_DIGEST = re.compile(r"[0-9a-f]{64}")  # raw_sha256: the SHA-256 eval records in place of a long answer


def _key(key: str) -> str:
    return repr(key if len(key) <= 40 else key[:40] + "...")


def _keys(keys: list[str]) -> str:
    return ("key " if len(keys) == 1 else "keys ") + ", ".join(_key(key) for key in keys)


def sentence_like(value: str) -> str | None:
    """Why a predictions file's string could be a post's text (None: short enough to be an id, code or answer)."""
    if len(value) > MAX_VALUE_CHARS:
        return f"a {len(value)}-character text (more than {MAX_VALUE_CHARS})"
    words = len(value.split())
    if words > MAX_VALUE_WORDS:
        return f"a text of {words} words (more than {MAX_VALUE_WORDS})"
    return None


def _value_problem(value: object) -> str | None:
    """Why a predictions line's value could hold a post (None: it cannot)."""
    if value is None or isinstance(value, (bool, int, float)):
        return None
    if isinstance(value, str):
        return sentence_like(value)
    if isinstance(value, list):
        return next((problem for item in value if (problem := _value_problem(item))), None)
    return f"a JSON {'object' if isinstance(value, dict) else type(value).__name__}"


def _check_predictions(path: Path) -> None:
    for number, line in iter_jsonl(path):
        unknown = [key for key in line if key not in PREDICTION_KEYS]
        if unknown:
            raise DynahateError(f"{path}:{number}: {_keys(unknown)} not among a predictions file's keys "
                                f"({', '.join(PREDICTION_KEYS)}); publish uploads no file that could hold a post")
        for key, value in line.items():
            if key == "raw_sha256" and isinstance(value, str) and HEX_DIGEST.fullmatch(value):
                continue
            problem = _value_problem(value)
            if problem:
                raise DynahateError(f"{path}:{number}: the value of key {_key(key)} is {problem}, not an id, code, "
                                    "label or short answer; it could quote a post, and publish uploads no file that "
                                    "could hold one")


def _check_trainer_log(path: Path) -> None:
    for number, line in iter_jsonl(path):
        unknown = [key for key in line if key not in TRAINER_LOG_KEYS]
        if unknown:
            raise DynahateError(f"{path}:{number}: {_keys(unknown)} not among the keys LLaMA-Factory's trainer log "
                                "writes; publish uploads no file that could hold a post")
        for key, value in line.items():
            if key in DURATION_KEYS:
                ok = isinstance(value, str) and DURATION.fullmatch(value) is not None
            else:
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not ok:
                kind = "a duration like 0:01:02" if key in DURATION_KEYS else "a number"
                raise DynahateError(f"{path}:{number}: the value of key {_key(key)} is not {kind} as LLaMA-Factory "
                                    "writes it; publish uploads no file that could hold a post")


def check_no_post_text(files: dict[str, Path], predictions: set[str]) -> None:
    """Refuse, naming file:line and key, any staged JSONL line that could carry a post's text."""
    for name, path in files.items():
        if name.endswith(".jsonl"):
            (_check_predictions if name in predictions else _check_trainer_log)(path)
