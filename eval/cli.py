"""``dynahate eval``: evaluate an adapter on Dynahate splits, or score a LLaMA-Factory predictions file."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "evaluate an adapter (score or generate mode) or a LLaMA-Factory generated_predictions.jsonl"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--adapter", type=Path, metavar="RUN_DIR", help="a LLaMA-Factory LoRA training run")
    source.add_argument("--predictions", type=Path, metavar="FILE",
                        help="score LLaMA-Factory's generated_predictions.jsonl (do_predict or vllm_infer.py)")
    parser.add_argument("--name", default="predictions", help="with --predictions: the split name (default: predictions)")
    data = parser.add_mutually_exclusive_group()
    data.add_argument("--split", nargs="+", choices=("train", "dev", "test"), metavar="SPLIT",
                      help="prepared splits to evaluate, read from --data-dir (default: dev test)")
    data.add_argument("--data", nargs="+", type=Path, metavar="FILE.jsonl",
                      help="JSONL files with input/output (keyed by file stem; NAME.meta.jsonl joined if present)")
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="where `dynahate prepare` wrote (default: data/)")
    parser.add_argument("--base", help="base model (default: the adapter's base_model_name_or_path)")
    parser.add_argument("--mode", choices=("score", "generate"), default="score",
                        help="score: label likelihoods, p_hate (default); generate: the original greedy method")
    parser.add_argument("--no-quantize", action="store_true", help="load the base unquantized (bf16 GPU / fp32 CPU)")
    parser.add_argument("--force", action="store_true", help="evaluate on a --base the adapter was not trained on")
    parser.add_argument("--batch-size", type=int, default=8, help="generate mode batch size (default 8, as originally)")
    parser.add_argument("--token-budget", type=int, default=8192, help="score mode: padded tokens per batch")
    parser.add_argument("--output-dir", type=Path, help="where to write (default: the adapter's run directory)")
    parser.add_argument("--show-examples", type=int, default=0, metavar="N",
                        help="print up to N misclassified posts per split (off by default: posts are hate speech)")


def _splits(args: argparse.Namespace):
    from .eval_data import load_split

    if args.data:
        return [load_split(path) for path in args.data]
    return [load_split(args.data_dir / f"dynahate_{split}.jsonl", name=split) for split in (args.split or ["dev", "test"])]


def _print_examples(split, outcome, limit: int) -> None:
    wrong = [(e, p) for e, p in zip(split.examples, outcome.predictions) if p.pred != e.gold][:limit]
    for example, prediction in wrong:
        detail = f"p_hate={prediction.p_hate:.3f}" if prediction.p_hate is not None else f"raw={prediction.raw!r}"
        print(f"  [{example.id}] gold={example.gold} pred={prediction.pred} {detail}: {example.post!r}")


def run(args: argparse.Namespace) -> int:
    from dynahate.plugin.errors import DynahateError

    from .artifacts import summary_line, write_eval_outputs
    from .evaluate import evaluate_predictions_file, evaluate_splits

    if args.predictions:
        if args.output_dir is None:
            raise DynahateError("--predictions needs --output-dir DIR")
        outcomes, splits = evaluate_predictions_file(args.predictions, args.name), {}
    else:
        from .model_loading import adapter_provenance, load_adapter_model

        splits = {split.name: split for split in _splits(args)}  # all validated before the model loads
        loaded = load_adapter_model(args.adapter, args.base, quantize=not args.no_quantize, force=args.force)
        print(f"loaded {loaded.base} ({'4-bit NF4' if loaded.quantized else 'unquantized'}, {loaded.device}) "
              f"+ adapter {args.adapter}")
        outcomes = evaluate_splits(list(splits.values()), loaded.model, loaded.tokenizer, args.mode,
                                   batch_size=args.batch_size, token_budget=args.token_budget)
        provenance = adapter_provenance(args.adapter, loaded.base)
        for outcome in outcomes.values():
            outcome.results["adapter"] = provenance
    out_dir = args.output_dir or args.adapter
    write_eval_outputs(out_dir, outcomes)
    for name, outcome in outcomes.items():
        results = outcome.results
        extra = f" | ROC-AUC: {results['roc_auc']:.4f}" if results.get("roc_auc") is not None else ""
        print(f"{name} ({results['mode']}, {results['examples']} posts, {results['invalid']} invalid): "
              f"{summary_line(results)}{extra}")
        if args.show_examples and name in splits:
            _print_examples(splits[name], outcome, args.show_examples)
    print(f"wrote {out_dir}/eval_results.json, eval_metrics.txt, <split>_predictions.jsonl and plots")
    return 0
