"""``dynahate tiny-model OUT_DIR``: build the tiny random CPU model used by the demo and tests."""

from __future__ import annotations

import argparse
from pathlib import Path

ORDER = 30
HELP = "build a tiny random Llama-3-architecture model with Llama 3.1's tokenizer (offline; pipeline checks on CPU)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("Environment: DYNAHATE_CACHE, where Llama 3.1's tokenizer is cached once converted (default "
                     "XDG_CACHE_HOME/dynahate, else ~/.cache/dynahate). Nothing else is read.")
    parser.add_argument("out_dir", type=Path, nargs="?",
                        help="directory to write the model to (required unless --print-train-overrides)")
    parser.add_argument("--seed", type=int, default=0, help="weight initialisation seed (default 0)")
    parser.add_argument("--print-train-overrides", action="store_true",
                        help="print the `llamafactory-cli train` overrides that train the tiny model on CPU "
                             "(as `make demo` passes them) and exit (default: off, build the model)")


def run(args: argparse.Namespace) -> int:
    from dynahate.core.errors import DynahateError
    from dynahate.plugin.tiny_model import TINY_TRAIN_OVERRIDES, build_tiny_model

    if args.print_train_overrides:
        print(" ".join(TINY_TRAIN_OVERRIDES))
        return 0
    if args.out_dir is None:
        raise DynahateError("pass OUT_DIR, the directory to write the tiny model to")
    path = build_tiny_model(args.out_dir, seed=args.seed)
    print(f"tiny model written to {path} (random weights: a pipeline check, not a real model)")
    return 0
