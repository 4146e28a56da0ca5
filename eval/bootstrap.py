"""The bootstrap over posts, one implementation for ``dynahate compare`` and ``dynahate eval``'s intervals.

Posts are resampled with replacement, ``resamples`` times; an interval is the percentile interval
(``numpy.quantile``, linear interpolation) of a statistic over the resamples.

- Accuracy and macro-F1 depend on a resample only through how many times each *kind* of post was
  drawn (its gold label and each classifier's answer: :class:`Kinds`), and those counts follow a
  multinomial distribution with the observed shares of each kind; so each resample is drawn as one
  multinomial vector over the kinds (:func:`resample_counts`), the same distribution as drawing post
  indices, in milliseconds. One classifier is the case ``pred_a == pred_b``.
- ROC-AUC depends on every post's score, so each resample is drawn as post indices, counted per
  post in chunks of constant memory (:func:`resampled_roc_auc`), and its AUC is the Mann-Whitney
  statistic of those counts (:class:`ScoredPosts`; ties count one half, as scikit-learn's
  ``roc_auc_score``); ``nan`` for a resample without both classes, which the interval leaves out.

Each call draws from its own ``numpy.random.default_rng(seed)``, so an interval depends only on its
own posts, the seed and the number of resamples.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

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
CHUNK = 1000  # resamples drawn at once as post counts: CHUNK x posts integers


@dataclass(frozen=True)
class Kinds:
    """The kinds of post (gold, A's answer, B's answer) and how many of each the sample holds."""

    gold: np.ndarray  # per kind
    a: np.ndarray
    b: np.ndarray
    counts: np.ndarray  # per kind, in the sample

    @classmethod
    def of(cls, gold: Sequence[int] | np.ndarray, pred_a: Sequence[int] | np.ndarray,
           pred_b: Sequence[int] | np.ndarray, n_labels: int) -> Kinds:
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


def percentile_interval(values: np.ndarray, confidence: float) -> list[float]:
    """The percentile interval of ``values`` (``nan`` left out) at ``confidence``."""
    import numpy as np

    tail = (1 - confidence) / 2
    low, high = np.nanquantile(values, [tail, 1 - tail])
    return [float(low), float(high)]


@dataclass(frozen=True)
class ScoredPosts:
    """Posts ordered for ROC-AUC: the negatives by increasing score, then the positives; for each positive, how
    many negatives score below it (``below``) and at most as high (``at_most``)."""

    negatives: int
    below: np.ndarray
    at_most: np.ndarray
    order: np.ndarray  # the posts' indices in this order

    @classmethod
    def of(cls, positive: Sequence[bool] | np.ndarray, score: Sequence[float] | np.ndarray) -> ScoredPosts:
        import numpy as np

        positive, score = np.asarray(positive, dtype=bool), np.asarray(score, dtype=np.float64)
        negative_index = np.flatnonzero(~positive)
        negative_index = negative_index[np.argsort(score[negative_index], kind="stable")]
        negative_scores = score[negative_index]
        return cls(len(negative_scores), np.searchsorted(negative_scores, score[positive], side="left"),
                   np.searchsorted(negative_scores, score[positive], side="right"),
                   np.r_[negative_index, np.flatnonzero(positive)])

    def auc(self, counts: np.ndarray) -> np.ndarray:
        """ROC-AUC for each row of ``counts`` (rows x posts in this order: how often each was drawn):
        P(a positive scores above a negative) + 1/2 P(equal); ``nan`` without both classes."""
        import numpy as np

        negatives, positives = counts[:, :self.negatives], counts[:, self.negatives:]
        cumulative = np.zeros((len(counts), self.negatives + 1), dtype=np.int64)
        np.cumsum(negatives, axis=1, out=cumulative[:, 1:])  # cumulative[:, k]: draws of the k lowest negatives
        wins = (positives * (cumulative[:, self.below] + cumulative[:, self.at_most])).sum(axis=1) / 2
        pairs = (positives.sum(axis=1) * cumulative[:, -1]).astype(np.float64)
        return np.divide(wins, pairs, out=np.full(len(counts), np.nan), where=pairs > 0)


def _post_counts(n: int, resamples: int, seed: int, chunk: int) -> Iterator[np.ndarray]:
    """``resamples`` bootstrap resamples of ``n`` posts from ``numpy.random.default_rng(seed)``, as how often each
    post was drawn (rows x n), at most ``chunk`` rows at a time, so memory stays constant."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for first in range(0, resamples, chunk):
        rows = min(chunk, resamples - first)
        drawn = rng.integers(0, n, size=(rows, n), dtype=np.int32)
        drawn += (np.arange(rows, dtype=np.int32) * n)[:, None]
        yield np.bincount(drawn.ravel(), minlength=rows * n).reshape(rows, n)


def roc_auc(positive: Sequence[bool] | np.ndarray, score: Sequence[float] | np.ndarray) -> float:
    """The ROC-AUC of ``score`` for the ``positive`` posts (scikit-learn's ``roc_auc_score``); ``nan`` without both
    classes."""
    import numpy as np

    posts = ScoredPosts.of(positive, score)
    return float(posts.auc(np.ones((1, len(np.asarray(positive))), dtype=np.int64))[0])


def resampled_roc_auc(positive: Sequence[bool] | np.ndarray, score: Sequence[float] | np.ndarray, resamples: int,
                      seed: int, chunk: int = CHUNK) -> np.ndarray:
    """The ROC-AUC of each of ``resamples`` bootstrap resamples of the posts (``nan`` for one without both classes).

    Each resample draws post indices with replacement (in :class:`ScoredPosts`' order: any order of the posts
    gives the same distribution) and counts them per post, at most ``chunk`` resamples at a time, so memory
    stays constant however many resamples are asked for."""
    import numpy as np

    posts = ScoredPosts.of(positive, score)
    aucs = [posts.auc(counts) for counts in _post_counts(len(posts.order), resamples, seed, chunk)]
    return np.concatenate(aucs) if aucs else np.empty(0)


def paired_auc_differences(positive: Sequence[bool] | np.ndarray, score_a: Sequence[float] | np.ndarray,
                           score_b: Sequence[float] | np.ndarray,
                           subsets: dict[str, np.ndarray], resamples: int, seed: int,
                           chunk: int = CHUNK) -> dict[str, np.ndarray]:
    """For each named subset of the posts (a boolean mask), B's ROC-AUC minus A's on that subset in each of
    ``resamples`` bootstrap resamples of all the posts, the same resamples for A and B and every subset."""
    import numpy as np

    positive = np.asarray(positive, dtype=bool)
    scored = {}
    for name, mask in subsets.items():
        index = np.flatnonzero(mask)
        scored[name] = (index, ScoredPosts.of(positive[index], np.asarray(score_a)[index]),
                        ScoredPosts.of(positive[index], np.asarray(score_b)[index]))
    out: dict[str, list[np.ndarray]] = {name: [] for name in subsets}
    for counts in _post_counts(len(positive), resamples, seed, chunk):
        for name, (index, a, b) in scored.items():
            within = counts[:, index]
            out[name].append(b.auc(within[:, b.order]) - a.auc(within[:, a.order]))
    return {name: np.concatenate(parts) if parts else np.empty(0) for name, parts in out.items()}
