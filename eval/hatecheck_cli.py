"""``dynahate hatecheck``: evaluate an adapter on HateCheck's functional tests (Röttger et al., ACL 2021).

The same model loading, engines (``--mode``), batching, token budget and all-or-nothing writing
under the results lock as ``dynahate eval`` (:mod:`dynahate.eval.adapter_eval`,
:mod:`dynahate.eval.artifacts`); the cases come from :mod:`dynahate.eval.hatecheck_data` and the
per-test results from :mod:`dynahate.eval.hatecheck`. Everything is checked before the model
loads: the adapter (a Hub repo id, :mod:`dynahate.eval.adapter_source`, needs ``--output-dir`` and
is fetched first), the output directory, the file (blob id, columns, labels) and every prompt's
length. Nothing printed holds a test case's text.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cli_args import add_adapter_argument, add_engine_arguments, set_epilog
from .hatecheck_data import DEFAULT_HATECHECK_PATH, HATECHECK_BLOB, HATECHECK_COMMIT, HATECHECK_REPO

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
    set_epilog(parser)
    parser.epilog += SOURCE_EPILOG


def _load(args: argparse.Namespace):
    """The verified source, its cases, the evaluation split built from them, and the source's warning (or None)."""
    from .eval_data import EvalExample, EvalSplit
    from .hatecheck import SPLIT_NAME
    from .hatecheck_data import read_hatecheck_csv, resolve_source

    source, warning = resolve_source(args.csv, args.download)
    cases = read_hatecheck_csv(source.path)
    split = EvalSplit(SPLIT_NAME, source.path, [EvalExample(case.case_id, case.test_case, case.gold, line=case.line)
                                                for case in cases])
    return source, cases, split, warning


def run(args: argparse.Namespace) -> int:
    from .adapter_source import parse_adapter_spec, require_output_dir
    from .distributed import from_environment, process_group

    spec = parse_adapter_spec(args.adapter)  # before any network or model: a Hub adapter needs --output-dir
    require_output_dir(spec, args.output_dir)
    ranks = from_environment()
    with process_group(ranks):
        return _run(args, spec, ranks)


def _run(args: argparse.Namespace, spec, ranks) -> int:
    from .adapter_eval import check_adapter, check_prompts, evaluate_with_adapter
    from .artifacts import check_eval_output_dir, summary_line, write_eval_outputs
    from .hatecheck import PLOT_NAME, SPLIT_NAME, functionality_plot, hatecheck_results, prediction_lines, weakest

    out_dir = args.output_dir or Path(args.adapter)
    loaded = {}

    def validate():
        source, base = check_adapter(args, spec)
        check_eval_output_dir(out_dir, [SPLIT_NAME], "--output-dir" if args.output_dir else "--adapter",
                              extra_files=(PLOT_NAME,))
        data, cases, split, warning = _load(args)
        loaded.update(source=data, cases=cases)
        tokenizer = check_prompts(args, source, base, [case.test_case for case in cases],
                                  lambda index: cases[index].where(data.path))
        if warning and ranks.is_main:  # after every check: a refusal stays one line
            print(warning, file=sys.stderr)
        return source, [split], tokenizer

    outcomes, _ = evaluate_with_adapter(args, ranks, validate)
    if not ranks.is_main:
        return 0
    source, cases = loaded["source"], loaded["cases"]
    outcome = outcomes[SPLIT_NAME]
    outcome.results.update(hatecheck_results(cases, outcome.predictions), source=source.to_json())
    outcome.lines = prediction_lines(cases, outcome.predictions)
    outcome.extra_plots = {PLOT_NAME: functionality_plot(outcome.results["functionalities"], args.mode)}
    write_eval_outputs(out_dir, outcomes)
    results = outcome.results
    official = "" if source.official else ", NOT the official file"
    print(f"HateCheck ({results['mode']} mode, {results['examples']} cases, {results['invalid']} invalid; "
          f"git blob {source.git_blob_sha1[:12]}{official}): {summary_line(results)}")
    print("weakest functional tests:")
    for name, test in weakest(results["functionalities"]):
        print(f"  {name:24s} gold={test['gold']:8s} {test['correct']:4d}/{test['n']:<4d} accuracy {test['accuracy']:.4f}")
    print(f"wrote {out_dir}/eval_results.json (hatecheck), {SPLIT_NAME}_predictions.jsonl, {PLOT_NAME} and plots")
    return 0
