"""The Dynahate splits and the names of their files: the one definition every command uses.

``SPLITS`` is a fact of the dataset (the CSV's ``split`` column), in the order the files are
written and reported. For a split ``S``, ``dynahate prepare`` writes :func:`data_file`
(``dynahate_S.jsonl``) and its :func:`meta_file` sidecar (``dynahate_S.meta.jsonl``);
``dynahate register`` and the repository's ``dataset_info.json`` name it :func:`dataset_name`
(``dynahate_S``) for LLaMA-Factory; ``dynahate eval --split S`` reads :func:`data_file`. An evaluation
names a split ``S`` (``--split S``) or by its file's stem, ``dynahate_S`` (``--data .../dynahate_S.jsonl``):
:func:`result_names` gives both, for the commands that look a split up in ``eval_results.json``.
"""

from __future__ import annotations

from pathlib import Path

SPLITS: tuple[str, str, str] = ("train", "dev", "test")
EVERY_SPLIT = "{" + ",".join(SPLITS) + "}"  # for help text: dynahate_{train,dev,test}.jsonl


def dataset_name(split: str) -> str:
    """The LLaMA-Factory dataset name of a split: ``dynahate_S``."""
    return f"dynahate_{split}"


def data_file_name(split: str) -> str:
    """The prepared file name of a split: ``dynahate_S.jsonl``."""
    return f"{dataset_name(split)}.jsonl"


def data_file(data_dir: Path, split: str) -> Path:
    """The prepared JSONL of a split in ``data_dir``."""
    return Path(data_dir) / data_file_name(split)


def meta_file(data_path: Path) -> Path:
    """The metadata sidecar of a JSONL data file: ``NAME.meta.jsonl`` beside ``NAME.jsonl``."""
    data_path = Path(data_path)
    return data_path.with_name(f"{data_path.stem}.meta.jsonl")


def result_names(split: str) -> tuple[str, str]:
    """The names a split ``S`` has in ``eval_results.json``: ``S`` (``eval --split S``), then ``dynahate_S`` (``eval
    --data .../dynahate_S.jsonl``, named by the file's stem)."""
    return split, Path(data_file_name(split)).stem
