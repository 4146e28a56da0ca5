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

The output paths are checked before the CSV is read: ``out_dir`` must be (or become) a directory
that can be written (tried by :func:`dynahate.core.output_paths.check_output_dir`), and no output may be the CSV itself. A write that fails later (disk full, a
signal) removes every temporary file and changes no output.
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from dynahate.plugin.data import audit
from dynahate.core.atomic import atomic_files
from dynahate.core.describe import text_sha1
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


def check_outputs(csv_path: Path, out_dir: Path) -> None:
    """Refuse, before anything is read, an ``out_dir`` that cannot hold the outputs or would overwrite the CSV."""
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
        if target.exists() and csv_path.exists() and os.path.samefile(target, csv_path):
            raise DynahateError(f"--out {out_dir}: would overwrite the input CSV {csv_path} with {target.name}")
        if target.exists() and not target.is_file():
            raise DynahateError(f"{target}: exists and is not a regular file; move it or choose another --out")


def prepare(csv_path: str | Path, out_dir: str | Path, *, skip_invalid: bool = False,
            normalize: bool = False, tokenizer: str | None = None,
            cutoff_len: int = DEFAULT_CUTOFF_LEN) -> PrepareResult:
    """Read, validate and write every output; nothing is written if anything fails.

    Args:
        csv_path: The official Dynahate CSV (v0.2.3 or v0.2.2).
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
    csv_path, out_dir = Path(csv_path), Path(out_dir)
    check_outputs(csv_path, out_dir)
    contents = read_dynahate_csv(csv_path, skip_invalid=skip_invalid)
    blob = git_blob_sha1(csv_path)
    files = output_paths(out_dir)
    lengths = (load_length_tokenizer(tokenizer) if tokenizer else None, cutoff_len)
    try:
        return _write(csv_path, files, contents, blob, normalize, lengths)
    except OSError as exc:  # disk full, permissions, a folder that vanished: nothing was replaced
        where = exc.filename or out_dir
        raise DynahateError(f"{where}: cannot write the prepared files ({exc.strerror or exc}); nothing was changed"
                            ) from None


def _write(csv_path: Path, files: dict[str, Path], contents: CsvContents, blob: str, normalize: bool,
           lengths: tuple[LengthTokenizer | None, int]) -> PrepareResult:
    rows = contents.rows
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
            meta_handle.write(dumps_line({"line": row.line, **row.meta, "input_sha1": text_sha1(text)}))
        report = {
            "source": {
                "path": str(csv_path),
                "git_blob_sha1": blob,
                "version": known_version(blob),
                "rows_read": len(rows) + len(contents.skipped),
                "missing_metadata_columns": contents.missing_metadata_columns,
            },
            "normalize_text": {"enabled": normalize, "texts_changed": normalized_changed},
            "special_token_spellings": _special_token_spellings(posts),
            "written": {split: {"file": str(files[split]), "metadata": str(files[f"{split}.meta"])} for split in SPLITS},
            "splits": _split_counts(rows),
            "skipped": {
                "rows": len(contents.skipped),
                "by_kind": dict(Counter(s.kind for s in contents.skipped)),
                "details": [{"line": s.line, "acl.id": s.acl_id, "reason": s.reason} for s in contents.skipped],
            },
            "audit": {
                "duplicate_texts_across_splits": audit.duplicate_texts_across_splits(rows),
                "matched_pairs_across_splits": audit.matched_pairs_across_splits(rows),
            },
            # measured before anything is renamed into place: a tokenizer that fails leaves no output
            "prompt_tokens": prompt_length_report(lengths[0], posts, lengths[1]) if lengths[0] else None,
        }
        group.open(files["report"]).write(json.dumps(report, indent=2, allow_nan=False) + "\n")
    return PrepareResult(report, files)
