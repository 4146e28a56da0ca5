"""``calibration``: one temperature on the label log-odds, fitted on dev, applied to a split.

``p_hate`` becomes sigmoid(logit(p_hate) / T), with T > 0 minimizing dev's log-loss
(``scipy.optimize.minimize_scalar`` over log T). T > 1 softens over-confident scores, T < 1 sharpens
them; 0.5 stays 0.5, so the default label and every ranking (ROC-AUC) are unchanged. The entry
holds the split's ECE and Brier score after it (the split's own ``ece`` and ``brier`` stay the
uncalibrated figures)::

    {"fitted_on": "dev", "temperature": T, "ece": ..., "brier": ...}

``fitted_on`` is the dev split's name (``dev``, or ``dynahate_dev`` for ``--data .../dynahate_dev.jsonl``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dynahate.inference.decision_rule import apply_temperature, log_odds

LOG_T_BOUNDS = (-7.0, 7.0)


def fit_temperature(gold_hate: Sequence[bool], p_hate: Sequence[float]) -> float:
    """The temperature that minimizes the log-loss of the calibrated scores on these (dev) posts."""
    import numpy as np

    # scipy ships no type stubs: minimize_scalar's parameters are unknown to the checker, its result read as Any
    from scipy.optimize import minimize_scalar  # pyright: ignore[reportMissingTypeStubs, reportUnknownVariableType]
    from scipy.special import log_expit  # pyright: ignore[reportMissingTypeStubs]

    z = log_odds(p_hate)
    sign = np.where(np.asarray(gold_hate, dtype=bool), 1.0, -1.0)

    def loss(log_t: float) -> float:
        return float(-log_expit(sign * z / np.exp(log_t)).mean())

    best: Any = minimize_scalar(loss, bounds=LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-6})
    return float(np.exp(best.x))


def at_bound(temperature: float) -> bool:
    """Whether a fitted temperature lies at the end of the search range (within 0.1 % in log T)."""
    import math

    low, high = LOG_T_BOUNDS
    return min(abs(math.log(temperature) - low), abs(math.log(temperature) - high)) < 1e-3 * (high - low)


def calibration(gold_hate: Sequence[bool], p_hate: Sequence[float], temperature: float, *,
                fitted_on: str) -> dict[str, Any]:
    """The ``calibration`` entry of a split, at a temperature fitted on the dev split named ``fitted_on``."""
    # scikit-learn ships no type stubs (brier_score_loss's parameters are unknown to the checker; it returns float)
    from sklearn.metrics import brier_score_loss  # pyright: ignore[reportMissingTypeStubs, reportUnknownVariableType]

    from dynahate.eval.metrics import expected_calibration_error

    y = [int(hate) for hate in gold_hate]
    calibrated = apply_temperature(p_hate, temperature).tolist()
    return {"fitted_on": fitted_on, "temperature": temperature, "ece": expected_calibration_error(y, calibrated),
            "brier": float(brier_score_loss(y, calibrated, pos_label=1))}
