"""``dynahate collect export``: a round as a CSV in Dynahate v0.2.3's own layout, its votes beside it.

The CSV has the official file's columns, in its order and with R's ``write.csv`` quoting (strings quoted, numbers
and ``NA`` bare), so that ``dynahate prepare`` and other people's Dynahate loaders read it unchanged:

- the unnamed first column: the row's number in the file; ``acl.id``: ``dhc<round>-<entry id>``, and ``X1``:
  ``<round> * 1000000 + <entry id>``, which cannot collide with the official file's ids (``acl1`` ... ``acl41255``,
  ``X1`` below 50 000);
- ``text``; ``label``: ``hate`` / ``nothate``, the validated label; ``type``: the writer's type of a hateful post,
  ``none`` for the others; ``target``: its target codes (``bla, wom``), else ``none``;
- ``level``: ``original`` or ``perturbation``; ``round``: ``<round>a`` for an original, ``<round>b`` for its
  perturbation; ``round.base``: the round's number; ``acl.id.matched``: the other half of the pair (``NA`` when the
  pair is not both in the file);
- ``split``: ``train`` / ``dev`` / ``test``, assigned to each pair (an original and its perturbation share one):
  pairs are ordered by a hash of ``--seed`` and the original's id and cut at the ``--split`` proportions, so the
  same database, round and seed give the same splits;
- ``annotator``: a pseudonym, 10 letters and digits derived from the annotator and a secret of the database, the same
  for the same annotator in every export of that database, and meaningless outside it.

By default only verified entries are exported, with their label. ``--include-unverified`` adds the others and a
last column, ``validation`` (``verified``, ``pending``, ``not queued``, ``rejected``); an entry rejected as
incorrect carries the label its validators gave.

Beside ``FILE.csv``: ``FILE.votes.jsonl``, every vote on the exported entries (the entry's ``acl.id``, the validator's
pseudonym, the verdict, the corrected label, the reason, whether an owner cast it, the time), and
``FILE.round.json``, the round's summary (:class:`dynahate.plugin.round_summary.RoundSummary`, written through that
module's checked writer, which ``dynahate publish --collected-round`` reads back): its number, the adapter it was
collected against, the rule, the rows per split, and the figures (:mod:`dynahate.collect.stats`) of the whole round
at export time. The three are written all or nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from sqlalchemy import select

from dynahate.collect.entries import Refused, find_round
from dynahate.collect.schema import REJECTED, VERIFIED, Entry, Setting, Vote
from dynahate.collect.stats import collect_figures, figures_json
from dynahate.collect.store import Store
from dynahate.core.atomic import atomic_files
from dynahate.core.errors import DynahateError
from dynahate.plugin.labels import HATE, NOT_HATE
from dynahate.plugin.round_summary import CollectedAdapter, CollectedFigures, RoundSummary
from dynahate.plugin.round_summary import summary_text as summary_text_of

COLUMNS = ("", "acl.id", "X1", "text", "label", "type", "target", "level", "split", "round.base", "annotator",
           "round", "acl.id.matched")
VALIDATION_COLUMN = "validation"
CSV_LABEL = {HATE: "hate", NOT_HATE: "nothate"}
SPLIT_NAMES = ("train", "dev", "test")
DEFAULT_SPLIT = (80, 10, 10)
X1_PER_ROUND = 1_000_000
_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class ExportOptions:
    round: str
    out: Path
    round_number: int | None = None  # None: the round's name, which must then be a number
    split: tuple[int, int, int] = DEFAULT_SPLIT
    seed: int = 42
    include_unverified: bool = False
    force: bool = False


@dataclass(frozen=True)
class ExportResult:
    csv: Path
    votes: Path
    summary: Path
    rows: int
    splits: dict[str, int]
    votes_written: int
    left_out: dict[str, int]  # status -> entries not exported


def split_proportions(text: str) -> tuple[int, int, int]:
    """``--split 80/10/10``: three whole percentages for train, dev and test that sum to 100."""
    parts = text.split("/")
    if len(parts) != 3 or not all(part.strip().isdigit() for part in parts):
        raise ValueError(f"--split {text!r}: give train/dev/test as three whole percentages, e.g. 80/10/10")
    train, dev, test = (int(part) for part in parts)
    if train + dev + test != 100:
        raise ValueError(f"--split {text!r}: the three parts sum to {train + dev + test}, not 100")
    return train, dev, test


def sidecar_paths(out: Path) -> tuple[Path, Path]:
    """``FILE.votes.jsonl`` and ``FILE.round.json`` beside ``FILE.csv``."""
    stem = out.with_suffix("") if out.suffix.lower() == ".csv" else out
    return stem.with_name(f"{stem.name}.votes.jsonl"), stem.with_name(f"{stem.name}.round.json")


def _r_field(value: object) -> str:
    """One field as R's ``write.csv`` writes it: numbers and NA bare, strings quoted with quotes doubled."""
    if value is None:
        return "NA"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return '"' + str(value).replace('"', '""') + '"'


def _r_line(values: Iterable[object]) -> str:
    return ",".join(_r_field(value) for value in values) + "\n"


def pseudonym(key: str, annotator_id: int) -> str:
    """10 letters and digits from the database's secret and the annotator: stable within a database."""
    digest = int.from_bytes(hmac.new(key.encode(), str(annotator_id).encode(), hashlib.sha256).digest(), "big")
    chars = []
    for _ in range(10):
        digest, index = divmod(digest, len(_ALPHABET))
        chars.append(_ALPHABET[index])
    return "".join(chars)


def assign_splits(keys: Sequence[int], seed: int, proportions: tuple[int, int, int]) -> dict[int, str]:
    """Each key's split: keys ordered by a hash of the seed and the key, cut at the proportions (rounded down for
    dev and test, the rest to train; a share above 0 gets at least one key when there are enough)."""
    ordered = sorted(keys, key=lambda key: hashlib.sha256(f"{seed}:{key}".encode()).hexdigest())
    n = len(ordered)
    dev = n * proportions[1] // 100
    test = n * proportions[2] // 100
    if n >= 3:
        dev, test = max(dev, 1 if proportions[1] else 0), max(test, 1 if proportions[2] else 0)
    cut = {key: SPLIT_NAMES[2] for key in ordered[:test]}
    cut.update({key: SPLIT_NAMES[1] for key in ordered[test:test + dev]})
    cut.update({key: SPLIT_NAMES[0] for key in ordered[test + dev:]})
    return cut


def _round_number(options: ExportOptions, name: str) -> int:
    if options.round_number is not None:
        return options.round_number
    if re.fullmatch(r"\d{1,6}", name):
        return int(name)
    raise DynahateError(f"round {name!r} is not a number: give the number its rows take in the CSV with "
                        "--round-number N (Dynahate used 1-4; new rounds are numbered from 8)")


def _refuse_existing(paths: Sequence[Path], force: bool) -> None:
    if force:
        return
    existing = [str(path) for path in paths if path.exists() or path.is_symlink()]
    if existing:
        raise DynahateError(f"{existing[0]} exists; pass --force to replace "
                            f"{'it' if len(existing) == 1 else 'them'} ({', '.join(existing)})")


def export_round(store: Store, options: ExportOptions) -> ExportResult:
    """Write the round's CSV, votes and summary (all or nothing); refuse a round with nothing to export."""
    votes_path, summary_path = sidecar_paths(options.out)
    _refuse_existing([options.out, votes_path, summary_path], options.force)
    if not options.out.parent.is_dir():
        raise DynahateError(f"--out: folder {options.out.parent} does not exist")
    with store.reading() as session:
        try:
            found = find_round(session, options.round)
        except Refused:
            raise DynahateError(f"--round {options.round!r}: no such round in this database "
                                "(`dynahate collect stats` lists them)") from None
        number = _round_number(options, found.name)
        key = session.scalars(select(Setting.value).where(Setting.key == "pseudonym_key")).one()
        entries = list(session.scalars(select(Entry).where(Entry.round_id == found.id).order_by(Entry.id)))
        kept = [entry for entry in entries if options.include_unverified or entry.status == VERIFIED]
        left_out: dict[str, int] = {}
        for entry in entries:
            if entry not in kept:
                left_out[entry.status] = left_out.get(entry.status, 0) + 1
        if not kept:
            verified = sum(entry.status == VERIFIED for entry in entries)
            what = "entries" if options.include_unverified else "verified entries"
            hint = "" if options.include_unverified or not entries else "; --include-unverified exports the others"
            raise DynahateError(f"round {found.name!r} has no {what} to export ({len(entries)} entries, {verified} "
                                f"verified); nothing written{hint}")
        ids = {entry.id for entry in kept}
        acl = {entry.id: f"dhc{number}-{entry.id}" for entry in kept}
        partner: dict[int, int] = {}
        for entry in kept:
            if entry.original_id is not None and entry.original_id in ids:
                partner[entry.id], partner[entry.original_id] = entry.original_id, entry.id
        pair_key = {entry.id: entry.original_id if entry.original_id is not None else entry.id for entry in kept}
        splits = assign_splits(sorted(set(pair_key.values())), options.seed, options.split)
        votes = list(session.scalars(select(Vote).where(Vote.entry_id.in_(ids)).order_by(Vote.id)))
        adapters = sorted({json.dumps({"sha256": e.adapter_sha256, "repo_id": e.adapter_repo,
                                       "commit": e.adapter_commit}, sort_keys=True) for e in entries})
        round_name, votes_needed, validate_all = found.name, found.votes_needed, found.validate_all
    figures = figures_json(collect_figures(store, options.round), only_annotator="")["rounds"][0]
    figures.pop("annotators", None)
    counts = {name: 0 for name in SPLIT_NAMES}
    for entry in kept:
        counts[splits[pair_key[entry.id]]] += 1
    round_summary = RoundSummary(
        round=round_name, round_number=number, votes_needed=votes_needed, validate_all=validate_all, seed=options.seed,
        split=list(options.split), include_unverified=options.include_unverified, rows=len(kept),
        adapters=[cast(CollectedAdapter, json.loads(text)) for text in adapters],
        figures=cast(CollectedFigures, figures), splits=counts)
    summary = summary_text_of(round_summary, summary_path)  # checked as publish reads it: refused, never written
    header = list(COLUMNS) + ([VALIDATION_COLUMN] if options.include_unverified else [])
    with atomic_files() as files:
        with files.open(options.out) as csv_file:
            csv_file.write(_r_line(header))
            for row_number, entry in enumerate(kept, start=1):
                label = entry.corrected_label if entry.status == REJECTED and entry.corrected_label else entry.label
                split = splits[pair_key[entry.id]]
                values: list[object] = [
                    str(row_number), acl[entry.id], number * X1_PER_ROUND + entry.id, entry.text, CSV_LABEL[label],
                    entry.hate_type if label == HATE and entry.hate_type else "none", entry.targets or "none",
                    "perturbation" if entry.original_id is not None else "original", split, number,
                    pseudonym(key, entry.annotator_id), f"{number}{'b' if entry.original_id is not None else 'a'}",
                    acl.get(partner[entry.id]) if entry.id in partner else None]
                if options.include_unverified:
                    values.append(entry.status)
                csv_file.write(_r_line(values))
        with files.open(votes_path) as votes_file:
            for vote in votes:
                votes_file.write(json.dumps({
                    "acl.id": acl[vote.entry_id], "validator": pseudonym(key, vote.annotator_id),
                    "verdict": vote.verdict, "corrected_label": vote.corrected_label, "reason": vote.reason,
                    "by_owner": vote.by_owner, "created_at": vote.created_at.isoformat()},
                    ensure_ascii=False, allow_nan=False) + "\n")
        with files.open(summary_path) as summary_file:
            summary_file.write(summary)
    return ExportResult(options.out, votes_path, summary_path, len(kept), counts, len(votes), left_out)


def summary_text(result: ExportResult) -> str:
    left = ", ".join(f"{count} {status}" for status, count in sorted(result.left_out.items()))
    return (f"exported {result.rows} rows ({', '.join(f'{n} {s}' for s, n in result.splits.items())}) to "
            f"{result.csv}; {result.votes_written} votes to {result.votes}; the round's summary to {result.summary}"
            + (f"; left out: {left} (--include-unverified exports them, marked)" if left else ""))
