"""``intervals``: percentile bootstrap intervals of a split's accuracy, macro-F1 and ROC-AUC.

The posts are resampled with replacement by :mod:`dynahate.eval.bootstrap`, the implementation
``dynahate compare`` uses: accuracy and macro-F1 (over both labels, an invalid answer wrong) from
multinomial counts per kind of post, ROC-AUC from per-post counts (``null`` without scores, i.e.
in generate mode, or when the split lacks a class). The entry::

    {"confidence": 0.95, "resamples": 10000, "seed": 0,
     "accuracy": [lo, hi], "macro_f1": [lo, hi], "roc_auc": [lo, hi] or null}
"""

from __future__ import annotations

from collections.abc import Sequence

from dynahate.eval.bootstrap import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    Kinds,
    accuracy,
    macro_f1,
    percentile_interval,
    resample_counts,
    resampled_roc_auc,
)
from dynahate.plugin.eval_record import Interval


def intervals(gold: Sequence[int], pred: Sequence[int], p_positive: Sequence[float] | None, *, n_labels: int = 2,
              positive: int = 0, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
              confidence: float = DEFAULT_CONFIDENCE) -> Interval:
    """The ``intervals`` entry for one classifier's answers.

    Args:
        gold, pred: label codes per post (``pred`` :data:`dynahate.eval.bootstrap.INVALID` for an invalid answer).
        p_positive: the score of the ``positive`` label per post, or None (no ROC-AUC interval).
        n_labels, positive: how many labels, and which code ROC-AUC treats as positive.
        resamples, seed, confidence: the bootstrap's.
    """
    import numpy as np

    kinds = Kinds.of(gold, pred, pred, n_labels)
    drawn = resample_counts(kinds, resamples, seed)
    out: Interval = {
        "confidence": confidence, "resamples": resamples, "seed": seed,
        "accuracy": percentile_interval(accuracy(kinds, drawn, "a"), confidence),
        "macro_f1": percentile_interval(macro_f1(kinds, drawn, "a", list(range(n_labels))), confidence),
        "roc_auc": None,
    }
    gold_array = np.asarray(gold)
    if p_positive is not None and len(set(gold_array.tolist())) > 1:
        aucs = resampled_roc_auc(gold_array == positive, np.asarray(p_positive, dtype=np.float64), resamples, seed)
        out["roc_auc"] = percentile_interval(aucs, confidence)
    return out
