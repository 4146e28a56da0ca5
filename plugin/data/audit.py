"""Leakage audit of the Dynahate splits: exact-duplicate texts and matched pairs across splits.

Reports identify rows by ``acl.id`` and CSV line, never by their text. When several CSVs are prepared
together (each row's ``file`` set), a row is named with its file too (``csv``), and the duplicate texts
that cross files as well as splits are counted apart (``across_files``): one file's train post in
another's test split is the leak a new round can bring.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from dynahate.plugin.data.dynahate_csv import CsvRow

_EXAMPLES = 20


def _ref(row: CsvRow) -> dict[str, Any]:
    ref = {"acl.id": row.acl_id, "line": row.line, "split": row.split}
    return ref if row.file is None else {"csv": row.file, **ref}


def _across_files(groups: list[list[CsvRow]]) -> dict[str, Any]:
    """The groups of :func:`duplicate_texts_across_splits` whose rows come from more than one file."""
    across = [group for group in groups if len({r.file for r in group}) > 1]
    return {
        "groups": len(across),
        "dev_or_test_rows_with_text_in_another_files_train": sum(
            1 for group in across for r in group
            if r.split != "train" and any(o.split == "train" and o.file != r.file for o in group)
        ),
        "examples": [[_ref(r) for r in group] for group in across[:_EXAMPLES]],
    }


def duplicate_texts_across_splits(rows: list[CsvRow]) -> dict[str, Any]:
    """Groups of rows with byte-identical text whose members sit in more than one split."""
    by_text: dict[str, list[CsvRow]] = defaultdict(list)
    for row in rows:
        by_text[row.text].append(row)
    groups = [group for group in by_text.values() if len({r.split for r in group}) > 1]
    eval_rows_seen_in_train = sum(
        1 for group in groups if any(r.split == "train" for r in group) for r in group if r.split != "train"
    )
    conflicting_labels = sum(1 for group in groups if len({r.label for r in group}) > 1)
    report = {
        "groups": len(groups),
        "rows": sum(len(group) for group in groups),
        "dev_or_test_rows_with_text_in_train": eval_rows_seen_in_train,
        "groups_with_conflicting_labels": conflicting_labels,
        "duplicate_texts_within_one_split": sum(
            1 for group in by_text.values() if len(group) > 1 and len({r.split for r in group}) == 1
        ),
        "examples": [[_ref(r) for r in group] for group in groups[:_EXAMPLES]],
    }
    if any(row.file is not None for row in rows):
        report["across_files"] = _across_files(groups)
    return report


def matched_pairs_across_splits(rows: list[CsvRow]) -> dict[str, Any]:
    """Original/perturbation pairs (``acl.id.matched``) whose two sides are in different splits (a pair may span
    two files prepared together; ``matched_id_not_in_file``: the id named is in none of them)."""
    by_id = {row.acl_id: row for row in rows if row.acl_id}
    seen: set[frozenset[str]] = set()
    crossing, pairs, unresolved = [], 0, 0
    for row in rows:
        other_id = row.meta.get("acl.id.matched")
        if not other_id or not row.acl_id:
            continue
        key = frozenset((row.acl_id, other_id))
        if key in seen:
            continue
        seen.add(key)
        other = by_id.get(other_id)
        if other is None:
            unresolved += 1
            continue
        pairs += 1
        if other.split != row.split:
            crossing.append([_ref(row), _ref(other)])
    return {
        "pairs": pairs,
        "pairs_across_splits": len(crossing),
        "matched_id_not_in_file": unresolved,
        "examples": crossing[:_EXAMPLES],
    }
