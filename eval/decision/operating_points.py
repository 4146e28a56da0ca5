"""``operating_points``: the figures of a split at decision thresholds chosen on dev.

A post is ``hate`` when ``p_hate >= threshold``. The thresholds:

- ``default``: 0.5 (the label the score engine gives; ``chosen_on`` null; the others' ``chosen_on`` is the dev
  split's name, ``dev`` or ``dynahate_dev``);
- ``best_macro_f1``: among dev's ``p_hate`` values and 0.5, the one with the highest dev macro-F1
  (over both labels); of equally good ones, the highest (it flags the fewest posts);
- ``recall_0.90``, ``recall_0.95``: the highest threshold whose dev recall of hate is at least
  0.90 / 0.95 (the k-th highest ``p_hate`` of dev's hate posts, k = ceil(share x hate posts)).

Each point: ``{"name", "threshold", "chosen_on", "accuracy", "macro_f1", "precision_hate",
"recall_hate", "fpr"}`` on the split reported (the same figures as scikit-learn's); a precision with
no post flagged, or a rate without posts of its class, is null. A threshold is never chosen on the split it is
reported for: the caller passes dev's scores only for other splits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dynahate.plugin.eval_record import DEFAULT_THRESHOLD, POINT_NAMES, OperatingPoint

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

RECALL_TARGETS = {"recall_0.90": 0.90, "recall_0.95": 0.95}
NAMES = POINT_NAMES  # default, best_macro_f1, then the recall targets' names


def choose_thresholds(gold_hate: Sequence[bool], p_hate: Sequence[float]) -> dict[str, float]:
    """``best_macro_f1`` and the recall thresholds chosen on dev (a recall threshold is left out when dev has no
    hate post)."""
    import numpy as np

    y = np.asarray(gold_hate, dtype=bool)
    p = np.asarray(p_hate, dtype=np.float64)
    candidates = np.unique(np.r_[p, DEFAULT_THRESHOLD])
    positives, negatives = np.sort(p[y]), np.sort(p[~y])
    true_pos = len(positives) - np.searchsorted(positives, candidates, side="left")  # p >= t
    false_pos = len(negatives) - np.searchsorted(negatives, candidates, side="left")
    false_neg, true_neg = len(positives) - true_pos, len(negatives) - false_pos
    f1_hate = _f1(true_pos, false_pos, false_neg)
    f1_not = _f1(true_neg, false_neg, false_pos)
    macro = (f1_hate + f1_not) / 2
    best = np.flatnonzero(macro == macro.max())[-1]  # the highest of the best
    chosen = {"best_macro_f1": float(candidates[best])}
    descending = positives[::-1]
    for name, share in RECALL_TARGETS.items():
        if len(descending):
            k = max(1, math.ceil(share * len(descending) - 1e-9))
            chosen[name] = float(descending[k - 1])
    return chosen


def _f1(true_pos: NDArray[np.intp], false_pos: NDArray[np.intp], false_neg: NDArray[np.intp]) -> NDArray[np.float64]:
    import numpy as np

    denominator = 2 * true_pos + false_pos + false_neg
    return np.divide(2 * true_pos, denominator, out=np.zeros(len(true_pos)), where=denominator > 0)


def operating_point(name: str, threshold: float, chosen_on: str | None, gold_hate: Sequence[bool],
                    p_hate: Sequence[float]) -> OperatingPoint:
    """The figures of one threshold on the split reported (as scikit-learn's ``accuracy_score``, ``f1_score``
    with ``average="macro"`` over both labels, ``precision_score`` and ``recall_score``, from the counts)."""
    import numpy as np

    y = np.asarray(gold_hate, dtype=bool)
    flagged = np.asarray(p_hate, dtype=np.float64) >= threshold
    true_pos, false_pos = int((flagged & y).sum()), int((flagged & ~y).sum())
    false_neg, true_neg = int(y.sum()) - true_pos, int((~y).sum()) - false_pos
    f1 = [2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
          for tp, fp, fn in ((true_pos, false_pos, false_neg), (true_neg, false_neg, false_pos))]
    return {
        "name": name, "threshold": float(threshold), "chosen_on": chosen_on,
        "accuracy": (true_pos + true_neg) / len(y), "macro_f1": sum(f1) / 2,
        "precision_hate": true_pos / (true_pos + false_pos) if true_pos + false_pos else None,
        "recall_hate": true_pos / (true_pos + false_neg) if true_pos + false_neg else None,
        "fpr": false_pos / (false_pos + true_neg) if false_pos + true_neg else None,
    }


def operating_points(gold_hate: Sequence[bool], p_hate: Sequence[float], chosen: dict[str, float] | None,
                     chosen_on: str | None = None) -> list[OperatingPoint]:
    """``default``, then each threshold ``chosen`` on the dev split named ``chosen_on`` (none when dev's scores are
    not at hand)."""
    if chosen and not chosen_on:
        raise ValueError("thresholds chosen on no named split")
    points = [operating_point("default", DEFAULT_THRESHOLD, None, gold_hate, p_hate)]
    for name in NAMES[1:]:
        if chosen and name in chosen:
            points.append(operating_point(name, chosen[name], chosen_on, gold_hate, p_hate))
    return points
