"""``calibration``: one temperature on the label log-odds, fitted on dev, applied to a split.

``p_hate`` becomes sigmoid(logit(p_hate) / T), with T > 0 minimizing dev's log-loss
(``scipy.optimize.minimize_scalar`` over log T). T > 1 softens over-confident scores, T < 1 sharpens
them; 0.5 stays 0.5, so the default label and every ranking (ROC-AUC) are unchanged. The entry
holds the split's ECE and Brier score after it (the split's own ``ece`` and ``brier`` stay the
uncalibrated figures)::

    {"fitted_on": "dev", "temperature": T, "meaningful": true, "ece": ..., "brier": ...}

``fitted_on`` is the dev split's name (``dev``, or ``dynahate_dev`` for ``--data .../dynahate_dev.jsonl``).
``meaningful`` is false when dev's log-loss has no minimum to find (:func:`fit_problem`): every dev post on
its label's side of 0.5 (the loss keeps falling as T shrinks, and underflows to 0 on the way, where the search
stops anywhere), every one on the wrong side, or T at the end of the search range. A temperature is shown with
:func:`temperature_text` (3.22e-03 is not 0.00).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dynahate.inference.decision_rule import apply_temperature, log_odds
from dynahate.plugin.eval_record import LOG_TEMPERATURE_BOUNDS, Calibration, temperature_text

LOG_T_BOUNDS = LOG_TEMPERATURE_BOUNDS  # the search range, in log T (the record's reader checks a temperature in it)

SEPARATED = ("dev's scores put every dev post on its label's side of 0.5, so dev's log-loss keeps falling as the "
             "temperature shrinks to 0 (it underflows to 0 on the way, where the search stops): the temperature is "
             "no fit and the calibrated p_hate is not a meaningful probability")
INVERTED = ("dev's scores put no dev post on its label's side of 0.5, so dev's log-loss keeps falling as the "
            "temperature grows: the temperature is no fit and the calibrated p_hate is not a meaningful probability")
NO_FIT = "not meaningful: dev's log-loss has no minimum to fit"  # what the card says after such a temperature
AT_BOUND = ("the calibration temperature reached the end of its search range (e^-7 or e^7): the calibrated p_hate is "
            "not a meaningful probability")


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


def fit_problem(gold_hate: Sequence[bool], p_hate: Sequence[float], temperature: float) -> str | None:
    """Why ``temperature``, fitted on these (dev) posts, is no minimum of their log-loss (a note), or None.

    With every post's log-odds on its label's side of 0 the loss falls toward 0 as T -> 0 (all on the wrong
    side: toward log 2 as T grows), so no finite T minimizes it; the search then stops wherever the loss
    underflows to 0, not at its bound, which is why the data are checked and not only the temperature."""
    import numpy as np

    margin = np.where(np.asarray(gold_hate, dtype=bool), 1.0, -1.0) * log_odds(p_hate)
    if (margin >= 0).all() and (margin > 0).any():
        return SEPARATED
    if (margin <= 0).all():
        return INVERTED
    return AT_BOUND if at_bound(temperature) else None


def calibration_label(entry: dict[str, Any]) -> str:
    """A ``calibration`` entry in a few words: ``T = 0.00322, fitted on dev, not meaningful`` (the last part
    when dev left no minimum to fit; entries written before ``meaningful`` was recorded count as fits)."""
    meaningful = entry.get("meaningful", True)
    return (f"T = {temperature_text(entry['temperature'])}, fitted on {entry['fitted_on']}"
            + ("" if meaningful else ", not meaningful"))


def calibration(gold_hate: Sequence[bool], p_hate: Sequence[float], temperature: float, *,
                fitted_on: str, meaningful: bool = True) -> Calibration:
    """The ``calibration`` entry of a split, at a temperature fitted on the dev split named ``fitted_on``
    (``meaningful``: False when :func:`fit_problem` found one)."""
    # scikit-learn ships no type stubs (brier_score_loss's parameters are unknown to the checker; it returns float)
    from sklearn.metrics import brier_score_loss  # pyright: ignore[reportMissingTypeStubs, reportUnknownVariableType]

    from dynahate.eval.metrics import expected_calibration_error

    y = [int(hate) for hate in gold_hate]
    calibrated = apply_temperature(p_hate, temperature).tolist()
    return {"fitted_on": fitted_on, "temperature": temperature, "meaningful": meaningful,
            "ece": expected_calibration_error(y, calibrated),
            "brier": float(brier_score_loss(y, calibrated, pos_label=1))}
