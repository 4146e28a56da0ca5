"""A collected round's summary, ``FILE.round.json``: its one definition, its one reader and its one writer.

``dynahate collect export --round R --out FILE.csv`` writes it beside the round's CSV (through :func:`summary_text`,
which checks it as the reader does); ``dynahate publish --collected-round FILE.round.json`` reads it (through
:func:`read_round_summary`) for the card's "Adversarial rounds" section. The file travels with the CSV, so every
value is checked when read: the file itself (a regular file of at most :data:`MAX_BYTES`, links followed; UTF-8;
nesting at most :data:`MAX_DEPTH` deep; no ``NaN`` or ``Infinity``), each known key's type and range, and the
figures against each other (a rate is its count over ``entries``, the statuses add up to ``entries``, the splits
to ``rows``). A problem is one line naming the file and the key; a text value is described, never shown.

The file is one JSON object, :class:`RoundSummary`: ``schema_version`` (:data:`SCHEMA_VERSION`; a file written
before it was recorded reads as version 1, the same layout), the round's name and number (its rows are rounds
``<number>a`` / ``<number>b`` in the CSV, :func:`dynahate.plugin.metadata.round_group` ``R<number>``), the
validation rule, the export's seed, proportions and ``rows`` per split, the adapters the round was collected
against (``adapters``: SHA-256, Hub repo and commit) and the round's figures at export time (``figures``,
:class:`CollectedFigures`, as ``dynahate collect stats --json`` gives them). Keys the reader does not know are
kept as they are; a newer ``schema_version`` is refused, saying to upgrade.

This module sits in ``plugin`` (the task's definitions) because ``collect`` writes the file and ``publish`` reads
it, and neither may import the other.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NotRequired, TypedDict, TypeGuard, cast

from dynahate.core.describe import describe_value, shown
from dynahate.core.errors import DynahateError
from dynahate.core.json_io import json_depth, parse_strict_json
from dynahate.core.text_files import read_bounded_text
from dynahate.plugin.metadata import round_group

SUFFIX = ".round.json"
SCHEMA_VERSION = 1
SCHEMA_KEY = "schema_version"
MAX_BYTES = 1024 * 1024  # a summary is about 1 KB, plus some 150 bytes per adapter the round was collected against
MAX_DEPTH = 8  # the summary nests 3 levels
MAX_ROUND_NUMBER = 999_999  # the CSV's X1 is <round> * 1 000 000 + <entry id>
SPLIT_NAMES = ("train", "dev", "test")
COUNTS = ("entries", "fooled", "verified_fooled", "waiting", "verified", "rejected", "not_queued", "vote_pairs")
STATUS_COUNTS = ("waiting", "verified", "rejected", "not_queued")  # every entry has one of these statuses
RATES = {"model_error_rate": "fooled", "verified_model_error_rate": "verified_fooled"}  # rate -> its count
RATE_TOLERANCE = 1e-12
_ROUND_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # collect's round names (collect/tokens.py)
_HEX = {40: re.compile(r"[0-9a-f]{40}"), 64: re.compile(r"[0-9a-f]{64}")}
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}")
WHAT = "a collected round's summary, `dynahate collect export`'s FILE.round.json"


class CollectedAdapter(TypedDict):
    """One adapter a round's entries were answered by: its SHA-256, and its Hub repo and commit when served from
    the Hub (null for a local run)."""

    sha256: str
    repo_id: str | None
    commit: str | None


class CollectedFigures(TypedDict):
    """The round's figures at export time, over every entry written in it (:mod:`dynahate.collect.stats`)."""

    round: str
    votes_needed: int
    validate_all: bool
    entries: int
    fooled: int
    verified_fooled: int
    waiting: int
    verified: int
    rejected: int
    not_queued: int
    model_error_rate: float | None  # fooled / entries; null with no entries
    verified_model_error_rate: float | None  # verified_fooled / entries
    vote_pairs: int
    agreement: float | None  # null with no pair of votes


class RoundSummary(TypedDict):
    """``FILE.round.json``: what ``dynahate collect export`` wrote and the round's figures when it did."""

    schema_version: NotRequired[int]
    round: str
    round_number: int
    votes_needed: int
    validate_all: bool
    seed: int
    split: list[int]  # train / dev / test percentages
    include_unverified: bool
    rows: int  # rows in the CSV
    adapters: list[CollectedAdapter]
    figures: CollectedFigures
    splits: dict[str, int]  # train / dev / test -> rows


@dataclass(frozen=True)
class CollectedRound:
    """A read ``FILE.round.json``, checked."""

    path: Path
    summary: RoundSummary

    @property
    def group(self) -> str:
        """The round's name in ``eval_results.json``'s ``round_group`` breakdown: ``R<number>``."""
        return round_group(str(self.summary["round_number"]))


# ---- checking values ------------------------------------------------------------------------------------------


class _Problem(Exception):
    """What is wrong, said of the key where it was found."""


def _describe(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return f"the string {shown(value)}" if shown(value) else describe_value(value)
    return f"a JSON {'array' if isinstance(value, list) else 'object'}"


def _is_object(value: Any) -> TypeGuard[dict[str, Any]]:
    return isinstance(value, dict)


def _is_list(value: Any) -> TypeGuard[list[Any]]:
    return isinstance(value, list)


def _fail(key: str, value: Any, expected: str) -> _Problem:
    return _Problem(f"{key} is {_describe(value)}, expected {expected}")


def _has(data: dict[str, Any], key: str, where: str = "") -> Any:
    if key not in data:
        raise _Problem(f"has no {where}{key!r}")
    return data[key]


def _count(value: Any, key: str, *, low: int = 0, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        raise _fail(key, value, f"an integer >= {low}" + (f" and <= {high}" if high is not None else ""))
    return value


def _flag(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(key, value, "true or false")
    return value


def _fraction(value: Any, key: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 <= value <= 1:
        raise _fail(key, value, "a number in [0, 1] or null")
    return float(value)


def _hex(value: Any, key: str, length: int, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not _HEX[length].fullmatch(value):
        raise _fail(key, value, f"{length} lowercase hex digits" + (" or null" if optional else ""))
    return value


def _adapters(value: Any) -> None:
    if not _is_list(value) or not value:
        raise _fail("adapters", value, "a non-empty list of the adapters the round was collected against")
    for index, entry in enumerate(value):
        where = f"adapters[{index}]"
        if not _is_object(entry):
            raise _fail(where, entry, "an object (sha256, repo_id, commit)")
        _hex(_has(entry, "sha256", f"{where}."), f"{where}.sha256", 64)
        repo_id = _has(entry, "repo_id", f"{where}.")
        if repo_id is not None and not (isinstance(repo_id, str) and _REPO_ID.fullmatch(repo_id)):
            raise _fail(f"{where}.repo_id", repo_id, "a Hub repo id USER/NAME or null")
        _hex(_has(entry, "commit", f"{where}."), f"{where}.commit", 40, optional=True)


def _figures(value: Any, summary: dict[str, Any]) -> None:
    if not _is_object(value):
        raise _fail("figures", value, "an object of the round's figures")
    counts = {key: _count(_has(value, key, "figures."), f"figures.{key}") for key in COUNTS}
    entries = counts["entries"]
    if counts["fooled"] > entries:
        raise _Problem(f"figures.fooled is {counts['fooled']}, more than figures.entries ({entries})")
    if counts["verified_fooled"] > min(counts["fooled"], counts["verified"]):
        raise _Problem(f"figures.verified_fooled is {counts['verified_fooled']}, more than figures.fooled "
                       f"({counts['fooled']}) or figures.verified ({counts['verified']})")
    settled = sum(counts[key] for key in STATUS_COUNTS)
    if settled != entries:
        raise _Problem(f"figures.waiting, verified, rejected and not_queued add up to {settled}, not "
                       f"figures.entries ({entries})")
    for rate, count in RATES.items():
        found = _fraction(_has(value, rate, "figures."), f"figures.{rate}")
        expected = counts[count] / entries if entries else None
        if (found is None) != (expected is None) or (
                found is not None and expected is not None and abs(found - expected) > RATE_TOLERANCE):
            raise _Problem(f"figures.{rate} is {_describe(found)}, expected figures.{count} / figures.entries "
                           f"({counts[count]} / {entries})")
    agreement = _fraction(_has(value, "agreement", "figures."), "figures.agreement")
    if (agreement is None) != (counts["vote_pairs"] == 0):
        raise _Problem(f"figures.agreement is {_describe(agreement)} with {counts['vote_pairs']} vote pairs, expected "
                       "a number with pairs and null without")
    for key in ("round", "votes_needed", "validate_all"):
        if key in value and (type(value[key]) is not type(summary[key]) or value[key] != summary[key]):
            raise _Problem(f"figures.{key} is {_describe(value[key])}, not the round's {key} "
                           f"({_describe(summary[key])})")
    if summary["rows"] > entries:
        raise _Problem(f"rows is {summary['rows']}, more than the round's figures.entries ({entries})")


def check_summary(data: Any) -> RoundSummary:
    """``data`` as a :class:`RoundSummary`, every known key checked (raises :class:`_Problem`)."""
    if not _is_object(data):
        raise _Problem(f"{_describe(data)}, expected an object")
    name = _has(data, "round")
    if not isinstance(name, str) or not _ROUND_NAME.fullmatch(name):
        raise _fail("round", name, "a round name (letters, digits, '.', '_', '-'; at most 64)")
    _count(_has(data, "round_number"), "round_number", low=1, high=MAX_ROUND_NUMBER)
    _count(_has(data, "votes_needed"), "votes_needed", low=1)
    _flag(_has(data, "validate_all"), "validate_all")
    seed = _has(data, "seed")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise _fail("seed", seed, "an integer")
    split = _has(data, "split")
    if not _is_list(split) or len(split) != 3:
        raise _fail("split", split, "[train, dev, test] percentages")
    parts = [_count(part, f"split[{index}]", high=100) for index, part in enumerate(split)]
    if sum(parts) != 100:
        raise _Problem(f"split adds up to {sum(parts)}, not 100")
    _flag(_has(data, "include_unverified"), "include_unverified")
    rows = _count(_has(data, "rows"), "rows", low=1)
    splits = _has(data, "splits")
    if not _is_object(splits) or set(splits) != set(SPLIT_NAMES):
        raise _fail("splits", splits, "an object of rows per split: " + ", ".join(SPLIT_NAMES))
    per_split = {key: _count(splits[key], f"splits.{key}") for key in SPLIT_NAMES}
    if sum(per_split.values()) != rows:
        raise _Problem(f"splits add up to {sum(per_split.values())}, not rows ({rows})")
    _adapters(_has(data, "adapters"))
    _figures(_has(data, "figures"), data)
    return cast(RoundSummary, data)


# ---- reading and writing the file -----------------------------------------------------------------------------


def parse_summary(text: str, path: Path | str) -> RoundSummary:
    """The summary in ``text`` (the contents of ``path``), checked; one line naming ``path`` and the key."""
    data = parse_strict_json(text, path, WHAT, invalid_note=f"; expected {WHAT}")
    if _is_object(data) and json_depth(data, MAX_DEPTH + 1) > MAX_DEPTH:
        raise DynahateError(f"{path}: nested more than {MAX_DEPTH} levels deep: not {WHAT}")
    if _is_object(data):
        version = data.get(SCHEMA_KEY, SCHEMA_VERSION)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise DynahateError(f"{path}: {SCHEMA_KEY} is {_describe(version)}, expected a whole number >= 1 "
                                f"({WHAT})")
        if version > SCHEMA_VERSION:
            raise DynahateError(f"{path}: written by a newer dynahate (round summary version {version}; this one reads "
                                f"up to {SCHEMA_VERSION}): upgrade dynahate-qlora to read it")
    try:
        return check_summary(data)
    except _Problem as problem:
        raise DynahateError(f"{path}: {problem} ({WHAT})") from None


def read_round_summary(path: str | Path) -> CollectedRound:
    """Read and check ``FILE.round.json`` at ``path``: a regular file (links followed) of at most :data:`MAX_BYTES`,
    UTF-8, valid JSON without ``NaN``/``Infinity``, at most :data:`MAX_DEPTH` levels, and every known key of the
    right type, range and agreement with the others. One line naming the file (and the key) on any problem."""
    path = Path(path)
    text = read_bounded_text(path, max_bytes=MAX_BYTES, what=WHAT, holder="a round's summary")
    return CollectedRound(path, parse_summary(text, path))


def summary_text(summary: RoundSummary, path: Path | str = SUFFIX) -> str:
    """The text of ``FILE.round.json`` holding ``summary``, with :data:`SCHEMA_VERSION`: checked as the reader
    checks it (a writer's bug is refused, never written); ``NaN`` and ``Infinity`` are refused."""
    data: dict[str, Any] = {SCHEMA_KEY: SCHEMA_VERSION, **{k: v for k, v in summary.items() if k != SCHEMA_KEY}}
    try:
        check_summary(data)
    except _Problem as problem:
        raise DynahateError(f"{path}: {problem}; not written (a bug: please report it)") from None
    return json.dumps(data, indent=2, allow_nan=False) + "\n"
