"""``contrast``: consistency on Dynahate's perturbation pairs (contrast sets, Gardner et al. 2020).

Dynahate pairs a post with a minimally edited copy whose label may flip (``acl.id.matched`` names
the other post). A pair is two rows of the split, one naming the other, counted once; which is the
original and which the perturbation is read from ``level`` (``original`` / ``perturbation``), or,
when that does not tell them apart, the row that names the other is the perturbation. Pairs with a
post outside the split are not counted. The entry::

    {"pairs", "both_correct", "consistency", "original_correct_only", "perturbation_correct_only",
     "both_wrong", "rounds": {"R2": {...the same counts...}, ...}}

``consistency`` is ``both_correct / pairs`` (null without pairs): the share of pairs the model gets
right on both sides, which a model that reads only the group's name cannot reach. A pair's round
is its original's (:func:`dynahate.plugin.metadata.round_group`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dynahate.plugin.eval_record import Contrast, ContrastCounts
from dynahate.plugin.metadata import round_group, round_group_order


def contrast_pairs(metas: Sequence[dict[str, Any] | None]) -> list[tuple[int, int, str | None]]:
    """(original's index, perturbation's index, round group) for each pair within the split, in file order."""
    index = {meta["acl.id"]: i for i, meta in enumerate(metas) if meta and meta.get("acl.id") is not None}
    seen: set[frozenset[int]] = set()
    pairs: list[tuple[int, int, str | None]] = []
    for i, meta in enumerate(metas):
        other = index.get((meta or {}).get("acl.id.matched"))
        if other is None or other == i or frozenset((i, other)) in seen:
            continue
        seen.add(frozenset((i, other)))
        original, perturbation = _orient(metas, i, other)
        value = (metas[original] or {}).get("round")
        pairs.append((original, perturbation, round_group(str(value)) if value is not None else None))
    return pairs


def _orient(metas: Sequence[dict[str, Any] | None], naming: int, named: int) -> tuple[int, int]:
    """(original, perturbation) of a pair in which row ``naming`` names row ``named``."""
    levels = ((metas[naming] or {}).get("level"), (metas[named] or {}).get("level"))
    if levels == ("original", "perturbation"):
        return naming, named
    return named, naming  # by level, or else the row that names the other is the perturbation


def _counts(correct: Sequence[bool], pairs: list[tuple[int, int, str | None]]) -> ContrastCounts:
    both = sum(correct[o] and correct[p] for o, p, _ in pairs)
    original_only = sum(correct[o] and not correct[p] for o, p, _ in pairs)
    perturbation_only = sum(correct[p] and not correct[o] for o, p, _ in pairs)
    return {"pairs": len(pairs), "both_correct": both, "consistency": both / len(pairs) if pairs else None,
            "original_correct_only": original_only, "perturbation_correct_only": perturbation_only,
            "both_wrong": len(pairs) - both - original_only - perturbation_only}


def contrast(correct: Sequence[bool], metas: Sequence[dict[str, Any] | None]) -> Contrast:
    """The ``contrast`` entry, from each post's correctness and its metadata."""
    pairs = contrast_pairs(metas)
    rounds = sorted({name for _, _, name in pairs if name is not None}, key=round_group_order)
    return {**_counts(correct, pairs),
            "rounds": {name: _counts(correct, [pair for pair in pairs if pair[2] == name]) for name in rounds}}
