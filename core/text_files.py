"""Reading users' text files (CSV, JSONL, plain text) without ever quoting a post.

How a value is named in a message without showing it lives in :mod:`dynahate.core.describe`.

- Text is UTF-8; a byte-order mark before the first line is ignored. A byte that is not UTF-8 is
  reported with the line (and byte column) it is on, not a byte offset in some buffer.
- CSV records are read strictly (a quote that is never closed is an error, not a field that
  swallows the rest of the file) and each comes with the line it starts on.
- A file read line by line (a ``.txt`` of posts, standard input) is read through :func:`bounded_lines`:
  a line may hold at most as many characters as a CSV field (``csv.field_size_limit()``, 131,072), so
  ``/dev/zero`` on standard input is one error, not a MemoryError.
- A path that is neither a file nor a folder (a FIFO, a device, a socket) is named for what it is
  (:func:`refuse_special_file`), found with ``stat`` before anything opens it: opening a FIFO blocks.
- A whole file that one of our readers parses (an evaluation record, a round's summary) is read through
  :func:`read_bounded_text`: a regular file of at most so many bytes, never read past that bound.
"""

from __future__ import annotations

import csv
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from dynahate.core.errors import DynahateError

BOM = "\ufeff"
_SPECIAL_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                  (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def special_file_kind(path: Path) -> str | None:
    """What ``path`` is when it exists and is neither a regular file nor a directory (links followed), else None;
    from ``stat`` alone, never opening it (opening a FIFO blocks until a writer comes)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return next((kind for test, kind in _SPECIAL_KINDS if test(mode)), "not a file or a directory")


def refuse_special_file(path: Path, what: str) -> None:
    """One error naming ``path`` and what it is when it is a FIFO, a device or a socket (``what``: what was
    expected)."""
    kind = special_file_kind(path)
    if kind:
        raise DynahateError(f"{path}: is {kind}, not a regular file ({what})")


def first_bad_utf8(path: Path) -> tuple[int, int, str] | None:
    """``(line, byte column, reason)`` of the first byte sequence in ``path`` that is not UTF-8."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return number, exc.start + 1, exc.reason
    return None


def not_utf8(path: Path, what: str = "text file", where: Callable[[int], str] | None = None) -> DynahateError:
    """The one-line error for a file that is not UTF-8, naming the line of its first bad byte
    (``where(line)`` formats the location; default ``PATH: line N``)."""
    located = first_bad_utf8(path)
    if located is None:  # the decoder and the line scan disagree: should not happen
        return DynahateError(f"{path}: not a UTF-8 {what}")
    line, column, reason = located
    location = where(line) if where else f"{path}: line {line}"
    return DynahateError(f"{location}: not a UTF-8 {what} ({reason} at byte {column} of the line); "
                         "save it as UTF-8")


def read_text(path: str | Path, what: str) -> str:
    """A whole UTF-8 file as text; a missing file, a directory or a bad byte is one error naming it."""
    path = Path(path)
    refuse_special_file(path, what)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DynahateError(f"{path}: not found ({what})") from None
    except IsADirectoryError:
        raise DynahateError(f"{path}: is a directory, expected a file ({what})") from None
    except OSError as exc:
        raise DynahateError(f"{path}: cannot read ({what}): {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DynahateError(f"{path}: line {line}: not UTF-8 text ({what}): {exc.reason} at byte {column} "
                            "of the line") from None


def read_bounded_text(path: str | Path, *, max_bytes: int, what: str, holder: str) -> str:
    """A whole UTF-8 file of at most ``max_bytes`` that one of our readers parses (an evaluation record, a round's
    summary): a regular file, links followed, found with ``stat`` before anything opens it (a FIFO or ``/dev/zero``
    is refused, not read), and never more than ``max_bytes + 1`` bytes read, should it grow meanwhile. ``what``
    names the file's kind in each message; ``holder`` says what would not hold that much (``"a round's summary"``)."""
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise DynahateError(f"{path}: not found ({what})") from None
    except OSError as exc:
        raise DynahateError(f"{path}: cannot read ({what}): {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file (a device, pipe or socket)"
        raise DynahateError(f"{path}: {kind}, expected {what}")
    if info.st_size > max_bytes:
        raise DynahateError(f"{path}: {info.st_size} bytes, more than {holder} holds ({max_bytes} at most)")
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise DynahateError(f"{path}: cannot read ({what}): {exc.strerror}") from None
    if len(data) > max_bytes:
        raise DynahateError(f"{path}: more than {max_bytes} bytes, more than {holder} holds")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DynahateError(f"{path}: not UTF-8 text ({what}): {exc.reason} at byte {exc.start}") from None


def bounded_lines(handle: BinaryIO, where: str) -> Iterator[bytes]:
    """The binary lines of ``handle``; a line of more characters than a CSV field may hold is an error naming
    ``where`` and the line, found having read at most 4 bytes (UTF-8's longest character) per character allowed."""
    limit = csv.field_size_limit()
    number = 0
    while raw := handle.readline(4 * limit + 1):
        number += 1
        if len(raw) > limit and len(raw.rstrip(b"\r\n").decode("utf-8", errors="replace")) > limit:
            raise DynahateError(f"{where}:{number}: a line longer than {limit:,} characters, the most a post may "
                                "hold here (as a CSV field); give one post per line")
        yield raw


def decode_lines(raw_lines: Iterable[bytes], where: str) -> Iterator[tuple[int, str]]:
    """``(line number, text without its line end)`` from binary lines; a leading BOM is dropped and a
    line that is not UTF-8 is an error naming ``where`` and the line."""
    for number, raw in enumerate(raw_lines, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DynahateError(f"{where}:{number}: not UTF-8 text ({exc.reason} at byte {exc.start + 1} "
                                "of the line); save it as UTF-8") from None
        if number == 1 and line.startswith(BOM):
            line = line[1:]
        yield number, line.rstrip("\n").removesuffix("\r")


def csv_records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """``(line the record starts on, fields)`` for each CSV record, the header first; blank lines
    give empty field lists. Strict parsing; bad bytes and broken quoting name the line."""
    start = 1
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, strict=True)
            for fields in reader:
                yield start, fields
                start = reader.line_num + 1
    except UnicodeDecodeError:
        raise not_utf8(path, "CSV file") from None
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise DynahateError(f"{path}: line {start}: a field is longer than {csv.field_size_limit():,} "
                                "characters, the most a CSV field may hold here (a post that long exceeds any "
                                "prompt limit)") from None
        hint = ""
        if "unexpected end of data" in str(exc):
            hint = "; a quote opened in this record is never closed"
        elif "expected after" in str(exc):
            hint = "; a quote in this record is unbalanced (a quote inside a quoted field is written twice)"
        raise DynahateError(f"{path}: line {start}: not a valid CSV record ({exc}{hint})") from None
