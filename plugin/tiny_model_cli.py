"""``dynahate tiny-model OUT_DIR``: build the tiny random CPU model used by the demo and tests."""

from __future__ import annotations

import argparse
from pathlib import Path

ORDER = 30
HELP = "build a tiny random Llama-3-architecture model and tokenizer (pipeline checks on CPU)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out_dir", type=Path, help="directory to write the model to")
    parser.add_argument("--seed", type=int, default=0, help="weight initialisation seed (default 0)")


def run(args: argparse.Namespace) -> int:
    from .tiny_model import build_tiny_model

    path = build_tiny_model(args.out_dir, seed=args.seed)
    print(f"tiny model written to {path} (random weights: a pipeline check, not a real model)")
    return 0
