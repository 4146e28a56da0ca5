"""How long does ``dynahate compare``'s paired bootstrap take on a test-split-sized pair, and against what?

Draws 4,120 posts (the test split's size) with two made-up classifiers (accuracy 0.915 and 0.92),
then, in one run and side by side, computes the 95 % paired bootstrap interval of the accuracy
difference with 10,000 resamples two ways:

- ``paired_comparison`` (this project: each resample drawn as multinomial counts over the kinds of
  post, accuracy and macro-F1 from those counts), and
- ``scipy.stats.bootstrap(paired=True, vectorized=True, method="percentile")`` on the same posts
  (drawing post indices), accuracy only.

Prints both times, their ratio and both intervals (they agree within Monte Carlo error), then the
time of the whole ``compare_evaluations`` on the split and its 4 rounds as ``dynahate compare`` runs it.

    python benchmarks/compare_speed.py [--posts 4120] [--resamples 10000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import cast

import numpy as np

from dynahate.eval.artifacts import SplitOutcome, write_eval_outputs
from dynahate.eval.compare.comparison import compare_evaluations
from dynahate.eval.compare.paired_stats import paired_comparison
from dynahate.eval.metrics import split_results
from dynahate.eval.predictions import Prediction
from dynahate.plugin.labels import LABELS

ROUNDS = ("1", "2", "3", "4")


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def write_folder(folder: Path, gold, pred, rounds) -> None:
    predictions = [Prediction(f"acl{i}", LABELS[g], LABELS[p], p_hate=None, raw="x", round=r)
                   for i, (g, p, r) in enumerate(zip(gold, pred, rounds, strict=False))]
    results = split_results(predictions, "generate", 1.0, [{"round": r} for r in rounds])
    results["adapter"] = None
    write_eval_outputs(folder, {"test": SplitOutcome(predictions, results)})


def main() -> None:
    parser = argparse.ArgumentParser(description=cast(str, __doc__).splitlines()[0])
    parser.add_argument("--posts", type=int, default=4120)
    parser.add_argument("--resamples", type=int, default=10_000)
    args = parser.parse_args()
    from scipy.stats import bootstrap

    rng = np.random.default_rng(0)
    gold = rng.integers(0, 2, args.posts)
    pred_a, pred_b = (np.where(rng.random(args.posts) < q, gold, 1 - gold) for q in (0.915, 0.92))
    paired_comparison(gold[:10], pred_a[:10], pred_b[:10], n_labels=2, f1_labels=[0, 1], resamples=10)  # warm-up

    ours, ours_s = timed(lambda: paired_comparison(gold, pred_a, pred_b, n_labels=2, f1_labels=[0, 1],
                                                   resamples=args.resamples))
    right_a, right_b = (pred_a == gold).astype(float), (pred_b == gold).astype(float)
    theirs, theirs_s = timed(lambda: bootstrap(
        (right_a, right_b), lambda a, b, axis: b.mean(axis=axis) - a.mean(axis=axis), paired=True,
        vectorized=True, n_resamples=args.resamples, method="percentile",
        random_state=np.random.default_rng(1)))  # pyright: ignore[reportCallIssue]  # scipy's rng transition takes it
    low, high = ours["accuracy"]["interval"]
    print(f"{args.posts} posts, {args.resamples} resamples, accuracy difference {ours['accuracy']['difference']:+.4f}")
    print(f"paired_comparison (multinomial over kinds; accuracy and macro-F1): {ours_s:7.3f} s  "
          f"interval [{low:+.4f}, {high:+.4f}]")
    print(f"scipy.stats.bootstrap (post indices; accuracy only)           : {theirs_s:7.3f} s  "
          f"interval [{theirs.confidence_interval.low:+.4f}, {theirs.confidence_interval.high:+.4f}]")
    print(f"scipy / paired_comparison: {theirs_s / ours_s:.1f}x")

    rounds = [ROUNDS[i % 4] for i in range(args.posts)]
    with tempfile.TemporaryDirectory() as tmp:
        write_folder(Path(tmp) / "a", gold, pred_a, rounds)
        write_folder(Path(tmp) / "b", gold, pred_b, rounds)
        result, whole_s = timed(lambda: compare_evaluations(Path(tmp) / "a", Path(tmp) / "b",
                                                            resamples=args.resamples))
    assert len(result["splits"]["test"]["rounds"]) == 4
    print(f"compare_evaluations (read both folders, join, the split and its 4 rounds): {whole_s:.3f} s")


if __name__ == "__main__":
    main()
