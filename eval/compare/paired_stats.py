"""Paired statistics of two classifiers on the same posts: bootstrap intervals, McNemar's exact test, agreement.

Inputs are integer codes per post: ``gold`` in ``0 .. L-1`` and each classifier's prediction in
``0 .. L-1``, or :data:`INVALID` (-1) for an answer that was neither label, which is wrong on every
post and agrees only with another invalid answer. The difference is always B minus A.

- **Accuracy and macro-F1** of each, as scikit-learn computes them (``accuracy_score``;
  ``f1_score(labels=..., average="macro", zero_division=0)``, where an invalid answer is a miss of
  its gold label and a prediction of no label).
- **Paired bootstrap** of the difference: the posts are resampled with replacement (the same
  resampled posts for A and B), ``resamples`` times, and the interval is the percentile interval
  (``numpy.quantile``, linear interpolation) of the resampled differences. Every statistic here
  depends on a resample only through how many times each *kind* of post was drawn (its gold label,
  A's answer, B's answer: at most L * (L+1)^2 kinds), and those counts follow a multinomial
  distribution with the observed shares of each kind. So each resample is drawn as one multinomial
  vector (``numpy.random.Generator.multinomial``), which is the same distribution as drawing post
  indices, without an array of resamples x posts: 10,000 resamples of 4,120 posts take milliseconds.
  Each comparison draws from its own ``numpy.random.default_rng(seed)``, so an interval depends only
  on its own posts, the seed and the number of resamples.
- **McNemar's exact test** on the discordant posts: b = A right and B wrong, c = A wrong and B
  right; p = ``scipy.stats.binomtest(min(b, c), b + c, 0.5).pvalue`` (two-sided), and 1 when b + c = 0.
- **Agreement**: the share of posts on which A and B give the same answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

INVALID = -1
DEFAULT_RESAMPLES = 10_000
MAX_RESAMPLES = 1_000_000
"""The most resamples one comparison draws. Memory grows with them: the drawn counts are resamples x kinds
int64 (18 kinds for 2 labels: 144 bytes a resample), plus a float copy and a few vectors while the metrics
are computed; 1,000,000 resamples peak at about 0.3 GiB (a billion would need some 300 GiB)."""
DEFAULT_SEED = 0
DEFAULT_CONFIDENCE = 0.95


def mcnemar_exact_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value on ``b`` and ``c`` discordant pairs (1.0 when there are none)."""
    from scipy.stats import binomtest

    if b + c == 0:
        return 1.0
    return float(binomtest(min(b, c), b + c, 0.5).pvalue)


@dataclass(frozen=True)
class Kinds:
    """The kinds of post (gold, A's answer, B's answer) and how many of each the sample holds."""

    gold: np.ndarray  # per kind
    a: np.ndarray
    b: np.ndarray
    counts: np.ndarray  # per kind, in the sample

    @classmethod
    def of(cls, gold: Sequence[int], pred_a: Sequence[int], pred_b: Sequence[int], n_labels: int) -> Kinds:
        import numpy as np

        gold, pred_a, pred_b = (np.asarray(x, dtype=np.int64) for x in (gold, pred_a, pred_b))
        if not (gold.shape == pred_a.shape == pred_b.shape) or gold.ndim != 1 or gold.size == 0:
            raise ValueError("gold, pred_a and pred_b must be non-empty sequences of one length")
        if gold.min() < 0 or gold.max() >= n_labels:
            raise ValueError(f"gold codes must lie in 0..{n_labels - 1}")
        for pred in (pred_a, pred_b):
            if pred.min() < INVALID or pred.max() >= n_labels:
                raise ValueError(f"predicted codes must lie in {INVALID}..{n_labels - 1}")
        width = n_labels + 1  # an answer: INVALID or a label
        codes = (gold * width + (pred_a + 1)) * width + (pred_b + 1)
        counts = np.bincount(codes, minlength=n_labels * width * width)
        kind = np.arange(counts.size)
        return cls(gold=kind // (width * width), a=(kind // width) % width - 1, b=kind % width - 1, counts=counts)

    @property
    def n(self) -> int:
        return int(self.counts.sum())


def accuracy(kinds: Kinds, counts: np.ndarray, which: str) -> np.ndarray:
    """Accuracy of ``which`` ("a" or "b") for each row of ``counts`` (resamples x kinds)."""
    import numpy as np

    pred = getattr(kinds, which)
    return counts @ (pred == kinds.gold).astype(np.float64) / counts.sum(axis=-1)


def macro_f1(kinds: Kinds, counts: np.ndarray, which: str, labels: Sequence[int]) -> np.ndarray:
    """Macro-F1 over ``labels`` of ``which`` for each row of ``counts``: per label 2 tp / (predicted + gold),
    0 when both are 0 (scikit-learn's ``zero_division=0``)."""
    import numpy as np

    pred = getattr(kinds, which)
    scores = []
    for label in labels:
        true_pos = counts @ ((pred == label) & (kinds.gold == label)).astype(np.float64)
        denominator = counts @ ((pred == label).astype(np.float64) + (kinds.gold == label))
        scores.append(np.divide(2 * true_pos, denominator, out=np.zeros_like(true_pos), where=denominator > 0))
    return np.mean(scores, axis=0)


def resample_counts(kinds: Kinds, resamples: int, seed: int) -> np.ndarray:
    """``resamples`` bootstrap resamples of the posts, each as its counts per kind (resamples x kinds)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return rng.multinomial(kinds.n, kinds.counts / kinds.n, size=resamples)


def _interval(differences: np.ndarray, confidence: float) -> list[float]:
    import numpy as np

    tail = (1 - confidence) / 2
    low, high = np.quantile(differences, [tail, 1 - tail])
    return [float(low), float(high)]


def _metric(observed_a: float, observed_b: float, differences: np.ndarray, confidence: float) -> dict[str, Any]:
    return {"a": observed_a, "b": observed_b, "difference": observed_b - observed_a,
            "interval": _interval(differences, confidence)}


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
