"""A directory laid out like the repository root, for running the recipes elsewhere.

The recipes use ``dataset_dir: .``: LLaMA-Factory reads ``./dataset_info.json`` and
``./data/dynahate_*.jsonl`` from the directory it is started in. Tests and benchmarks run the
real ``llamafactory-cli`` from such a workspace instead of touching the user's ``data/``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from dynahate.plugin.dataset_info import dataset_entries

DATA_SUBDIR = "data"


def make_workspace(root: str | Path, prepared_dir: str | Path) -> Path:
    """Write ``root/dataset_info.json`` and copy the prepared files to ``root/data``; return root."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset_info.json").write_text(json.dumps(dataset_entries(f"{DATA_SUBDIR}/"), indent=2) + "\n")
    shutil.copytree(prepared_dir, root / DATA_SUBDIR, dirs_exist_ok=True)
    return root
