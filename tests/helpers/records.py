"""Test data as text: JSONL read back, and records of the official Dynahate CSV as R writes them."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

# The official CSV's columns, in its order (R's write.csv: a leading unnamed row-number column).
CSV_HEADER = ["", "acl.id", "X1", "text", "label", "type", "target", "level", "split", "round.base", "annotator",
              "round", "acl.id.matched"]


def read_jsonl(path: Path) -> list[dict]:
    """Every line of a JSONL file, parsed (blank lines are an error: the files under test have none)."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


def csv_row(n: int, text: str, label: str = "hate", split: str = "train", acl_id: str | None = None,
            matched: str = "NA") -> list:
    """One record of the official CSV, numbered ``n`` (``acl.id`` ``acl{n}`` unless given)."""
    return [str(n), acl_id or f"acl{n}", n, text, label, "notgiven", "notgiven", "original", split, 1, "ann", "1",
            matched]


def csv_text(rows: list[list], header: list[str] | None = CSV_HEADER) -> str:
    """The CSV as R writes it (strings quoted); ``header=None`` leaves the header row out."""
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def split_results(mode: str = "score", examples: int = 28, **parts) -> dict:
    """The smallest valid object ``eval_results.json`` holds for one split (the figures made up, consistent with
    each other), plus ``parts`` (``operating_points``, ``calibration``, ``adapter``, ...) as given."""
    return {"mode": mode, "examples": examples, "invalid": 0, "accuracy": 0.75, "macro_f1": 0.74,
            "precision": {"hate": 0.8, "not hate": 0.7}, "recall": {"hate": 0.7, "not hate": 0.8}, **parts}


def recorded_splits(folder: Path) -> dict:
    """The splits of the ``eval_results.json`` in ``folder`` (a path to the file itself also works), as parsed JSON
    without its ``schema_version``: what tests compare and edit (written back without it, the file reads as a record
    of version 0)."""
    path = Path(folder)
    path = path / "eval_results.json" if path.is_dir() else path
    return {name: res for name, res in json.loads(path.read_text(encoding="utf-8")).items() if name != "schema_version"}
