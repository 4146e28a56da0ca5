"""``dynahate predict``: label new posts with an adapter (score mode: label and p_hate per post).

Before the model loads: the numbers (argparse), the ``--output`` path, the adapter files (a Hub
adapter, ``USER/NAME[@REV]``, is fetched first; its repo id and commit are named on stderr), every
post (the one post rule: text, and a prompt within ``--cutoff-len`` tokens, checked with the
tokenizer alone). Errors name the post by its argument or input record, never by its text.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import cast

from dynahate.core.cli_args import add_option_with_deprecated_alias
from dynahate.inference.cli_args import add_adapter_argument, add_model_arguments, model_options, set_epilog
from dynahate.inference.decision_rule import add_decision_rule_arguments
from dynahate.plugin.eval_record import temperature_text
from dynahate.plugin.labels import LABELS

ORDER = 50
HELP = f"label new posts ({' / '.join(LABELS)}, with p_hate) from arguments or a .txt, .csv or .jsonl file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_adapter_argument(parser)
    parser.add_argument("texts", nargs="*", metavar="TEXT", help="posts to classify")
    parser.add_argument("--input", type=Path, help="posts from a UTF-8 file: .txt (one per line), .csv, .jsonl; "
                        "- reads standard input, one post per line like .txt")
    parser.add_argument("--text-column",
                        help="the column (.csv, required; no default) or key (.jsonl, default 'input') of the post")
    parser.add_argument("--output", type=Path,
                        help="write JSONL here, replaced atomically (default: print to stdout); never an input of "
                             "the run: the --input file, a file of the adapter's run directory, a local base's folder")
    add_model_arguments(parser, using="use")
    add_decision_rule_arguments(parser)
    add_option_with_deprecated_alias(parser, "--include-text", "--show-examples", action="store_true",
                                     help="include each post's text in the output (default: off, posts are "
                                          "hate speech)")
    set_epilog(parser)


def _where(args: argparse.Namespace):
    """Names post ``index`` by where it came from: its TEXT argument, or its record in --input."""
    if args.texts:
        return lambda index: f"TEXT argument {index + 1} (index {index})"
    from dynahate.inference.predict_input import STDIN_NAME

    source = STDIN_NAME if str(args.input) == "-" else args.input  # as the input checks name standard input
    return lambda index: f"{source}: post {index + 1} (index {index})"


def run(args: argparse.Namespace) -> int:
    from dynahate.core.atomic import atomic_open
    from dynahate.core.errors import DynahateError
    from dynahate.core.json_io import dumps_line
    from dynahate.core.output_paths import check_output_file, refuse_overwriting_inputs
    from dynahate.inference.adapter_loading import check_adapter, check_prompts, load_checked
    from dynahate.inference.adapter_source import parse_adapter_spec
    from dynahate.inference.decision_rule import decision_rule
    from dynahate.inference.engine import EngineOptions
    from dynahate.inference.modes import build_engine
    from dynahate.inference.predict_input import read_posts
    from dynahate.plugin.post_rule import refuse_invalid_posts

    spec = parse_adapter_spec(args.adapter)  # no network yet
    if bool(args.texts) == bool(args.input):
        raise DynahateError("give posts as arguments or with --input FILE (one of the two)")
    if args.output:
        check_output_file(args.output, "--output")
    options = model_options(args)
    source, base = check_adapter(spec, options)
    if args.output:  # never one of this run's inputs: the posts, the adapter's files, a local base's folder
        refuse_overwriting_inputs(args.output, "--output", "this prediction",
                                  files=[args.input] if args.input and str(args.input) != "-" else [],
                                  files_in=[source.path], folders=[Path(base)] if Path(base).is_dir() else [])
    rule = decision_rule(args.threshold, args.calibrated, source.path)
    if rule.warning:
        print(f"warning: {rule.warning}", file=sys.stderr)
    where = _where(args)
    if args.texts:
        posts = args.texts
        refuse_invalid_posts(posts, where)
    else:
        posts = read_posts(args.input, args.text_column)  # checks each post itself, naming its line
    tokenizer = check_prompts(source, base, posts, options.cutoff_len, where)
    loaded = load_checked(source, tokenizer, options)
    if source.is_hub:  # stdout is the predictions: which adapter made them goes to stderr
        print(f"adapter {source.describe()}, from {source.path}", file=sys.stderr)
    engine = build_engine("score", loaded.model, loaded.tokenizer, EngineOptions(token_budget=options.token_budget))
    results = engine.predict(posts)
    if engine.budget_lowered:
        print(f"note: {engine.budget_lowered}", file=sys.stderr)
    lines, labels = [], []
    for index, (post, result) in enumerate(zip(posts, results, strict=False)):
        record = {"index": index, **rule.answer(cast(str, result.pred), cast(float, result.p_hate))}  # score: both
        labels.append(record["label"])
        if args.include_text:
            record["text"] = post
        lines.append(dumps_line(record))
    if args.output:
        with atomic_open(args.output) as handle:
            handle.writelines(lines)
        counts = ", ".join(f"{labels.count(label)} {label}" for label in LABELS)
        named = f" {rule.threshold_name}" if rule.threshold_name else ""
        rule_text = (f"; hate when p_hate >= {rule.threshold:g}{named}"
                     + (f", p_hate calibrated (T = {temperature_text(rule.temperature)})" if rule.temperature else "")
                     if rule.asked else "")
        print(f"wrote {len(lines)} predictions to {args.output} ({counts}{rule_text})")
    else:
        sys.stdout.writelines(lines)
    return 0
