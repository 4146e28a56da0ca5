"""PNG pictures of one split: confusion matrix; in score mode ROC, precision-recall and reliability.

Drawn with scikit-learn's display classes on matplotlib's Agg backend, returned as PNG bytes so
the caller writes them with the rest of the outputs, all or nothing.
"""

from __future__ import annotations

import io
from typing import Any, cast

from dynahate.eval.metrics import ECE_BINS, INVALID
from dynahate.eval.predictions import Prediction
from dynahate.plugin.labels import HATE, LABELS


def png_bytes(fig) -> bytes:
    """The figure laid out tightly once, as PNG bytes at 120 dpi; the figure is closed."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    # tight_layout leaves a placeholder layout engine, for which savefig lays the figure out again in a draw of its
    # own before the one it renders; with none set it renders once, and the PNG is byte for byte the same
    fig.set_layout_engine(None)
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return buffer.getvalue()


def _figure(title: str):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4.4))
    ax.set_title(title, fontsize=10)
    return fig, ax


def split_plots(name: str, predictions: list[Prediction], mode: str,
                calibration: dict[str, Any] | None = None) -> dict[str, bytes]:
    """``{file name: PNG bytes}`` for one split; with its ``calibration`` entry (a temperature fitted on dev) the
    reliability plot shows the calibrated scores beside the raw ones, labelled by
    :func:`~dynahate.eval.decision.calibration.calibration_label` (``not meaningful`` when it is no fit)."""
    from sklearn.metrics import (
        ConfusionMatrixDisplay,
        PrecisionRecallDisplay,
        RocCurveDisplay,
    )

    y_true = [p.gold for p in predictions]
    y_pred = [p.pred if p.pred is not None else INVALID for p in predictions]
    columns = list(LABELS) + ([INVALID] if INVALID in y_pred else [])
    out = {}
    fig, ax = _figure(f"{name}: confusion matrix ({mode} mode, {len(predictions)} posts)")
    ConfusionMatrixDisplay.from_predictions(y_true, y_pred, labels=columns, ax=ax, colorbar=False, cmap="Blues")
    if INVALID in columns:  # the invalid column has no gold row
        ax.set_ylim(len(LABELS) - 0.5, -0.5)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    out[f"{name}_confusion_matrix.png"] = png_bytes(fig)
    if mode != "score" or len(set(y_true)) < 2:
        return out

    from sklearn.calibration import CalibrationDisplay

    y = y_true  # gold label strings; pos_label names the positive class on the axes
    p_hate = [cast(float, p.p_hate) for p in predictions]  # score mode
    fig, ax = _figure(f"{name}: ROC, positive class 'hate'")
    RocCurveDisplay.from_predictions(y, p_hate, pos_label=HATE, ax=ax, name="adapter", plot_chance_level=True)
    out[f"{name}_roc.png"] = png_bytes(fig)
    fig, ax = _figure(f"{name}: precision-recall, positive class 'hate'")
    PrecisionRecallDisplay.from_predictions(y, p_hate, pos_label=HATE, ax=ax, name="adapter",
                                            plot_chance_level=True)
    out[f"{name}_pr.png"] = png_bytes(fig)
    fig, ax = _figure(f"{name}: reliability of p_hate ({ECE_BINS} bins)")
    CalibrationDisplay.from_predictions(y, p_hate, n_bins=ECE_BINS, pos_label=HATE, ax=ax, name="adapter")
    if calibration is not None:
        from dynahate.eval.decision.calibration import calibration_label
        from dynahate.inference.decision_rule import apply_temperature

        calibrated = apply_temperature(p_hate, calibration["temperature"])
        CalibrationDisplay.from_predictions(y, calibrated, n_bins=ECE_BINS, pos_label=HATE, ax=ax,
                                            name=f"calibrated ({calibration_label(calibration)})")
    out[f"{name}_reliability.png"] = png_bytes(fig)
    return out
