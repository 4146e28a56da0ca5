"""How long the decision-ready entries (intervals, operating points, contrast, bias AUCs, calibration) take for a
split the size of Dynahate's test split (4,120 posts), next to the metrics eval computed before them, in one run.

    python benchmarks/decision_speed.py [--posts N] [--repeat K]

The posts are synthetic (scores, labels, targets and perturbation pairs drawn with a fixed seed; no text, no
model): what costs time is the number of posts, groups and resamples, not the text. Dev's scores are read from
an evaluation folder, as when `dynahate eval --split test` runs after `--split dev`. Prints the median seconds of
each over K repeats, their ratio, and the added time against the budget of one second.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import numpy as np

from dynahate.eval.artifacts import SplitOutcome, write_eval_outputs
from dynahate.eval.decision.bias import dynahate_groups
from dynahate.eval.decision.entries import SplitContext, add_decision_entries
from dynahate.eval.metrics import split_results
from dynahate.eval.predictions import Prediction
from dynahate.plugin.labels import LABELS

TARGETS = ["wom", "bla", "jew", "mus", "gay", "trans", "dis", "immig", "asi.chin", "arab", "ref", "bla, wom",
           "indig", "gay.man", "for", "pol", "none", "notgiven"]
ROUNDS = ["1", "2a", "2b", "3a", "4b"]
ADAPTER = {"path": "run", "sha256": "ab" * 32, "base_model": "org/base"}


def synthetic(n: int, seed: int) -> tuple[list[Prediction], list[dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    hate = rng.random(n) < 0.55
    p_hate = 1 / (1 + np.exp(-(rng.normal(0, 2.5, n) + np.where(hate, 2.0, -2.0))))
    metas = [{"acl.id": f"acl{i}", "acl.id.matched": f"acl{i - 1}" if i % 2 else None, "round": ROUNDS[i % 5],
              "level": "perturbation" if i % 2 else "original", "target": TARGETS[int(rng.integers(len(TARGETS)))]}
             for i in range(n)]  # every odd row perturbs the row before it
    predictions = [Prediction(f"acl{i}", LABELS[0] if hate[i] else LABELS[1],
                              LABELS[0] if p_hate[i] >= 0.5 else LABELS[1], p_hate=float(p_hate[i]),
                              round=metas[i]["round"]) for i in range(n)]
    return predictions, metas


def outcome(predictions: list[Prediction]) -> SplitOutcome:
    results = split_results(predictions, "score", 1.0, None)
    results["adapter"] = ADAPTER
    return SplitOutcome(predictions, results)


def main() -> None:
    parser = argparse.ArgumentParser(description=cast(str, __doc__).splitlines()[0])
    parser.add_argument("--posts", type=int, default=4120)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    test, metas = synthetic(args.posts, 1)
    context_metas = cast("list[dict[str, Any] | None]", metas)  # as SplitContext holds them
    dev, _ = synthetic(4100, 2)
    groups = dynahate_groups(metas, [p.gold == LABELS[0] for p in test], {m["acl.id"]: m["target"] for m in metas})
    before, added = [], []
    with tempfile.TemporaryDirectory() as folder:
        write_eval_outputs(Path(folder), {"dev": outcome(dev)})
        for _ in range(args.repeat):
            start = time.perf_counter()
            outcomes = {"test": outcome(test)}
            before.append(time.perf_counter() - start)
            start = time.perf_counter()
            add_decision_entries(outcomes, {"test": SplitContext(context_metas, groups)}, Path(folder))
            added.append(time.perf_counter() - start)
    res = outcomes["test"].results  # pyright: ignore[reportPossiblyUnboundVariable]  # --repeat is at least 1
    assert res["calibration"] and len(res["operating_points"]) == 4, "dev's scores were not used"
    print(f"{args.posts} test posts (dev: 4100 read from its folder); {len(res['bias']['groups'])} target groups, "
          f"{res['contrast']['pairs']} contrast pairs, {res['intervals']['resamples']} resamples; "
          f"median of {args.repeat}")
    print(f"metrics eval computed before (sklearn):  {statistics.median(before):.3f} s")
    print(f"decision-ready entries (added):          {statistics.median(added):.3f} s")
    print(f"added / before: {statistics.median(added) / statistics.median(before):.1f}x; "
          f"added / the 1 s budget: {statistics.median(added):.2f}")


if __name__ == "__main__":
    main()
