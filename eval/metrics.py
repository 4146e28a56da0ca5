"""Metrics of one evaluated split, computed with scikit-learn.

Invalid predictions (a generated answer that is neither label) stay in the data as the pseudo
label ``"invalid"``: they count as wrong in accuracy and as misses in recall, and they are never
assigned to a class. Per-class precision, recall, F1 and support, and macro-F1, are over the two
real labels. Score mode adds ROC-AUC and PR-AUC (average precision) for the positive class
``hate``, the Brier score of ``p_hate``, and the expected calibration error: the confidence of
the predicted label, max(p_hate, 1 - p_hate), always lies in [0.5, 1]; it is cut into 10
equal-width bins over [0.5, 1] (right-closed, the first bin also holds 0.5), and ECE is
|accuracy - mean confidence| of each bin weighted by its share of the posts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any, cast

from dynahate.eval.predictions import Prediction
from dynahate.plugin.labels import HATE, LABELS
from dynahate.plugin.metadata import round_group, round_group_order

INVALID = "invalid"
ECE_BINS = 10
BREAKDOWN_KEYS = ("round", "type", "target")


def _y(predictions: list[Prediction]) -> tuple[list[str | None], list[str]]:
    return [p.gold for p in predictions], [p.pred if p.pred is not None else INVALID for p in predictions]


def classification_metrics(predictions: list[Prediction]) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, precision_recall_fscore_support

    # scikit-learn has no type annotations: its defaults ("warn") would type zero_division as str, its results unknown
    scores: Callable[..., Any] = precision_recall_fscore_support
    report: Callable[..., Any] = classification_report
    y_true, y_pred = _y(predictions)
    precision, recall, f1, support = scores(
        y_true, y_pred, labels=list(LABELS), zero_division=0
    )
    columns = [*LABELS, INVALID]
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(sum(f1) / len(f1)),
        "precision": dict(zip(LABELS, map(float, precision), strict=False)),
        "recall": dict(zip(LABELS, map(float, recall), strict=False)),
        "f1": dict(zip(LABELS, map(float, f1), strict=False)),
        "support": dict(zip(LABELS, map(int, support), strict=False)),
        "invalid": y_pred.count(INVALID),
        "examples": len(predictions),
        "confusion_matrix": {
            "rows (gold)": list(LABELS),
            "columns (predicted)": columns,
            "counts": confusion_matrix(y_true, y_pred, labels=columns)[: len(LABELS)].tolist(),
        },
        "report": report(y_true, y_pred, labels=list(LABELS), digits=4, zero_division=0),
    }


def expected_calibration_error(y_true: list[int], p_positive: list[float], bins: int = ECE_BINS) -> float:
    """ECE over the confidence of the predicted class (max(p, 1-p)), ``bins`` equal-width bins on [0.5, 1].

    Bins are right-closed, (0.5, 0.55], …, (0.95, 1.0] for 10 bins, and the first also holds 0.5
    itself (``p == 0.5`` counts as a ``hate`` prediction of confidence 0.5).
    """
    import numpy as np

    p = np.asarray(p_positive, dtype=float)
    y = np.asarray(y_true, dtype=int)
    predicted = (p >= 0.5).astype(int)
    confidence = np.where(predicted == 1, p, 1 - p)
    correct = (predicted == y).astype(float)
    edges = np.linspace(0.5, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            ece += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(ece)


def probability_metrics(predictions: list[Prediction]) -> dict[str, Any]:
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y_true = [int(p.gold == HATE) for p in predictions]
    p_hate = [float(cast(float, p.p_hate)) for p in predictions]  # score mode
    out: dict[str, Any] = {
        "brier": float(brier_score_loss(y_true, p_hate, pos_label=1)),
        "ece": expected_calibration_error(y_true, p_hate),
        "ece_bins": ECE_BINS,
    }
    if len(set(y_true)) < 2:
        out.update(roc_auc=None, pr_auc=None, notes=["roc_auc and pr_auc need both classes in the gold labels"])
    else:
        out.update(roc_auc=float(roc_auc_score(y_true, p_hate)), pr_auc=float(average_precision_score(y_true, p_hate)))
    return out


def _subgroup(predictions: list[Prediction]) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, f1_score

    f1: Callable[..., Any] = f1_score  # scikit-learn has no type annotations (zero_division's default is "warn")
    y_true, y_pred = _y(predictions)
    present = [label for label in LABELS if label in y_true]
    return {
        "examples": len(predictions),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        # macro-F1 over the labels present in this group's gold labels
        "macro_f1": float(f1(y_true, y_pred, labels=present, average="macro", zero_division=0)),
    }


def breakdowns(predictions: list[Prediction], metas: list[dict[str, Any] | None]) -> dict[str, Any]:
    """Accuracy and macro-F1 per value of ``round``, ``type`` and ``target``, and per ``round_group``
    (R1-R4: rounds ``2a`` and ``2b`` are R2, :func:`dynahate.plugin.metadata.round_group`)."""
    out: dict[str, Any] = {}
    for key in BREAKDOWN_KEYS:
        groups: dict[str, list[Prediction]] = defaultdict(list)
        for prediction, meta in zip(predictions, metas, strict=False):
            if meta is not None and meta.get(key) is not None:
                groups[str(meta[key])].append(prediction)
        if groups:
            out[key] = {value: _subgroup(group) for value, group in sorted(groups.items())}
        if key == "round" and groups:
            merged: dict[str, list[Prediction]] = defaultdict(list)
            for value, group in groups.items():
                merged[round_group(value)].extend(group)
            out["round_group"] = {name: _subgroup(merged[name]) for name in sorted(merged, key=round_group_order)}
    return out


def split_results(predictions: list[Prediction], mode: str, seconds: float | None,
                         metas: list[dict[str, Any] | None] | None = None) -> dict[str, Any]:
    """The object ``eval_results.json`` holds for one split."""
    if not predictions:
        raise ValueError("no predictions to evaluate")
    results: dict[str, Any] = {"mode": mode, **classification_metrics(predictions)}
    results["seconds"] = seconds
    results["examples_per_second"] = (len(predictions) / seconds) if seconds else None
    if mode == "score":
        results.update(probability_metrics(predictions))
    if metas is not None and any(m is not None for m in metas):
        results["breakdowns"] = breakdowns(predictions, metas)
    return results
