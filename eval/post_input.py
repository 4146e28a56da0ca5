"""Read posts to label from a file (``dynahate predict --input``): .txt, .csv or .jsonl.

Every problem names the file and line; nothing is skipped silently and no post is quoted.
"""

from __future__ import annotations

import csv
from pathlib import Path


def read_posts(path: Path, text_column: str | None) -> list[str]:
    """Posts from a file; every problem names the file and line, nothing is skipped silently."""
    from dynahate.plugin.errors import DynahateError
    from dynahate.plugin.jsonl import iter_jsonl

    if not path.is_file():
        raise DynahateError(f"{path}: file not found")
    suffix = path.suffix.lower()
    posts: list[str] = []
    if suffix == ".txt":
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                raise DynahateError(f"{path}:{number}: empty line; a .txt input holds one non-empty post per line")
            posts.append(line)
    elif suffix == ".csv":
        if not text_column:
            raise DynahateError(f"{path}: a .csv input needs --text-column NAME")
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if text_column not in (reader.fieldnames or []):
                raise DynahateError(f"{path}: no column {text_column!r} (columns: {', '.join(reader.fieldnames or [])})")
            for row in reader:
                if not row[text_column]:
                    raise DynahateError(f"{path}: line {reader.line_num}: empty {text_column!r}")
                posts.append(row[text_column])
    elif suffix == ".jsonl":
        key = text_column or "input"
        for number, record in iter_jsonl(path):
            if not isinstance(record.get(key), str) or not record[key]:
                raise DynahateError(f"{path}:{number}: no non-empty string under key {key!r}")
            posts.append(record[key])
    else:
        raise DynahateError(f"{path}: unsupported input type {suffix!r}; use .txt, .csv or .jsonl")
    return posts
