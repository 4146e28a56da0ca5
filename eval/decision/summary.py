"""The decision-ready entries of a split in a few printed lines (numbers and group names only, never a post)."""

from __future__ import annotations

from typing import Any

from dynahate.eval.decision.calibration import calibration_label


def _interval(values: list[float] | None) -> str:
    return f"[{values[0]:.4f}, {values[1]:.4f}]" if values else "n/a"


def decision_lines(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    spans = results.get("intervals")
    if spans:
        parts = [f"accuracy {_interval(spans['accuracy'])}", f"macro-F1 {_interval(spans['macro_f1'])}"]
        if spans.get("roc_auc"):
            parts.append(f"ROC-AUC {_interval(spans['roc_auc'])}")
        lines.append(f"{spans['confidence'] * 100:g}% intervals: " + ", ".join(parts))
    points: list[dict[str, Any]] = results.get("operating_points") or []
    for point in points:
        if point["chosen_on"]:
            recall = f"{point['recall_hate']:.4f}" if point["recall_hate"] is not None else "n/a"
            fpr = f"{point['fpr']:.4f}" if point["fpr"] is not None else "n/a"
            lines.append(f"{point['name']} (threshold {point['threshold']:.4f}, chosen on {point['chosen_on']}): "
                         f"recall of hate {recall}, false-positive rate {fpr}, macro-F1 {point['macro_f1']:.4f}")
    pairs = results.get("contrast")
    if pairs and pairs["pairs"]:
        lines.append(f"contrast pairs: {pairs['both_correct']}/{pairs['pairs']} right on both sides "
                     f"(consistency {pairs['consistency']:.4f})")
    bias = results.get("bias")
    if bias:
        means = bias["generalized_mean"]
        shown = ", ".join(f"{key} {means[key]:.4f}" if means[key] is not None else f"{key} n/a" for key in means)
        lines.append(f"bias AUCs, generalized mean (power {bias['power']}) over target groups: {shown}")
    calibration = results.get("calibration")
    if calibration:
        lines.append(f"calibrated ({calibration_label(calibration)}): "
                     f"ECE {results.get('ece', float('nan')):.4f} -> {calibration['ece']:.4f}, "
                     f"Brier {results.get('brier', float('nan')):.4f} -> {calibration['brier']:.4f}")
    notes: list[str] = results.get("notes") or []
    lines += [f"note: {note}" for note in notes]
    return lines
