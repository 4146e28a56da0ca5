"""``dynahate compare``: compare two evaluations of adapters on the same posts (paired bootstrap, McNemar).

A and B are folders ``dynahate eval`` wrote (or their ``eval_results.json``). The work is in
:mod:`dynahate.eval.compare.load` (reading both, each file and line checked),
:mod:`dynahate.eval.compare.comparison` (joining by id, refusals, the numbers) and
:mod:`dynahate.eval.compare.report` (table and plot); this module checks the options and the output
path first, prints the table, and writes ``--output`` (JSON) and the per-round plot beside it
(``<stem>_per_round.png``), both or neither. No model is loaded; nothing printed or written holds a post.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from dynahate.core.arg_types import non_negative_int, open_fraction, positive_int_at_most
from dynahate.eval.compare.paired_stats import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, DEFAULT_SEED, MAX_RESAMPLES

if TYPE_CHECKING:
    from dynahate.eval.compare.load import Evaluation

ORDER = 55
HELP = "compare two evaluations of the same posts: accuracy/macro-F1 differences (paired bootstrap), McNemar"
PLOT_SUFFIX = "_per_round.png"
EPILOG = """\
what is compared:
  for each split both evaluations hold (or each --split), the posts are joined by id (HateCheck:
  case_id); different post sets, a repeated id or a gold label that differs is refused, naming
  the difference, and so is a predictions file that does not hold as many posts (and, when
  recorded, the same ids) as its split's fingerprint says, and so are different posts behind the
  same ids (each split's fingerprint in eval_results.json: another data version, or data prepared
  with --normalize-text) unless --allow-different-posts, which says so in the table and the JSON.
  Then: accuracy and macro-F1 of A and B, the difference B - A with a paired bootstrap percentile interval (the posts
  resampled with replacement, the same for A and B), McNemar's exact test on the posts only one
  of them got right (scipy.stats.binomtest), and how often they agree; the same per Dynahate
  round (R1-R4, when the predictions record each post's round) and, for hatecheck, per
  functional test; contrast-pair consistency and each target group's BPSN AUC, with paired intervals,
  when both predictions files record pairs and groups. A null prediction (an invalid generated
  answer) counts as wrong.

environment:
  none read. No model is loaded and nothing is downloaded.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("a", type=Path, metavar="A",
                        help="the first evaluation: a folder `dynahate eval` wrote, or its eval_results.json (the "
                             "baseline: differences are B - A)")
    parser.add_argument("b", type=Path, metavar="B", help="the second evaluation, likewise")
    parser.add_argument("--split", action="extend", nargs="+", metavar="SPLIT",
                        help="splits to compare, each held by both (repeatable; default: every split both hold)")
    parser.add_argument("--output", type=Path, metavar="FILE",
                        help=f"write the comparison as JSON here, and the per-round plot beside it as "
                             f"<stem>{PLOT_SUFFIX}, both replaced atomically; neither may be a file A or B records, "
                             "an existing file of A's or B's folder or of the adapter run either records (default: "
                             "print the table only)")
    parser.add_argument("--resamples", type=positive_int_at_most(MAX_RESAMPLES), default=DEFAULT_RESAMPLES,
                        metavar="N", help=f"bootstrap resamples (default {DEFAULT_RESAMPLES}; at most {MAX_RESAMPLES}, "
                                          "about 0.3 GiB of memory)")
    parser.add_argument("--allow-different-posts", action="store_true",
                        help="compare splits whose post fingerprints differ (other data behind the same ids); the "
                             "table and the JSON then say so (default: refused)")
    parser.add_argument("--seed", type=non_negative_int, default=DEFAULT_SEED, metavar="N",
                        help=f"seed of the bootstrap's numpy generator (default {DEFAULT_SEED})")
    parser.add_argument("--confidence", type=open_fraction, default=DEFAULT_CONFIDENCE, metavar="P",
                        help=f"the intervals' confidence level (default {DEFAULT_CONFIDENCE})")


def plot_path(output: Path) -> Path:
    return output.with_name(output.stem + PLOT_SUFFIX)


def _adapter_runs(evaluation: Evaluation) -> list[Path]:
    """The local folders of the adapters an evaluation records (``adapter.path`` of each split), those that exist."""
    runs = []
    for split in evaluation.results:
        path = (evaluation.adapter(split) or {}).get("path")
        if isinstance(path, str) and path and Path(path).is_dir() and Path(path) not in runs:
            runs.append(Path(path))
    return runs


def _check_output(output: Path, a: Path, b: Path) -> None:
    """Neither ``--output`` nor its plot may be a file either evaluation records, an existing file of either
    evaluation's folder (its subfolders too: an evaluation written into its adapter's run holds the adapter,
    tokenizer, trainer files and checkpoints), or an existing file of the adapter run either records; real
    paths are compared (links and hard links resolved). A new file in those folders is fine."""
    from dynahate.core.output_paths import refuse_overwriting_inputs
    from dynahate.eval.compare.load import load_evaluation

    evaluations = {"A": load_evaluation(a, "A"), "B": load_evaluation(b, "B")}
    read = [path for evaluation in evaluations.values() for path in evaluation.recorded_files()]
    for path, option in ((output, "--output"), (plot_path(output), "--output (its plot)")):
        refuse_overwriting_inputs(path, option, "this comparison", files=read,
                                  files_in=[evaluation.folder for evaluation in evaluations.values()])
        for side, evaluation in evaluations.items():
            refuse_overwriting_inputs(path, option, f"the evaluation of {side}", files_in=_adapter_runs(evaluation))


def run(args: argparse.Namespace) -> int:
    import json

    from dynahate.core.atomic import atomic_files
    from dynahate.core.output_paths import check_output_file
    from dynahate.eval.compare.comparison import compare_evaluations
    from dynahate.eval.compare.report import comparison_table, has_rounds, per_round_plot

    if args.output is not None:
        check_output_file(args.output, "--output")
        check_output_file(plot_path(args.output), "--output (its plot)")
        _check_output(args.output, args.a, args.b)
    comparison = compare_evaluations(args.a, args.b, args.split, resamples=args.resamples, seed=args.seed,
                                     confidence=args.confidence, allow_different_posts=args.allow_different_posts)
    written = []
    if args.output is not None:
        png = per_round_plot(comparison) if has_rounds(comparison) else None
        comparison["plot"] = plot_path(args.output).name if png else None
        if png is None:
            comparison["notes"].append("no per-round plot: no compared split records its posts' rounds")
        with atomic_files() as group:
            group.open(args.output).write(json.dumps(comparison, indent=2, allow_nan=False) + "\n")
            if png is not None:
                group.open(plot_path(args.output), "wb").write(png)
        written = [args.output] + ([plot_path(args.output)] if png else [])
    print(comparison_table(comparison))
    if written:
        print("wrote " + " and ".join(map(str, written)))
    return 0
