"""Read posts to label (``dynahate predict --input``): a .txt, .csv or .jsonl file, or ``-`` for
standard input (one post per line, like .txt).

Every post must pass :func:`dynahate.plugin.post_rule.post_problem` (not empty, not whitespace
only, no lone surrogate); a bad one is an error naming the file and line, never skipped. A line
(of a .txt file or standard input) holds at most as many characters as a CSV field (131,072), so
standard input is bounded like a CSV: ``--input - < /dev/zero`` is one error. Files are UTF-8 (a
byte-order mark before the first line is ignored; a bad byte names its line). CSV is parsed
strictly (an unclosed quote is an error) and the text column must be named once. A FIFO or a
device is refused as such, before it is opened. No message quotes a post.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import BinaryIO

from dynahate.core.errors import DynahateError

STDIN = "-"
STDIN_NAME = "<stdin>"


def _check(post: object, where: str, subject: str) -> None:
    from dynahate.plugin.post_rule import post_problem

    problem = post_problem(post)
    if problem:
        raise DynahateError(f"{where}: {subject} {problem}")


def _line_posts(handle: BinaryIO, name: str) -> list[str]:
    """One post per line (.txt and standard input); an empty or blank line, or one longer than a CSV field, is an
    error."""
    from dynahate.core.text_files import bounded_lines, decode_lines

    posts = []
    for number, line in decode_lines(bounded_lines(handle, name), name):
        if not line:
            raise DynahateError(f"{name}:{number}: empty line; give one non-empty post per line")
        _check(line, f"{name}:{number}", "the post")
        posts.append(line)
    return posts


def _csv_posts(path: Path, text_column: str | None) -> list[str]:
    from dynahate.core.describe import describe_names, duplicated
    from dynahate.core.text_files import csv_records

    if not text_column:
        raise DynahateError(f"{path}: a .csv input needs --text-column NAME")
    records = csv_records(path)
    header = next(records, (1, []))[1]
    if text_column not in header:
        raise DynahateError(f"{path}: no column {text_column!r} (columns: {describe_names(header)})")
    if text_column in duplicated(header):
        raise DynahateError(f"{path}: line 1: column {text_column!r} occurs more than once in the header")
    index = header.index(text_column)
    posts = []
    for line, fields in records:
        if not fields:  # a blank line between records
            continue
        if len(fields) != len(header):
            raise DynahateError(f"{path}: line {line}: has {len(fields)} fields, the header has {len(header)}")
        value = fields[index]
        if not value:
            raise DynahateError(f"{path}: line {line}: empty {text_column!r}")
        _check(value, f"{path}: line {line}", repr(text_column))
        posts.append(value)
    return posts


def _jsonl_posts(path: Path, text_column: str | None) -> list[str]:
    from dynahate.core.json_io import iter_jsonl

    key = text_column or "input"
    posts = []
    for number, record in iter_jsonl(path):
        value = record.get(key)
        if not isinstance(value, str) or not value:
            raise DynahateError(f"{path}:{number}: no non-empty string under key {key!r}")
        _check(value, f"{path}:{number}", repr(key))
        posts.append(value)
    return posts


def read_posts(path: Path, text_column: str | None) -> list[str]:
    """Posts from a file, or from standard input when ``path`` is ``-``; at least one."""
    posts = _read(path, text_column)
    if not posts:
        raise DynahateError(f"{STDIN_NAME if str(path) == STDIN else path}: holds no posts")
    return posts


def _read(path: Path, text_column: str | None) -> list[str]:
    from dynahate.core.text_files import refuse_special_file

    if str(path) == STDIN:
        return _line_posts(sys.stdin.buffer, STDIN_NAME)
    if path.is_dir():
        raise DynahateError(f"{path}: is a directory; pass a .txt, .csv or .jsonl file (or - for standard input)")
    refuse_special_file(path, "pass a .txt, .csv or .jsonl file, or - for standard input")
    if not path.is_file():
        raise DynahateError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix == ".txt":
        with path.open("rb") as handle:
            return _line_posts(handle, str(path))
    if suffix == ".csv":
        return _csv_posts(path, text_column)
    if suffix == ".jsonl":
        return _jsonl_posts(path, text_column)
    raise DynahateError(f"{path}: unsupported input type {suffix!r}; use .txt, .csv or .jsonl "
                        "(or - for standard input)")
