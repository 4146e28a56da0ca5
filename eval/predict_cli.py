"""``dynahate predict``: label new posts with an adapter (score mode: label and p_hate per post)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "label new posts (hate / not hate, with p_hate) from arguments or a .txt, .csv or .jsonl file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--adapter", type=Path, required=True, metavar="RUN_DIR", help="a LLaMA-Factory LoRA run")
    parser.add_argument("texts", nargs="*", metavar="TEXT", help="posts to classify")
    parser.add_argument("--input", type=Path, help="posts from a UTF-8 file: .txt (one per line), .csv, .jsonl; "
                        "- reads standard input, one post per line like .txt")
    parser.add_argument("--text-column", help="the column (.csv, required) or key (.jsonl, default 'input') of the post")
    parser.add_argument("--output", type=Path, help="write JSONL here (default: print to stdout)")
    parser.add_argument("--base", help="base model (default: the adapter's base_model_name_or_path)")
    parser.add_argument("--no-quantize", action="store_true", help="load the base unquantized")
    parser.add_argument("--force", action="store_true", help="use a --base the adapter was not trained on")
    parser.add_argument("--token-budget", type=int, default=8192, help="padded tokens per batch")
    parser.add_argument("--show-examples", action="store_true", help="include each post's text in the output")


def run(args: argparse.Namespace) -> int:
    from dynahate.plugin.atomic import atomic_open
    from dynahate.plugin.errors import DynahateError
    from dynahate.plugin.jsonl import dumps_line

    from .model_loading import load_adapter_model
    from .post_input import read_posts
    from .score_engine import ScoreEngine

    if bool(args.texts) == bool(args.input):
        raise DynahateError("give posts as arguments or with --input FILE (one of the two)")
    posts = args.texts if args.texts else read_posts(args.input, args.text_column)
    if any(not post for post in posts):
        raise DynahateError("an empty post was given; every post must have text")
    loaded = load_adapter_model(args.adapter, args.base, quantize=not args.no_quantize, force=args.force)
    results = ScoreEngine(loaded.model, loaded.tokenizer, token_budget=args.token_budget).score(posts)
    lines = []
    for index, (post, result) in enumerate(zip(posts, results)):
        record = {"index": index, "label": result.pred, "p_hate": result.p_hate}
        if args.show_examples:
            record["text"] = post
        lines.append(dumps_line(record))
    if args.output:
        with atomic_open(args.output) as handle:
            handle.writelines(lines)
        counts = {label: sum(r.pred == label for r in results) for label in ("hate", "not hate")}
        print(f"wrote {len(lines)} predictions to {args.output} ({counts['hate']} hate, {counts['not hate']} not hate)")
    else:
        sys.stdout.writelines(lines)
    return 0
