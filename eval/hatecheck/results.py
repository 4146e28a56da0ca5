"""HateCheck results: per functional test and per target group, the predictions file's lines, the plot.

- ``functionalities``: for each functional test in the file (29 in HateCheck), in the paper's
  order, ``{gold, n, correct, accuracy}``; ``gold`` is the test's label (``hate`` / ``not hate``;
  ``mixed`` if a file gives one test both labels). An invalid answer is wrong.
- ``targets``: for each ``target_ident``, ``{label: {n, correct, accuracy}}`` over its hateful and
  non-hateful cases; cases without a target are counted in ``cases_without_target``.
- ``hatecheck_predictions.jsonl`` lines: ``case_id``, ``functionality``, ``gold``, ``pred``, then
  ``p_hate`` (score mode) or ``raw`` (generate mode); never the test case.
- ``hatecheck_functionalities.png``: accuracy per functional test, grouped as in the paper
  (derogation, threatening language, slurs, ... spelling variations), hateful and non-hateful
  tests in two colours.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from dynahate.eval.hatecheck.data import HateCheckCase
from dynahate.eval.predictions import Prediction
from dynahate.plugin.labels import HATE, LABELS

SPLIT_NAME = "hatecheck"
PLOT_NAME = f"{SPLIT_NAME}_functionalities.png"
MIXED = "mixed"
# The paper's groups of functional tests (Table 1), by the prefix of the functionality's name.
GROUPS = {
    "derog": "derogation", "threat": "threatening language", "slur": "slur usage", "profanity": "profanity usage",
    "ref": "pronoun reference", "negate": "negation", "phrase": "phrasing", "ident": "non-hateful group identity",
    "counter": "counter speech", "target": "abuse against non-protected targets", "spell": "spelling variations",
}
WEAKEST = 5


def group_of(functionality: str) -> str:
    prefix = functionality.split("_", 1)[0]
    return GROUPS.get(prefix, "other")


def _order(functionality: str) -> int:
    """The paper's place of the test's group; unknown groups last."""
    prefixes = list(GROUPS)
    prefix = functionality.split("_", 1)[0]
    return prefixes.index(prefix) if prefix in prefixes else len(prefixes)


def _score(pairs: list[tuple[HateCheckCase, Prediction]]) -> dict[str, Any]:
    correct = sum(prediction.pred == case.gold for case, prediction in pairs)
    return {"n": len(pairs), "correct": correct, "accuracy": correct / len(pairs)}


def functionality_results(cases: list[HateCheckCase], predictions: list[Prediction]) -> dict[str, dict[str, Any]]:
    """Functional test -> ``{gold, n, correct, accuracy}``, grouped in the paper's order (file order within)."""
    by_test: dict[str, list[tuple[HateCheckCase, Prediction]]] = defaultdict(list)
    for case, prediction in zip(cases, predictions, strict=True):
        by_test[case.functionality].append((case, prediction))
    ordered = sorted(by_test, key=_order)  # stable: file order within a group
    out = {}
    for name in ordered:
        golds = {case.gold for case, _ in by_test[name]}
        out[name] = {"gold": golds.pop() if len(golds) == 1 else MIXED, **_score(by_test[name])}
    return out


def target_results(cases: list[HateCheckCase], predictions: list[Prediction]) -> dict[str, dict[str, Any]]:
    """Target group -> ``{label: {n, correct, accuracy}}`` for the labels its cases have."""
    by_target: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for case, prediction in zip(cases, predictions, strict=True):
        if case.target is not None:
            by_target[case.target][case.gold].append((case, prediction))
    return {target: {label: _score(groups[label]) for label in LABELS if label in groups}
            for target, groups in sorted(by_target.items())}


def hatecheck_results(cases: list[HateCheckCase], predictions: list[Prediction]) -> dict[str, Any]:
    """The keys ``dynahate hatecheck`` adds to the usual split results."""
    return {"functionalities": functionality_results(cases, predictions),
            "targets": target_results(cases, predictions),
            "cases_without_target": sum(case.target is None for case in cases)}


def weakest(functionalities: dict[str, dict[str, Any]], count: int = WEAKEST) -> list[tuple[str, dict[str, Any]]]:
    """The ``count`` functional tests with the lowest accuracy (ties: fewer cases right, then by name)."""
    return sorted(functionalities.items(), key=lambda item: (item[1]["accuracy"], item[1]["correct"], item[0]))[:count]


def prediction_lines(cases: list[HateCheckCase], predictions: list[Prediction]) -> list[dict[str, Any]]:
    """The lines of ``hatecheck_predictions.jsonl``, in file order: no test case text."""
    lines = []
    for case, prediction in zip(cases, predictions, strict=True):
        line = {"case_id": case.case_id, "functionality": case.functionality, **prediction.to_json()}
        del line["id"]  # the same as case_id
        lines.append(line)
    return lines


def functionality_plot(functionalities: dict[str, dict[str, Any]], mode: str) -> bytes:
    """Horizontal bars: accuracy per functional test, grouped, hateful and non-hateful in two colours."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from dynahate.eval.plots import png_bytes

    names = list(functionalities)
    colours = {HATE: "#c0392b", MIXED: "#7f8c8d"}
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.32 * len(names)))
    positions, labels, group_starts, previous = [], [], [], None
    y = 0.0
    for name in names:
        group = group_of(name)
        if group != previous:
            if previous is not None:
                y += 0.6  # a gap between groups
            group_starts.append((y, group))
            previous = group
        positions.append(y)
        labels.append(f"{name} (n={functionalities[name]['n']})")
        y += 1
    ax.barh(positions, [functionalities[name]["accuracy"] for name in names],
            color=[colours.get(functionalities[name]["gold"], "#2980b9") for name in names])
    for position, name in zip(positions, names, strict=False):  # the number too: a bar of 0 is not seen
        ax.text(functionalities[name]["accuracy"] + 0.01, position, f"{functionalities[name]['accuracy']:.2f}",
                fontsize=7, va="center")
    ax.set_yticks(positions, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.1)  # room for the numbers
    ax.set_xticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.axvline(0.5, color="grey", linewidth=0.6, linestyle=":")
    for start, group in group_starts:
        ax.text(1.01, start, group, fontsize=7, va="center", transform=ax.get_yaxis_transform())  # right of the axes
    ax.set_xlabel("accuracy")
    ax.set_title(f"HateCheck: accuracy per functional test ({mode} mode)", fontsize=10)
    ax.legend(handles=[Patch(color=colours[HATE], label="gold: hateful"),
                       Patch(color="#2980b9", label="gold: non-hateful")],
              fontsize=7, loc="lower right")
    return png_bytes(fig)
