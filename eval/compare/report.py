"""How a comparison (:func:`dynahate.eval.compare.comparison.compare_evaluations`) is shown: the table and the plot.

- :func:`comparison_table`: per split, n, accuracy of A and B, the difference B - A with its
  bootstrap interval, the same for macro-F1, agreement, the discordant counts b/c (b: A right and B
  wrong, c: A wrong and B right), McNemar's p and the invalid (null) answers of each; then the
  split's rounds, or HateCheck's functional tests (accuracy only); then, when both sides have them,
  contrast-pair consistency and each target group's BPSN AUC with their paired intervals. Only
  numbers, split, round, test and group names: never a post. A value read from the files is shown
  as :func:`dynahate.eval.compare.comparison.plain_name` names it (as written when it is a short token,
  else described), the adapter's repo id, SHA-256 and commit as the comparison holds them (in their
  own form or described).
- :func:`per_round_plot`: accuracy per Dynahate round, A and B side by side, one panel per split
  that has rounds, each bar's accuracy written on it; PNG bytes, so the caller writes it with the JSON.
"""

from __future__ import annotations

import re
from typing import Any

from dynahate.eval.compare.comparison import plain_name

HEADER = (f"{'':22s} {'n':>6s}  {'acc A':>6s}  {'acc B':>6s}  {'diff [CI]':<25s}  {'F1 A':>6s}  {'F1 B':>6s}  "
          f"{'diff [CI]':<25s}  {'agree':>6s}  {'b/c':>9s}  {'McNemar p':>9s}  {'null A/B':>8s}")


def _signed(value: float) -> str:
    return f"{value:+.4f}"


def difference_text(metric: dict[str, Any]) -> str:
    """A compared metric's difference B - A and its interval, signed: ``+0.0123 [-0.0050, +0.0290]`` (the table's
    cell, and the model card's)."""
    low, high = metric["interval"]
    return f"{_signed(metric['difference'])} [{_signed(low)}, {_signed(high)}]"


def _metric_cells(metric: dict[str, Any] | None) -> str:
    if metric is None:
        return f"{'-':>6s}  {'-':>6s}  {'-':<25s}"
    interval = difference_text(metric)
    return f"{metric['a']:6.4f}  {metric['b']:6.4f}  {interval:<25s}"


def row(name: str, entry: dict[str, Any]) -> str:
    """One line of the table: a split, a round or a functional test."""
    discordant = entry["discordant"]
    counts = f"{discordant['a_right_b_wrong']}/{discordant['a_wrong_b_right']}"
    invalid = f"{entry['invalid']['a']}/{entry['invalid']['b']}"
    return (f"{name:22s} {entry['n']:6d}  {_metric_cells(entry['accuracy'])}  {_metric_cells(entry.get('macro_f1'))}  "
            f"{entry['agreement']:6.4f}  {counts:>9s}  {entry['mcnemar_p']:9.4g}  {invalid:>8s}")


def _prefix(value: Any) -> str:
    """A hex digest's first 12 digits; anything else (the comparison's description of a value that was not one)
    as it is."""
    text = str(value)
    return text[:12] if re.fullmatch(r"[0-9a-f]+", text) else text


def _adapter(side: dict[str, Any], entry_side: dict[str, Any]) -> str:
    adapter = entry_side.get("adapter") or {}
    parts = [f"{side['name']} ({side['path']}"]
    if adapter.get("sha256"):
        parts.append(f", adapter sha256 {_prefix(adapter['sha256'])}")
    if adapter.get("commit"):
        parts.append(f", commit {_prefix(adapter['commit'])}")
    return "".join(parts) + ")"


def comparison_table(comparison: dict[str, Any]) -> str:
    """The printed form of a comparison (several lines, no trailing newline)."""
    method = comparison["method"]
    first = next(iter(comparison["splits"].values()))
    percent = f"{method['confidence'] * 100:g}%"
    lines = [f"A: {_adapter(comparison['a'], first['a'])}",
             f"B: {_adapter(comparison['b'], first['b'])}",
             f"diff = B - A with its {percent} paired bootstrap interval ({method['resamples']} resamples of the "
             f"posts, seed {method['seed']}); b/c = posts only A / only B got right; McNemar exact p on them",
             "null predictions (invalid answers) count as wrong; 'null A/B' is how many each gave", "", HEADER]
    for key, entry in comparison["splits"].items():
        split = plain_name(key)
        lines.append(row(split, entry))
        if entry.get("rounds"):
            lines.append(f"  per round ({split}):")
            lines += [row(f"    {plain_name(name)}", group) for name, group in entry["rounds"].items()]
        if entry.get("functionalities"):
            lines.append(f"  per functional test ({split}, accuracy only):")
            lines += [row(f"    {plain_name(name)}", group) for name, group in entry["functionalities"].items()]
        lines += _decision_lines(split, entry)
    for note in comparison.get("notes", []):
        lines.append(f"note: {note}")
    return "\n".join(lines)


def _difference_cells(metric: dict[str, Any]) -> str:
    low, high = metric["interval"]
    return (f"A {metric['a']:.4f}  B {metric['b']:.4f}  diff {_signed(metric['difference'])} "
            f"[{_signed(low)}, {_signed(high)}]")


def _decision_lines(split: str, entry: dict[str, Any]) -> list[str]:
    """Contrast-pair consistency and per-group BPSN AUC, each with its paired interval, when both sides have them."""
    lines = []
    contrast = entry.get("contrast")
    if contrast and contrast.get("consistency"):
        lines.append(f"  contrast pairs ({split}, {contrast['pairs']} pairs right on both sides): "
                     f"{_difference_cells(contrast['consistency'])}")
    bias = entry.get("bias")
    if bias and any(group["bpsn_auc"] for group in bias["groups"].values()):
        lines.append(f"  BPSN AUC per target group ({split}; groups with fewer than {bias['min_examples']} posts of "
                     "either class left out):")
        lines += [f"    {name:20s} {group['size']:6d}  {_difference_cells(group['bpsn_auc'])}"
                  for name, group in bias["groups"].items() if group["bpsn_auc"]]
    return lines


def has_rounds(comparison: dict[str, Any]) -> bool:
    return any(entry.get("rounds") for entry in comparison["splits"].values())


def per_round_plot(comparison: dict[str, Any]) -> bytes:
    """Accuracy per round, A and B side by side, one panel per split with rounds (call only if :func:`has_rounds`)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    import numpy as np

    from dynahate.eval.plots import png_bytes

    splits = [(split, entry["rounds"]) for split, entry in comparison["splits"].items() if entry.get("rounds")]
    fig, axes = plt.subplots(1, len(splits), figsize=(1.5 + 1.1 * sum(len(r) for _, r in splits), 4.2),
                             squeeze=False, sharey=True)
    width = 0.38
    for ax, (split, rounds) in zip(axes[0], splits, strict=False):
        names = list(rounds)
        x = np.arange(len(names))
        for offset, side, colour in ((-width / 2, "a", "#7f8c8d"), (width / 2, "b", "#2980b9")):
            values = [rounds[name]["accuracy"][side] for name in names]
            label = f"{side.upper()}: {comparison[side]['name']}"
            ax.bar(x + offset, values, width, color=colour, label=label)
            for position, value in zip(x + offset, values, strict=False):
                ax.text(position, value + 0.01, f"{value:.3f}", ha="center", fontsize=6)
        ax.set_xticks(x, [f"{name}\nn={rounds[name]['n']}" for name in names], fontsize=8)
        ax.set_ylim(0, 1.1)
        ax.set_title(plain_name(split), fontsize=10)
    axes[0][0].set_ylabel("accuracy")
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.suptitle("Accuracy per Dynahate round, A and B side by side", fontsize=10)
    return png_bytes(fig)
