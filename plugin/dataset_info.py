"""The LLaMA-Factory ``dataset_info.json`` entries for the three Dynahate splits (one definition).

The repository's own ``dataset_info.json`` (``dataset_dir: .``) and ``dynahate register`` both
come from :func:`dataset_entries`; a test keeps the committed file equal to it.
"""

from __future__ import annotations

from typing import Any

from dynahate.plugin.splits import SPLITS, data_file_name, dataset_name

ALPACA_COLUMNS = {"prompt": "instruction", "query": "input", "response": "output", "system": "system"}


def dataset_entries(file_prefix: str = "") -> dict[str, dict[str, Any]]:
    """``{"dynahate_train": {...}, ...}`` with ``file_name`` = ``file_prefix + "dynahate_S.jsonl"``."""
    return {
        dataset_name(split): {
            "file_name": file_prefix + data_file_name(split),
            "formatting": "alpaca",
            "columns": dict(ALPACA_COLUMNS),
        }
        for split in SPLITS
    }
