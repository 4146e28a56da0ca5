"""Prompt lengths in tokens per split, for ``prepare_report.json``: the figures that decide a cutoff and a budget.

``dynahate prepare --tokenizer NAME_OR_PATH`` measures every training prompt (system turn,
instruction, post, assistant header: exactly :func:`dynahate.plugin.prompts.build_prompt`) with a
tokenizer and reports per split the mean, p50, p95 and max length and how many prompts exceed
``cutoff_len`` (LLaMA-Factory would truncate those in training; ``dynahate eval`` refuses them).
The default tokenizer is the offline Llama 3.1 one (:mod:`dynahate.plugin.llama3_tokenizer`) when
``llama-models`` is installed; ``--tokenizer none`` turns the measurement off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dynahate.core.errors import DynahateError
from dynahate.plugin.post_rule import DEFAULT_CUTOFF_LEN
from dynahate.plugin.prompts import build_prompt

OFFLINE = "llama31-offline"
NONE = "none"
_CHUNK = 1024


@dataclass(frozen=True)
class LengthTokenizer:
    """A loaded tokenizer and the name the report gives it."""

    name: str
    tokenizer: Any


def default_tokenizer_name() -> str:
    """``llama31-offline`` when ``llama-models`` is installed, else ``none``."""
    from dynahate.plugin.llama3_tokenizer import tokenizer_model_path

    return OFFLINE if tokenizer_model_path() is not None else NONE


def load_length_tokenizer(spec: str | None) -> LengthTokenizer | None:
    """The tokenizer ``--tokenizer`` names (None: the default), or None for ``none``.

    Args:
        spec: ``llama31-offline``, ``none``, a local tokenizer folder or a Hub model name.

    Returns:
        The tokenizer with its name, or None when no lengths are wanted.

    Raises:
        DynahateError: The tokenizer cannot be loaded (one line naming it).
    """
    spec = spec or default_tokenizer_name()
    if spec == NONE:
        return None
    if spec == OFFLINE:
        from dynahate.plugin.llama3_tokenizer import llama31_tokenizer

        return LengthTokenizer(OFFLINE, llama31_tokenizer())
    from transformers import AutoTokenizer

    try:
        return LengthTokenizer(spec, AutoTokenizer.from_pretrained(spec))
    except (OSError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DynahateError(f"--tokenizer {spec!r}: cannot load it: {first}") from None


def _percentile(sorted_values: list[int], q: float) -> int:
    """The nearest-rank percentile (a length that some prompt really has)."""
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil(n * q / 100), at least 1
    return sorted_values[int(rank) - 1]


def prompt_lengths(tokenizer: Any, posts: list[str]) -> list[int]:
    """Token count of each post's full training prompt (the ids :func:`prompts.encode_prompt` gives)."""
    from tqdm import tqdm

    lengths: list[int] = []
    with tqdm(total=len(posts), desc="prompt lengths", unit="prompts", mininterval=0.5, leave=False) as bar:
        for start in range(0, len(posts), _CHUNK):
            chunk = [build_prompt(post) for post in posts[start:start + _CHUNK]]
            lengths.extend(len(ids) for ids in tokenizer(chunk, add_special_tokens=False)["input_ids"])
            bar.update(len(chunk))
    return lengths


def length_summary(lengths: list[int], cutoff_len: int = DEFAULT_CUTOFF_LEN) -> dict[str, Any]:
    """``{prompts, mean, p50, p95, max, over_cutoff}`` of one split (zeros and None for an empty split)."""
    if not lengths:
        return {"prompts": 0, "mean": None, "p50": None, "p95": None, "max": None, "over_cutoff": 0}
    ordered = sorted(lengths)
    return {
        "prompts": len(ordered),
        "mean": round(sum(ordered) / len(ordered), 2),
        "p50": _percentile(ordered, 50),
        "p95": _percentile(ordered, 95),
        "max": ordered[-1],
        "over_cutoff": sum(length > cutoff_len for length in ordered),
    }


def prompt_length_report(length_tokenizer: LengthTokenizer, posts_by_split: dict[str, list[str]],
                         cutoff_len: int = DEFAULT_CUTOFF_LEN) -> dict[str, Any]:
    """The ``prompt_tokens`` entry of ``prepare_report.json``.

    Args:
        length_tokenizer: From :func:`load_length_tokenizer`.
        posts_by_split: Split name -> its posts, as written to the JSONL files.
        cutoff_len: The training ``cutoff_len`` to count longer prompts against.

    Returns:
        ``{"tokenizer", "cutoff_len", "splits": {split: length_summary}}``.
    """
    return {
        "tokenizer": length_tokenizer.name,
        "cutoff_len": cutoff_len,
        "splits": {split: length_summary(prompt_lengths(length_tokenizer.tokenizer, posts), cutoff_len)
                   for split, posts in posts_by_split.items()},
    }
