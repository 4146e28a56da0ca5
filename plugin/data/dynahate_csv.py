"""Read and validate the official Dynahate CSV (v0.2.3 or v0.2.2).

The file is R's ``write.csv`` output: a leading unnamed row-number column, quoted strings,
``NA`` for missing values. Only ``acl.id.matched`` uses ``NA`` as missing; in ``text`` the
string ``NA`` (or ``null``, ``None``, ``nan``) is a post like any other and is kept verbatim.
Every problem is reported with the file, the line the record starts on and its ``acl.id``,
never with the post: a field value is quoted only when it is a short token
(:func:`dynahate.core.describe.shown`), so a swapped column or a file without its header row
does not print posts. A header must name ``text``, ``label`` and ``split``, each column once; the
metadata columns (``acl.id``, ``round``, ...) may be missing (listed in ``missing_metadata_columns``),
and other columns (R's row numbers, ``X1``, ``annotator``) are not read. A column named like one that is
read but spelled otherwise (``Round``, ``acl_id``, ``text `` with a space) is refused, naming both: its
values would be left out without a word. A metadata value must be a code (:mod:`dynahate.plugin.metadata`):
it reaches published files.
Each ``acl.id`` names one row (two rows with one id are refused, naming both lines and the id, even
with ``skip_invalid``), and a row's ``acl.id.matched`` may not name the row itself (a bad row, "matched
to itself": a perturbation pair is two rows).
"""

from __future__ import annotations

import re
from typing import cast
from dataclasses import dataclass, field
from pathlib import Path

from dynahate.core.errors import DynahateError
from dynahate.core.text_files import csv_records, refuse_special_file
from dynahate.core.describe import describe_value, duplicated, shown
from dynahate.plugin.labels import CSV_LABELS
from dynahate.plugin.metadata import first_metadata_problem
from dynahate.plugin.splits import SPLITS

REQUIRED_COLUMNS = ("text", "label", "split")
METADATA_COLUMNS = ("acl.id", "round", "round.base", "type", "target", "level", "acl.id.matched")
MISSING = "NA"  # R's missing value, meaningful only in columns listed in NULLABLE_COLUMNS
NULLABLE_COLUMNS = frozenset({"acl.id.matched"})


@dataclass(frozen=True)
class CsvRow:
    """One valid record: the post verbatim, its CSV label and split, and its metadata."""

    line: int
    text: str
    label: str
    split: str
    meta: dict[str, str | None] = field(default_factory=dict)
    file: str | None = None  # the CSV it came from, when several are prepared together (None: the only one)

    @property
    def acl_id(self) -> str | None:
        return self.meta.get("acl.id")


@dataclass(frozen=True)
class SkippedRow:
    """A record left out (only with ``skip_invalid``), with the reason."""

    line: int
    acl_id: str | None
    kind: str
    reason: str


@dataclass
class CsvContents:
    rows: list[CsvRow]
    skipped: list[SkippedRow]
    missing_metadata_columns: list[str]


def _spelling(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def misspelled_columns(header: list[str]) -> list[tuple[str, str]]:
    """(name in the header, the column it stands for) for each column named like one that is read (``text``,
    ``label``, ``split`` and the metadata) but spelled otherwise (case, ``_`` for ``.``, spaces), when the column
    itself is absent: ``Round`` for ``round``, ``acl_id`` for ``acl.id``."""
    read = {_spelling(column): column for column in (*REQUIRED_COLUMNS, *METADATA_COLUMNS)}
    return [(name, read[_spelling(name)]) for name in header
            if name not in read.values() and read.get(_spelling(name)) not in (None, *header)]


def _header_problem(path: Path, header: list[str]) -> str | None:
    """Why ``header`` is not a Dynahate header (one line naming the file and the columns), or None."""
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    variants = misspelled_columns(header)
    # a variant's letters and digits are the column's own: it is shown (spaces and punctuation are no post)
    spelled = "; ".join(f"{name!r} is not {column!r}" if len(name) <= 40 else f"{describe_value(name)} is not "
                        f"{column!r}" for name, column in variants)
    if missing:  # the header is not quoted: in a file without its header row it is the first post
        if variants:
            return (f"{path}: line 1: missing column(s) {', '.join(map(repr, missing))} in the header: {spelled} "
                    "(column names are spelled exactly as in the official Dynahate CSV)")
        return (f"{path}: line 1: missing column(s) {', '.join(map(repr, missing))} in the header "
                f"({len(header)} fields); is this the Dynahate CSV, with its header row?")
    if variants:
        return (f"{path}: line 1: column(s) named like Dynahate's but spelled otherwise: {spelled}; rename them as "
                "the official Dynahate CSV spells them (their values would be left out)")
    repeated = duplicated(header)
    if repeated:
        return (f"{path}: line 1: column name(s) {', '.join(map(repr, repeated))} occur more than once in the "
                "header; each column must be named once")
    return None


def _where(path: Path, line: int, acl_id: str | None) -> str:
    suffix = f" (acl.id {acl_id})" if shown(acl_id) else ""
    return f"{path}: line {line}{suffix}"


def _bad_value(column: str, value: str | None, allowed: tuple[str, ...]) -> str:
    choices = ", ".join(map(repr, allowed))
    if value == "":
        return f"{column} is empty; it must be one of {choices}"
    if shown(value):
        return f"{column} {shown(value)} is not one of {choices}"
    return f"{column} is not one of {choices} (got {describe_value(value)})"


def _row_problem(record: dict[str, str | None], n_fields: int, n_header: int) -> tuple[str, str] | None:
    """(kind, message) for a bad row, None for a good one; the message never holds the post."""
    if n_fields != n_header:
        return "wrong field count", f"has {n_fields} fields, the header has {n_header}"
    label, split, text = record["label"], record["split"], record["text"]
    if label not in CSV_LABELS:
        return "unknown label", _bad_value("label", label, tuple(CSV_LABELS))
    if split not in SPLITS:
        return "unknown split", _bad_value("split", split, SPLITS)
    if text == "":
        return "empty text", "text is empty"
    meta = _metadata(record)
    problem = first_metadata_problem(meta)
    if problem:
        return "bad metadata", problem
    if meta.get("acl.id") and meta.get("acl.id.matched") == meta.get("acl.id"):
        return "matched to itself", (f"acl.id.matched names the row's own acl.id {shown(meta['acl.id'])}; a "
                                     "perturbation pair is two rows (NA when the row has none)")
    return None


def _metadata(record: dict[str, str | None]) -> dict[str, str | None]:
    return {c: (None if c in NULLABLE_COLUMNS and record.get(c) == MISSING else record.get(c)) for c in METADATA_COLUMNS}


def read_dynahate_csv(path: str | Path, *, skip_invalid: bool = False) -> CsvContents:
    """Parse and validate the CSV; raise :class:`DynahateError` on the first bad row.

    With ``skip_invalid`` a bad row is recorded in ``skipped`` instead (with its reason); a
    bad header is always an error.
    """
    path = Path(path)
    if path.is_dir():
        raise DynahateError(f"{path}: is a directory; pass the Dynahate CSV file")
    refuse_special_file(path, "pass the Dynahate CSV file")
    if not path.is_file():
        raise DynahateError(f"{path}: file not found (pass the official Dynahate CSV, or use --download)")
    records = csv_records(path)
    try:
        _, header = next(records)
    except StopIteration:
        raise DynahateError(f"{path}: empty file, expected the Dynahate CSV header") from None
    problem = _header_problem(path, header)
    if problem:
        raise DynahateError(problem)
    index = {name: position for position, name in enumerate(header) if name}
    wanted = [c for c in (*REQUIRED_COLUMNS, *METADATA_COLUMNS) if c in index]
    missing_metadata = [c for c in METADATA_COLUMNS if c not in index]

    rows: list[CsvRow] = []
    skipped: list[SkippedRow] = []
    line_of_id: dict[str, int] = {}  # acl.id -> the line of the row kept with it
    for line, fields in records:
        if not fields:  # a blank line between records
            continue
        record = {c: (fields[index[c]] if index[c] < len(fields) else None) for c in wanted}
        acl_id = record.get("acl.id")
        problem = _row_problem(record, len(fields), len(header))
        if problem:
            kind, message = problem
            if not skip_invalid:
                raise DynahateError(f"{_where(path, line, acl_id)}: {message} (use --skip-invalid to leave such rows out)")
            skipped.append(SkippedRow(line, acl_id if shown(acl_id) else None, kind, message))
            continue
        if acl_id and acl_id in line_of_id:
            raise DynahateError(f"{path}: lines {line_of_id[acl_id]} and {line}: acl.id {shown(acl_id)} names two rows; "
                                "each row needs its own acl.id (--skip-invalid does not choose one)")
        if acl_id:
            line_of_id[acl_id] = line
        # _row_problem found text, label and split present
        rows.append(CsvRow(line, cast(str, record["text"]), cast(str, record["label"]), cast(str, record["split"]),
                           _metadata(record)))
    if not rows and not skipped:
        raise DynahateError(f"{path}: the CSV has a header but no rows")
    return CsvContents(rows, skipped, missing_metadata)
