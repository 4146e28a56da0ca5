"""The LLaMA-Factory ``dataset_info.json`` entries for the three Dynahate splits (one definition).

The repository's own ``dataset_info.json`` (``dataset_dir: .``) and ``dynahate register`` both
come from :func:`dataset_entries`; a test keeps the committed file equal to it.
"""

from __future__ import annotations

from typing import Any

from .dynahate_csv import SPLITS

ALPACA_COLUMNS = {"prompt": "instruction", "query": "input", "response": "output", "system": "system"}


def dataset_name(split: str) -> str:
    return f"dynahate_{split}"


def dataset_entries(file_prefix: str = "") -> dict[str, dict[str, Any]]:
    """``{"dynahate_train": {...}, ...}`` with ``file_name`` = ``file_prefix + "dynahate_S.jsonl"``."""
    return {
        dataset_name(split): {
            "file_name": f"{file_prefix}{dataset_name(split)}.jsonl",
            "formatting": "alpaca",
            "columns": dict(ALPACA_COLUMNS),
        }
        for split in SPLITS
    }
