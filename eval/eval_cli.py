"""``dynahate eval``: evaluate an adapter on Dynahate splits, or score a LLaMA-Factory predictions file.

Everything that can be checked is checked before the model loads: the numbers (argparse), the
``--adapter`` spec (a Hub repo id, :mod:`dynahate.inference.adapter_source`, needs ``--output-dir`` and is
fetched first), the adapter files, the output directory, every split's records, and every prompt's
length (with the tokenizer alone). With ``--report-to``, the trackers come first (their extras installed, the
training's run found: :mod:`dynahate.eval.trackers`), and the written splits are logged to them last.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import cast

from dynahate.core.arg_types import non_negative_int
from dynahate.core.cli_args import add_option_with_deprecated_alias
from dynahate.eval.decision.cli_args import add_decision_arguments, decision_options
from dynahate.eval.trackers.cli_args import add_report_arguments
from dynahate.inference.cli_args import add_adapter_argument, add_engine_arguments, model_options, set_epilog
from dynahate.plugin.splits import SPLITS, data_file, data_file_name

ORDER = 40
HELP = "evaluate an adapter (score or generate mode) or a LLaMA-Factory generated_predictions.jsonl"
DEFAULT_SPLITS = ("dev", "test")
DISTRIBUTED_EPILOG = """
several GPUs or nodes:
  torchrun --nproc-per-node N --no-python dynahate eval ... (with --nnodes/--node-rank and a
  rendezvous for several machines). dynahate eval reads torchrun's RANK, WORLD_SIZE and
  LOCAL_RANK (unset: one process): every rank checks everything, loads the model on
  cuda:LOCAL_RANK (CPU without a GPU; backend nccl or gloo) and scores a contiguous shard of
  each split; rank 0 gathers and writes the same files one process writes, with the time of the
  slowest rank. The other ranks write and print nothing but errors.
"""


def split_name(text: str) -> str:
    """argparse type for ``--name``: it becomes a file name prefix, so no path separators."""
    if not text or text.startswith(".") or "/" in text or "\\" in text:
        raise argparse.ArgumentTypeError(f"must be a plain name (no '/', not starting with '.'), got {text!r}")
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    add_adapter_argument(source, required=False)  # the group is required: --adapter or --predictions
    source.add_argument("--predictions", type=Path, metavar="FILE",
                        help="score LLaMA-Factory's generated_predictions.jsonl (do_predict or vllm_infer.py)")
    parser.add_argument("--name", type=split_name, default="predictions",
                        help="with --predictions: the split name (default: predictions)")
    data = parser.add_mutually_exclusive_group()
    data.add_argument("--split", nargs="+", choices=SPLITS, metavar="SPLIT",
                      help=f"prepared splits to evaluate, read from --data-dir (default: {' '.join(DEFAULT_SPLITS)})")
    data.add_argument("--data", nargs="+", type=Path, metavar="FILE.jsonl",
                      help="JSONL files with input/output, each split named by its file stem (two files with one "
                           "stem are refused); NAME.meta.jsonl beside one is joined")
    parser.add_argument("--data-dir", type=Path, default=Path("data"),
                        help=f"where `dynahate prepare` wrote {data_file_name('<split>')} (default: data/)")
    add_engine_arguments(parser, batch_size_note=", as originally")
    add_decision_arguments(parser)
    add_option_with_deprecated_alias(parser, "--show-misclassified", "--show-examples", type=non_negative_int,
                                     default=0, metavar="N", help="print up to N misclassified posts per split "
                                                                  "(default 0: posts are hate speech)")
    add_report_arguments(parser)
    set_epilog(parser)
    parser.epilog = cast(str, parser.epilog) + DISTRIBUTED_EPILOG  # set_epilog set it


def _splits(args: argparse.Namespace):
    from dynahate.eval.eval_data import load_split, load_splits

    if args.data:
        return load_splits(args.data)
    return [load_split(data_file(args.data_dir, split), name=split)
            for split in dict.fromkeys(args.split or DEFAULT_SPLITS)]


def _split_names(args: argparse.Namespace) -> list[str]:
    if args.predictions:
        return [args.name]
    if args.data:
        return [path.stem for path in args.data]
    return list(args.split or DEFAULT_SPLITS)


def _print_misclassified(split, outcome, limit: int) -> None:
    wrong = [(e, p) for e, p in zip(split.examples, outcome.predictions, strict=False) if p.pred != e.gold][:limit]
    for example, prediction in wrong:
        detail = f"p_hate={prediction.p_hate:.3f}" if prediction.p_hate is not None else f"raw={prediction.raw!r}"
        print(f"  [{example.id}] gold={example.gold} pred={prediction.pred} {detail}: {example.post!r}")


def _evaluate_adapter(args: argparse.Namespace, spec, out_dir: Path, ranks):
    """The shared pipeline (:func:`dynahate.eval.adapter_eval.evaluate_run`) with eval's checks; rank 0 gets the
    outcomes, written."""
    from dynahate.eval.adapter_eval import Validated, evaluate_run
    from dynahate.eval.artifacts import check_eval_output_dir
    from dynahate.eval.decision.dev_scores import check_reused_dev_files
    from dynahate.eval.decision.entries import dynahate_context
    from dynahate.inference.adapter_loading import check_adapter, check_prompts

    options = model_options(args)

    def validate() -> Validated:
        source, base = check_adapter(spec, options)
        check_eval_output_dir(out_dir, _split_names(args), "--output-dir" if args.output_dir else "--adapter")
        check_reused_dev_files(out_dir, _split_names(args), args.mode)
        splits = list({split.name: split for split in _splits(args)}.values())  # all validated before the model loads
        contexts = {split.name: dynahate_context(split) for split in splits}  # the sibling sidecars too
        located = [(split, example) for split in splits for example in split.examples]
        tokenizer = check_prompts(source, base, [example.post for _, example in located], options.cutoff_len,
                                  lambda index: located[index][1].where(located[index][0].path))
        return Validated(source, splits, tokenizer, contexts)

    outcomes, validated = evaluate_run(ranks, validate, mode=args.mode, model=options, batch_size=args.batch_size,
                                       out_dir=out_dir, decision=decision_options(args))
    return outcomes, {split.name: split for split in validated.splits}


def run(args: argparse.Namespace) -> int:
    from dynahate.core.errors import DynahateError
    from dynahate.eval.distributed import from_environment, process_group
    from dynahate.eval.trackers.cli_args import prepare_from_args
    from dynahate.eval.trackers.report import Reporting
    from dynahate.inference.adapter_source import parse_adapter_spec, require_output_dir

    if args.predictions and args.output_dir is None:
        raise DynahateError("--predictions needs --output-dir DIR")
    spec = None
    if args.adapter is not None:  # before any network or model: the spec, and where a Hub adapter's results go
        spec = parse_adapter_spec(args.adapter)
        require_output_dir(spec, args.output_dir)
    ranks = from_environment()
    out_dir: Path = args.output_dir or Path(cast(str, args.adapter))  # --predictions has --output-dir
    # the trackers (installed, and the training's run found) before any model; rank 0 logs
    reporting = prepare_from_args(args, spec, out_dir) if ranks.is_main else Reporting()
    with process_group(ranks):
        return _run(args, spec, ranks, out_dir, reporting)


def _run(args: argparse.Namespace, spec, ranks, out_dir: Path, reporting) -> int:
    from dynahate.eval.artifacts import check_eval_output_dir, summary_line

    if args.predictions:
        from dynahate.eval.adapter_eval import record_outcomes
        from dynahate.eval.evaluate import score_generated_predictions_file

        ranks.agree(lambda: check_eval_output_dir(out_dir, _split_names(args)))
        outcomes, splits = ranks.agree(lambda: score_generated_predictions_file(args.predictions, args.name)), {}
        if ranks.is_main:
            record_outcomes(outcomes, {}, out_dir, decision_options(args))
    else:
        outcomes, splits = _evaluate_adapter(args, spec, out_dir, ranks)
    if not ranks.is_main:
        return 0  # rank 0 writes the files, and prints
    from dynahate.eval.decision.summary import decision_lines

    for name, outcome in outcomes.items():
        results = outcome.results
        extra = f" | ROC-AUC: {results['roc_auc']:.4f}" if results.get("roc_auc") is not None else ""
        print(f"{name} ({results['mode']}, {results['examples']} posts, {results['invalid']} invalid): "
              f"{summary_line(results)}{extra}")
        for line in decision_lines(results):
            print(f"  {line}")
        if args.show_misclassified and name in splits:
            _print_misclassified(splits[name], outcome, args.show_misclassified)
    print(f"wrote {out_dir}/eval_results.json, eval_metrics.txt, <split>_predictions.jsonl and plots")
    reporting.log(out_dir, list(outcomes))
    return 0
