"""``prepare``: the official Dynahate CSV to LLaMA-Factory alpaca JSONL, metadata and a report.

For each split ``S`` of :data:`~dynahate.plugin.splits.SPLITS` (train, dev, test) it writes, all or nothing:

- ``dynahate_S.jsonl``: records ``{"instruction", "input", "output", "system"}`` in CSV order,
  serialised like ``json.dumps`` (the original adapter's training files, byte for byte);
- ``dynahate_S.meta.jsonl``: one line per record, same order: the CSV line, the metadata
  columns and ``input_sha1`` (SHA-1 of the post) so that the eval module can join them safely;

and ``prepare_report.json`` with counts per split, label and round, every skipped row and why
(by line and ``acl.id``, never by text), the leakage audit, how many posts per split spell a Llama 3
special token such as ``<|eot_id|>`` (``special_token_spellings``) and, with a tokenizer, the prompt
lengths in tokens per split (:mod:`dynahate.plugin.data.prompt_lengths`).

Several CSVs (the release and a collected round, ``--csv A --csv B``) make one set of splits, in the
order given: each row goes to its own file's ``split``, an ``acl.id`` names one row across all of them
(a collision is refused naming both files, lines and the id), the audit compares texts across files,
and the report gives each file's blob id, release and counts per split, label and round
(``source.files``), each metadata line and skipped row its file (``csv``). The set's own
``source.git_blob_sha1`` and ``version`` are null: only the release file alone is the release, which is
what ``dynahate eval`` and ``dynahate publish`` read there. One file's outputs are as they always were.

The output paths are checked before the CSV is read: ``out_dir`` must be (or become) a directory
that can be written (tried by :func:`dynahate.core.output_paths.check_output_dir`), and no output may be the CSV
itself. A write that fails later (disk full, a signal) removes every temporary file and changes no output.
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from dynahate.plugin.data import audit
from dynahate.core.atomic import atomic_files
from dynahate.core.describe import shown, text_sha1
from dynahate.plugin.data.download import git_blob_sha1, known_version
from dynahate.plugin.data.dynahate_csv import CsvContents, CsvRow, read_dynahate_csv
from dynahate.core.errors import DynahateError
from dynahate.core.json_io import dumps_line
from dynahate.core.output_paths import check_output_dir
from dynahate.plugin.labels import LABELS, label_from_csv
from dynahate.plugin.post_rule import DEFAULT_CUTOFF_LEN
from dynahate.plugin.data.prompt_lengths import LengthTokenizer, load_length_tokenizer, prompt_length_report
from dynahate.plugin.prompts import make_record, special_token_spellings
from dynahate.plugin.splits import SPLITS, data_file, meta_file

REPORT_NAME = "prepare_report.json"


def normalize_text(text: str) -> str:
    """The opt-in normalization (``--normalize-text``): Unicode NFC and surrounding whitespace."""
    return unicodedata.normalize("NFC", text).strip()


@dataclass
class PrepareResult:
    report: dict[str, Any]
    files: dict[str, Path]


def _split_counts(rows: list[CsvRow]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for split in SPLITS:
        in_split = [r for r in rows if r.split == split]
        labels = Counter(label_from_csv(r.label) for r in in_split)
        rounds: dict[str, Counter] = defaultdict(Counter)
        for r in in_split:
            rounds[str(r.meta.get("round"))][label_from_csv(r.label)] += 1
        out[split] = {
            "rows": len(in_split),
            "labels": {label: labels[label] for label in LABELS},
            "rounds": {name: dict(counts) for name, counts in sorted(rounds.items())},
        }
    return out


def _special_token_spellings(posts: dict[str, list[str]]) -> dict[str, Any]:
    """How many posts per split spell a Llama 3 special token: training parses it as the control token (as
    LLaMA-Factory encodes the prompt), ``eval``, ``predict`` and ``serve`` read it as text."""
    pattern = special_token_spellings()
    return {"posts": {split: sum(1 for text in texts if pattern.search(text)) for split, texts in posts.items()},
            "training": "LLaMA-Factory encodes them as control tokens",
            "inference": "dynahate encodes a post as plain text"}


def output_paths(out_dir: Path) -> dict[str, Path]:
    """Every file ``prepare`` writes into ``out_dir``, keyed like :attr:`PrepareResult.files`."""
    files: dict[str, Path] = {}
    for split in SPLITS:
        files[split] = data_file(out_dir, split)
        files[f"{split}.meta"] = meta_file(files[split])
    files["report"] = out_dir / REPORT_NAME
    return files


def check_outputs(csv_paths: Path | Sequence[Path], out_dir: Path) -> None:
    """Refuse, before anything is read, an ``out_dir`` that cannot hold the outputs or would overwrite a CSV."""
    csv_paths = [csv_paths] if isinstance(csv_paths, Path) else list(csv_paths)
    if out_dir.exists() and not out_dir.is_dir():
        raise DynahateError(f"--out {out_dir}: exists and is not a directory; pass a directory for the JSONL files")
    existing = out_dir
    while not existing.exists():  # the nearest existing folder is where the new ones would be made
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise DynahateError(f"--out {out_dir}: cannot be created, {existing} is a file, not a directory")
    if existing.exists() and not os.access(existing, os.W_OK | os.X_OK):
        raise DynahateError(f"--out {out_dir}: {existing} is not writable")
    check_output_dir(out_dir, "--out")  # tried, not read from the mode: /proc, a read-only mount
    for target in output_paths(out_dir).values():
        for csv_path in csv_paths:
            if target.exists() and csv_path.exists() and os.path.samefile(target, csv_path):
                raise DynahateError(f"--out {out_dir}: would overwrite the input CSV {csv_path} with {target.name}")
        if target.exists() and not target.is_file():
            raise DynahateError(f"{target}: exists and is not a regular file; move it or choose another --out")


@dataclass
class SourceFile:
    """One CSV read: its path, its valid and skipped rows, and its git blob id."""

    path: Path
    contents: CsvContents
    blob: str


def _refuse_a_file_given_twice(csv_paths: list[Path]) -> None:
    for i, path in enumerate(csv_paths):
        for earlier in csv_paths[:i]:
            if path.exists() and earlier.exists() and os.path.samefile(path, earlier):
                raise DynahateError(f"{path}: given twice as --csv (the same file as {earlier}); pass each CSV once")


def _refuse_ids_across_files(sources: list[SourceFile]) -> None:
    """One ``acl.id`` per row across every file (each file's own ids were checked as it was read)."""
    first: dict[str, tuple[Path, int]] = {}
    for source in sources:
        for row in source.contents.rows:
            if not row.acl_id:
                continue
            if row.acl_id in first:
                path, line = first[row.acl_id]
                raise DynahateError(
                    f"{path}: line {line} and {source.path}: line {row.line}: acl.id {shown(row.acl_id)} names two "
                    "rows; each row needs its own acl.id across the --csv files (--skip-invalid does not choose one)")
            first[row.acl_id] = (source.path, row.line)


def read_sources(csv_paths: list[Path], *, skip_invalid: bool = False) -> list[SourceFile]:
    """Read and check each CSV in turn, then the ids across them; with several files, each row names its file."""
    _refuse_a_file_given_twice(csv_paths)
    sources = []
    for path in csv_paths:
        contents = read_dynahate_csv(path, skip_invalid=skip_invalid)
        if len(csv_paths) > 1:
            contents.rows = [replace(row, file=str(path)) for row in contents.rows]
        sources.append(SourceFile(path, contents, git_blob_sha1(path)))
    _refuse_ids_across_files(sources)
    return sources


def prepare(csv_paths: str | Path | Sequence[str | Path], out_dir: str | Path, *, skip_invalid: bool = False,
            normalize: bool = False, tokenizer: str | None = None,
            cutoff_len: int = DEFAULT_CUTOFF_LEN) -> PrepareResult:
    """Read, validate and write every output; nothing is written if anything fails.

    Args:
        csv_paths: The official Dynahate CSV (v0.2.3 or v0.2.2), or several Dynahate CSVs (the release and a
            collected round) prepared as one set of splits: each row goes to its own file's ``split``, an
            ``acl.id`` may name one row across all of them, and the report counts rows per file and round.
        out_dir: Where the JSONL files, their metadata and ``prepare_report.json`` go (created).
        skip_invalid: Leave bad rows out and list them in the report, instead of stopping at the first.
        normalize: Unicode NFC and strip surrounding whitespace of each post (off: posts verbatim).
        tokenizer: Measure every prompt in tokens with this tokenizer (``prompt_tokens`` in the report):
            ``llama31-offline``, a tokenizer folder or Hub name; None or ``none``: no measurement. It is
            loaded after the CSV has been read and checked, so a bad row is reported first.
        cutoff_len: The training ``cutoff_len`` the report counts longer prompts against.

    Returns:
        The report (also written as ``prepare_report.json``) and the paths written.

    Raises:
        DynahateError: A bad path, row or value (one line naming the file, line and ``acl.id``).
    """
    paths = [Path(csv_paths)] if isinstance(csv_paths, str | Path) else [Path(path) for path in csv_paths]
    if not paths:
        raise DynahateError("no CSV to prepare: pass the Dynahate CSV (--csv PATH)")
    out_dir = Path(out_dir)
    check_outputs(paths, out_dir)
    sources = read_sources(paths, skip_invalid=skip_invalid)
    files = output_paths(out_dir)
    lengths = (load_length_tokenizer(tokenizer) if tokenizer else None, cutoff_len)
    try:
        return _write(sources, files, normalize, lengths)
    except OSError as exc:  # disk full, permissions, a folder that vanished: nothing was replaced
        where = exc.filename or out_dir
        raise DynahateError(f"{where}: cannot write the prepared files ({exc.strerror or exc}); nothing was changed"
                            ) from None


def _source_report(sources: list[SourceFile]) -> dict[str, Any]:
    """``source``: the CSV, its blob id and release (``version``); for several files, each of them (``files``)
    with its rows per split, label and round, and no blob id or release for the set: one is only the release
    when it is the release file alone."""
    def one(source: SourceFile) -> dict[str, Any]:
        return {
            "path": str(source.path),
            "git_blob_sha1": source.blob,
            "version": known_version(source.blob),
            "rows_read": len(source.contents.rows) + len(source.contents.skipped),
            "missing_metadata_columns": source.contents.missing_metadata_columns,
        }

    if len(sources) == 1:
        return one(sources[0])
    return {
        "git_blob_sha1": None,
        "version": None,
        "rows_read": sum(len(s.contents.rows) + len(s.contents.skipped) for s in sources),
        "files": [{**one(source), "skipped": len(source.contents.skipped), "splits": _split_counts(source.contents.rows)}
                  for source in sources],
    }


def _skipped_report(sources: list[SourceFile]) -> dict[str, Any]:
    skipped = [(source, s) for source in sources for s in source.contents.skipped]
    several = len(sources) > 1
    return {
        "rows": len(skipped),
        "by_kind": dict(Counter(s.kind for _, s in skipped)),
        "details": [{**({"csv": str(source.path)} if several else {}), "line": s.line, "acl.id": s.acl_id,
                     "reason": s.reason} for source, s in skipped],
    }


def _write(sources: list[SourceFile], files: dict[str, Path], normalize: bool,
           lengths: tuple[LengthTokenizer | None, int]) -> PrepareResult:
    rows = [row for source in sources for row in source.contents.rows]
    normalized_changed = 0
    posts: dict[str, list[str]] = {split: [] for split in SPLITS}
    with atomic_files() as group:
        handles = {split: (group.open(files[split]), group.open(files[f"{split}.meta"])) for split in SPLITS}
        for row in tqdm(rows, desc="prepare", unit="rows", mininterval=0.5, leave=False):
            text = normalize_text(row.text) if normalize else row.text
            if text != row.text:
                normalized_changed += 1
            data_handle, meta_handle = handles[row.split]
            posts[row.split].append(text)
            data_handle.write(dumps_line(make_record(text, label_from_csv(row.label))))
            where = {"line": row.line} if row.file is None else {"csv": row.file, "line": row.line}
            meta_handle.write(dumps_line({**where, **row.meta, "input_sha1": text_sha1(text)}))
        report = {
            "source": _source_report(sources),
            "normalize_text": {"enabled": normalize, "texts_changed": normalized_changed},
            "special_token_spellings": _special_token_spellings(posts),
            "written": {split: {"file": str(files[split]), "metadata": str(files[f"{split}.meta"])} for split in SPLITS},
            "splits": _split_counts(rows),
            "skipped": _skipped_report(sources),
            "audit": {
                "duplicate_texts_across_splits": audit.duplicate_texts_across_splits(rows),
                "matched_pairs_across_splits": audit.matched_pairs_across_splits(rows),
            },
            # measured before anything is renamed into place: a tokenizer that fails leaves no output
            "prompt_tokens": prompt_length_report(lengths[0], posts, lengths[1]) if lengths[0] else None,
        }
        group.open(files["report"]).write(json.dumps(report, indent=2, allow_nan=False) + "\n")
    return PrepareResult(report, files)
