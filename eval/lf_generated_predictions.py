"""Read LLaMA-Factory's ``generated_predictions.jsonl`` into predictions.

Written by ``llamafactory-cli train`` with ``do_predict`` and ``predict_with_generate`` (and by
LLaMA-Factory's ``scripts/vllm_infer.py``): one line per post with ``prompt``, ``predict`` (the
generated text) and ``label`` (the gold answer). ``predict`` goes through the same
normalization as generate mode; a gold label outside the label space is an error. ``predict`` may
quote the post (it is the model's whole generation): it is kept in memory as ``raw``, and written
to the predictions file only when answer-like (:func:`dynahate.eval.predictions.raw_entries`).
"""

from __future__ import annotations

from pathlib import Path

from dynahate.core.describe import describe_value
from dynahate.core.errors import DynahateError
from dynahate.core.json_io import iter_jsonl
from dynahate.eval.predictions import Prediction
from dynahate.plugin.labels import LABELS, normalize_generation, normalize_gold

REQUIRED_KEYS = ("predict", "label")


def read_generated_predictions(path: str | Path, name: str) -> tuple[list[Prediction], list[str]]:
    """The predictions, ids ``<name>-<line>``, and each line's ``prompt`` (empty when absent), in file order."""
    path = Path(path)
    predictions, prompts = [], []
    for line, record in iter_jsonl(path):
        missing = [key for key in REQUIRED_KEYS if key not in record]
        if missing:
            raise DynahateError(
                f"{path}:{line}: missing key(s) {', '.join(map(repr, missing))}; "
                "expected LLaMA-Factory's generated_predictions.jsonl (prompt, predict, label)"
            )
        gold = normalize_gold(str(record["label"]).strip())
        if gold is None:
            raise DynahateError(
                f"{path}:{line}: gold label is {describe_value(record['label'])}, expected one of "
                f"{', '.join(map(repr, LABELS))}"
            )
        raw = str(record["predict"])
        predictions.append(Prediction(id=f"{name}-{line}", gold=gold, pred=normalize_generation(raw), raw=raw))
        prompts.append(str(record.get("prompt", "")))
    if not predictions:
        raise DynahateError(f"{path}: no predictions (empty file)")
    return predictions, prompts
