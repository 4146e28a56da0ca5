"""Drawing an evaluation's PNGs: rendered once (``dynahate.eval.plots.png_bytes``) against laid out twice.

``Figure.tight_layout`` leaves a placeholder layout engine on the figure, and ``savefig`` then draws the figure once
without rendering, to lay it out, before the draw it renders. ``png_bytes`` removes the engine after the tight layout,
so the figure is drawn once. This script draws every kind of PNG the project makes: the plots of a score-mode split
of 400 posts (confusion matrix, ROC, precision-recall, reliability with a fitted temperature) and of a generate-mode
split with invalid answers, HateCheck's accuracy per functional test and compare's accuracy per round, both ways
alternately ``--runs`` times in this one process, checks that every PNG is byte for byte the same, and prints the
median time of each and the ratio.

    python benchmarks/plot_speed.py [--runs 7]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable
from typing import Any, cast

import numpy as np

from dynahate.eval import plots
from dynahate.eval.compare.report import per_round_plot
from dynahate.eval.decision.calibration import calibration, fit_temperature
from dynahate.eval.hatecheck.results import GROUPS, functionality_plot
from dynahate.eval.predictions import Prediction


def _laid_out_twice(fig) -> bytes:
    """``png_bytes`` as matplotlib does it by default: the placeholder engine left, so savefig lays out again."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return buffer.getvalue()


_FUNCTIONALITIES = {f"{prefix}_case_{i}": {"n": 40 + i, "accuracy": 0.5 + 0.2 * i, "gold": gold}
                    for prefix in GROUPS for i, gold in enumerate(("hate", "not hate", "mixed"))}
_COMPARISON = {"a": {"name": "adapter A"}, "b": {"name": "adapter B"},
               "splits": {split: {"rounds": {name: {"n": 500 + 10 * i, "accuracy": {"a": 0.8 + 0.01 * i,
                                                                                     "b": 0.82 + 0.012 * i}}
                                             for i, name in enumerate(("R1", "R2", "R3", "R4"))}}
                          for split in ("dev", "test")}}


def _splits() -> list[tuple[str, list[Prediction], str, Any]]:
    rng = np.random.default_rng(0)
    hate = rng.random(400) < 0.5
    p = 1 / (1 + np.exp(-(np.where(hate, 1.5, -1.5) + rng.normal(0, 1.5, 400))))
    gold = ["hate" if h else "not hate" for h in hate]
    scored = [Prediction(f"acl{i}", gold[i], "hate" if p[i] >= 0.5 else "not hate", p_hate=float(p[i]))
              for i in range(400)]
    generated = [Prediction(f"acl{i}", gold[i], None if i % 37 == 0 else scored[i].pred, raw="x") for i in range(400)]
    fitted = calibration(list(hate), list(p), fit_temperature(list(hate), list(p)), fitted_on="dev")
    return [("test", scored, "score", fitted), ("dev", generated, "generate", None)]


def _draw(render: Callable, splits) -> tuple[dict[str, bytes], float]:
    plots.png_bytes = render  # split_plots calls it through the module
    start = time.perf_counter()
    out = {}
    for name, predictions, mode, calibrated in splits:
        out.update(plots.split_plots(name, predictions, mode, calibrated))
    out["hatecheck_functionalities.png"] = functionality_plot(_FUNCTIONALITIES, "score")
    out["compare_rounds.png"] = per_round_plot(_COMPARISON)
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=cast(str, __doc__).splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="draws of every plot each way, alternately (default: 7)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    once, splits = plots.png_bytes, _splits()
    ways = {"once": once, "twice": _laid_out_twice}
    pngs = 0
    for render in ways.values():  # warm-up: matplotlib's and scikit-learn's imports, the font cache
        pngs = len(_draw(render, splits)[0])
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(args.runs):
        drawn = {}
        for name, render in ways.items():
            drawn[name], seconds = _draw(render, splits)
            times[name].append(seconds)
        if drawn["once"] != drawn["twice"]:
            raise SystemExit("the two ways drew different PNGs: " + ", ".join(
                name for name in drawn["once"] if drawn["once"][name] != drawn["twice"].get(name)))
    plots.png_bytes = once
    twice, single = statistics.median(times["twice"]), statistics.median(times["once"])
    print(f"median of {args.runs} draws of {pngs} PNGs: laid out twice {twice:.3f} s, "
          f"rendered once {single:.3f} s, ratio {twice / single:.2f}x (the same bytes)")


if __name__ == "__main__":
    main()
