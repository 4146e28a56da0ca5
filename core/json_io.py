"""The one JSONL reader and writer (and the one reader of whole JSON files).

Records are serialised like Python's ``json.dumps`` with default settings (ASCII escapes,
``", "`` and ``": "`` separators), one per line, ``\\n`` line ends: the format of the original
adapter's training files. Reading reports the file and line number of any malformed line or
byte that is not UTF-8; a byte-order mark before the first line is ignored.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, cast

from dynahate.core.atomic import atomic_open
from dynahate.core.errors import DynahateError
from dynahate.core.text_files import not_utf8, read_text, refuse_special_file


def dumps_line(record: Any) -> str:
    """One JSONL line (with its newline) in the original serialisation."""
    return json.dumps(record, allow_nan=False) + "\n"


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line; each must be a JSON object."""
    path = Path(path)
    if path.is_dir():
        raise DynahateError(f"{path}: is a directory, expected a JSONL file")
    refuse_special_file(path, "expected a JSONL file")
    if not path.is_file():
        raise DynahateError(f"{path}: file not found")
    try:
        with path.open(encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DynahateError(f"{path}:{number}: not valid JSON ({exc.msg} at column {exc.colno})") from None
                if not isinstance(obj, dict):
                    raise DynahateError(f"{path}:{number}: expected a JSON object, got {type(obj).__name__}")
                yield number, obj
    except UnicodeDecodeError:
        raise not_utf8(path, "JSONL file", where=lambda line: f"{path}:{line}") from None


def read_jsonl(path: str | Path, required_keys: Iterable[str] = ()) -> list[dict[str, Any]]:
    """All objects of a JSONL file; each must carry ``required_keys`` (error names the line)."""
    required = tuple(required_keys)
    records: list[dict[str, Any]] = []
    for number, obj in iter_jsonl(path):
        missing = [key for key in required if key not in obj]
        if missing:
            raise DynahateError(f"{path}:{number}: missing key(s) {', '.join(map(repr, missing))}")
        records.append(obj)
    return records


def write_jsonl(path: str | Path, records: Iterable[Any]) -> int:
    """Write records atomically in the original serialisation; return how many were written."""
    count = 0
    with atomic_open(path) as handle:
        for record in records:
            handle.write(dumps_line(record))
            count += 1
    return count


def read_json(path: str | Path, what: str) -> Any:
    """A whole JSON file; a missing, non-UTF-8 or malformed file (or a directory) is one error naming
    it, the line, and ``what`` it is."""
    path = Path(path)
    text = read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DynahateError(f"{path}: not valid JSON ({what}): {exc.msg} at line {exc.lineno}") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"a number too large for a float ({len(text)} characters)")
    return value


def loads_finite(text: str) -> Any:
    """``json.loads`` that refuses ``NaN``, ``Infinity`` and numbers too large for a float (``ValueError``, as a
    syntax error is; a ``RecursionError`` when nested too deeply): the strict records' parser."""
    return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)


def parse_strict_json(text: str, path: Path | str, what: str, *, invalid_note: str = "") -> Any:
    """``text`` (the contents of ``path``) through :func:`loads_finite`, any failure one line naming ``path``:
    ``nested too deeply to be {what}``, or ``not valid JSON (... at line N){invalid_note}``."""
    try:
        return loads_finite(text)
    except RecursionError:
        raise DynahateError(f"{path}: nested too deeply to be {what}") from None
    except ValueError as exc:
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        where = f" at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise DynahateError(f"{path}: not valid JSON ({message}{where}){invalid_note}") from None


def json_depth(value: Any, limit: int) -> int:
    """The nesting depth of a parsed JSON ``value`` (1 for a scalar), stopping past ``limit``."""
    if limit <= 0:
        return 1
    if isinstance(value, dict):
        items: Iterable[Any] = cast("dict[str, Any]", value).values()
    elif isinstance(value, list):
        items = cast("list[Any]", value)
    else:
        return 1
    return 1 + max((json_depth(item, limit - 1) for item in items), default=0)
