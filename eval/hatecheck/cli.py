"""``dynahate hatecheck``: evaluate an adapter on HateCheck's functional tests (Röttger et al., ACL 2021).

The same model loading, engines (``--mode``), batching, token budget and all-or-nothing writing
under the results lock as ``dynahate eval`` (:mod:`dynahate.eval.adapter_eval`,
:mod:`dynahate.eval.artifacts`); the cases come from :mod:`dynahate.eval.hatecheck.data` and the
per-test results from :mod:`dynahate.eval.hatecheck.results`. Everything is checked before the model
loads: the adapter (a Hub repo id, :mod:`dynahate.inference.adapter_source`, needs ``--output-dir`` and
is fetched first), the output directory, the file (blob id, columns, labels) and every prompt's
length; with ``--report-to``, first, the trackers (:mod:`dynahate.eval.trackers`), which get the ``hatecheck``
entry last. Nothing printed holds a test case's text.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import cast

from dynahate.eval.decision.cli_args import add_decision_arguments, decision_options
from dynahate.eval.hatecheck.data import DEFAULT_HATECHECK_PATH, HATECHECK_BLOB, HATECHECK_COMMIT, HATECHECK_REPO
from dynahate.eval.trackers.cli_args import add_report_arguments
from dynahate.inference.cli_args import add_adapter_argument, add_engine_arguments, model_options, set_epilog

ORDER = 45
HELP = "evaluate an adapter on HateCheck's 29 functional tests (hatecheck entry of eval_results.json)"
SOURCE_EPILOG = f"""
HateCheck:
  test_suite_cases.csv of {HATECHECK_REPO} at commit {HATECHECK_COMMIT[:12]} (git blob
  {HATECHECK_BLOB}; CC BY 4.0). Without --csv or --download the cached copy
  {DEFAULT_HATECHECK_PATH} is read and must be that file. With --download, the standard proxy
  variables (https_proxy, no_proxy) are honoured. Labels: hateful -> hate, non-hateful -> not hate;
  the prompt is the training prompt.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_adapter_argument(parser)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--csv", type=Path, metavar="PATH",
                        help="a local test_suite_cases.csv; a file other than HateCheck's is evaluated with a "
                             f"warning and recorded as such (default: {DEFAULT_HATECHECK_PATH}, which must be "
                             "HateCheck's)")
    source.add_argument("--download", action="store_true",
                        help=f"fetch the file, verify its git blob id before writing, cache it at "
                             f"{DEFAULT_HATECHECK_PATH} (default: off)")
    add_engine_arguments(parser)
    add_decision_arguments(parser)
    add_report_arguments(parser)
    set_epilog(parser)
    parser.epilog = cast(str, parser.epilog) + SOURCE_EPILOG  # set_epilog set it


def _load(args: argparse.Namespace):
    """The verified source, its cases, the evaluation split built from them, and the source's warning (or None)."""
    from dynahate.eval.eval_data import EvalExample, EvalSplit
    from dynahate.eval.hatecheck.data import read_hatecheck_csv, resolve_source
    from dynahate.eval.hatecheck.results import SPLIT_NAME

    source, warning = resolve_source(args.csv, args.download)
    cases = read_hatecheck_csv(source.path)
    split = EvalSplit(SPLIT_NAME, source.path, [EvalExample(case.case_id, case.test_case, case.gold, line=case.line)
                                                for case in cases], source_blob=source.git_blob_sha1)
    return source, cases, split, warning


def run(args: argparse.Namespace) -> int:
    from dynahate.eval.distributed import from_environment, process_group
    from dynahate.eval.trackers.cli_args import prepare_from_args
    from dynahate.eval.trackers.report import Reporting
    from dynahate.inference.adapter_source import parse_adapter_spec, require_output_dir

    spec = parse_adapter_spec(args.adapter)  # before any network or model: a Hub adapter needs --output-dir
    require_output_dir(spec, args.output_dir)
    ranks = from_environment()
    # the trackers (installed, and the training's run found) before any model; rank 0 logs
    reporting = prepare_from_args(args, spec, args.output_dir or Path(args.adapter)) if ranks.is_main else Reporting()
    with process_group(ranks):
        return _run(args, spec, ranks, reporting)


def _run(args: argparse.Namespace, spec, ranks, reporting) -> int:
    from dynahate.eval.adapter_eval import HateCheckInput, Validated, evaluate_run
    from dynahate.eval.artifacts import SplitOutcome, check_eval_output_dir, summary_line
    from dynahate.eval.decision.dev_scores import check_reused_dev_files
    from dynahate.eval.decision.entries import SplitContext
    from dynahate.eval.decision.summary import decision_lines
    from dynahate.eval.hatecheck.results import (
        PLOT_NAME,
        SPLIT_NAME,
        functionality_plot,
        hatecheck_results,
        prediction_lines,
        weakest,
    )
    from dynahate.inference.adapter_loading import check_adapter, check_prompts

    out_dir = args.output_dir or Path(args.adapter)
    options = model_options(args)

    def validate() -> Validated:
        source, base = check_adapter(spec, options)
        check_eval_output_dir(out_dir, [SPLIT_NAME], "--output-dir" if args.output_dir else "--adapter",
                              extra_files=(PLOT_NAME,))
        check_reused_dev_files(out_dir, [SPLIT_NAME], args.mode)
        data, cases, split, warning = _load(args)
        tokenizer = check_prompts(source, base, [case.test_case for case in cases], options.cutoff_len,
                                  lambda index: cases[index].where(data.path))
        if warning and ranks.is_main:  # after every check: a refusal stays one line
            print(warning, file=sys.stderr)
        groups = [{case.target} if case.target else set() for case in cases]
        return Validated(source, [split], tokenizer, {SPLIT_NAME: SplitContext(groups=groups)},
                         HateCheckInput(data, cases))

    def finish(validated: Validated):
        """HateCheck's own results, predictions lines (after the decision entries gave each its groups) and plot."""
        assert validated.hatecheck is not None
        data = validated.hatecheck

        def add(outcomes: dict[str, SplitOutcome]) -> None:
            outcome = outcomes[SPLIT_NAME]
            outcome.results.update(hatecheck_results(data.cases, outcome.predictions), source=data.source.to_json())
            outcome.lines = prediction_lines(data.cases, outcome.predictions)
            outcome.extra_plots = {PLOT_NAME: functionality_plot(outcome.results["functionalities"], args.mode)}
        return add

    outcomes, validated = evaluate_run(ranks, validate, mode=args.mode, model=options, batch_size=args.batch_size,
                                       out_dir=out_dir, decision=decision_options(args), finish=finish)
    if not ranks.is_main:
        return 0
    assert validated.hatecheck is not None
    source = validated.hatecheck.source
    results = outcomes[SPLIT_NAME].results
    official = "" if source.official else ", NOT the official file"
    print(f"HateCheck ({results['mode']} mode, {results['examples']} cases, {results['invalid']} invalid; "
          f"git blob {source.git_blob_sha1[:12]}{official}): {summary_line(results)}")
    print("weakest functional tests:")
    for name, test in weakest(results["functionalities"]):
        print(f"  {name:24s} gold={test['gold']:8s} {test['correct']:4d}/{test['n']:<4d} "
              f"accuracy {test['accuracy']:.4f}")
    lines = decision_lines(results)
    if lines:
        print("decision-ready figures:")
    for line in lines:
        print(f"  {line}")
    print(f"wrote {out_dir}/eval_results.json (hatecheck), {SPLIT_NAME}_predictions.jsonl, {PLOT_NAME} and plots")
    reporting.log(out_dir, [SPLIT_NAME])
    return 0
