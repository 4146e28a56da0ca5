"""Paired statistics of two classifiers on the same posts: bootstrap intervals, McNemar's exact test, agreement.

Inputs are integer codes per post: ``gold`` in ``0 .. L-1`` and each classifier's prediction in
``0 .. L-1``, or :data:`INVALID` (-1) for an answer that was neither label, which is wrong on every
post and agrees only with another invalid answer. The difference is always B minus A.

- **Accuracy and macro-F1** of each, as scikit-learn computes them (``accuracy_score``;
  ``f1_score(labels=..., average="macro", zero_division=0)``, where an invalid answer is a miss of
  its gold label and a prediction of no label).
- **Paired bootstrap** of the difference: the posts are resampled with replacement (the same
  resampled posts for A and B), ``resamples`` times, and the interval is the percentile interval of
  the resampled differences, drawn as multinomial counts per kind of post (gold, A's answer, B's
  answer: at most L * (L+1)^2 kinds) by :mod:`dynahate.eval.bootstrap`, which ``dynahate eval``'s
  intervals use too: 10,000 resamples of 4,120 posts take milliseconds.
- **McNemar's exact test** on the discordant posts: b = A right and B wrong, c = A wrong and B
  right; p = ``scipy.stats.binomtest(min(b, c), b + c, 0.5).pvalue`` (two-sided), and 1 when b + c = 0.
- **Agreement**: the share of posts on which A and B give the same answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dynahate.eval.bootstrap import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    INVALID,
    MAX_RESAMPLES,
    Kinds,
    accuracy,
    macro_f1,
    percentile_interval,
    resample_counts,
)

if TYPE_CHECKING:
    import numpy as np



def mcnemar_exact_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value on ``b`` and ``c`` discordant pairs (1.0 when there are none)."""
    from scipy.stats import binomtest

    if b + c == 0:
        return 1.0
    return float(binomtest(min(b, c), b + c, 0.5).pvalue)


def _metric(observed_a: float, observed_b: float, differences: np.ndarray, confidence: float) -> dict[str, Any]:
    return {"a": observed_a, "b": observed_b, "difference": observed_b - observed_a,
            "interval": percentile_interval(differences, confidence)}


def paired_comparison(gold: Sequence[int], pred_a: Sequence[int], pred_b: Sequence[int], *, n_labels: int,
                      f1_labels: Sequence[int] | None, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
                      confidence: float = DEFAULT_CONFIDENCE) -> dict[str, Any]:
    """Everything compared for one set of posts.

    Args:
        gold, pred_a, pred_b: per post, the gold code and each classifier's answer (:data:`INVALID` if none).
        n_labels: how many labels there are (codes ``0 .. n_labels - 1``).
        f1_labels: the labels macro-F1 averages over; None leaves macro-F1 out (a group with one gold label).
        resamples, seed, confidence: the bootstrap's.

    Returns:
        ``n``; ``accuracy`` (and ``macro_f1``): ``a``, ``b``, ``difference`` (B - A) and its ``interval``;
        ``agreement``; ``discordant`` (``a_right_b_wrong``, ``a_wrong_b_right``); ``mcnemar_p``; ``invalid``
        (``a``, ``b``).
    """
    if not 1 <= resamples <= MAX_RESAMPLES or not 0 < confidence < 1:
        raise ValueError(f"resamples must be in 1..{MAX_RESAMPLES} and confidence in (0, 1)")
    kinds = Kinds.of(gold, pred_a, pred_b, n_labels)
    observed = kinds.counts[None, :]
    drawn = resample_counts(kinds, resamples, seed)
    out: dict[str, Any] = {"n": kinds.n}
    acc_a, acc_b = accuracy(kinds, observed, "a")[0], accuracy(kinds, observed, "b")[0]
    out["accuracy"] = _metric(float(acc_a), float(acc_b),
                              accuracy(kinds, drawn, "b") - accuracy(kinds, drawn, "a"), confidence)
    if f1_labels is not None:
        f1_a, f1_b = macro_f1(kinds, observed, "a", f1_labels)[0], macro_f1(kinds, observed, "b", f1_labels)[0]
        out["macro_f1"] = _metric(float(f1_a), float(f1_b),
                                  macro_f1(kinds, drawn, "b", f1_labels) - macro_f1(kinds, drawn, "a", f1_labels),
                                  confidence)
    right_a, right_b = kinds.a == kinds.gold, kinds.b == kinds.gold
    b = int(kinds.counts[right_a & ~right_b].sum())
    c = int(kinds.counts[~right_a & right_b].sum())
    out["agreement"] = float(kinds.counts[kinds.a == kinds.b].sum() / kinds.n)
    out["discordant"] = {"a_right_b_wrong": b, "a_wrong_b_right": c}
    out["mcnemar_p"] = mcnemar_exact_p(b, c)
    out["invalid"] = {side: int(kinds.counts[getattr(kinds, side) == INVALID].sum()) for side in ("a", "b")}
    return out
