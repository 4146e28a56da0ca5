"""``dynahate register``: put the Dynahate datasets into your own LLaMA-Factory data directory."""

from __future__ import annotations

import argparse
from pathlib import Path

from dynahate.plugin.splits import EVERY_SPLIT, dataset_name

ORDER = 20
HELP = f"add {dataset_name(EVERY_SPLIT)} (and their JSONL files) to DIR/dataset_info.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = "No environment variable is read."
    parser.add_argument("--dataset-dir", type=Path, required=True,
                        help="your LLaMA-Factory dataset_dir, an existing directory (required, no default)")
    parser.add_argument("--data", type=Path, default=Path("data"),
                        help="where `dynahate prepare` wrote the JSONL files (default: data/)")
    parser.add_argument("--force", action="store_true",
                        help="replace existing entries or files that differ, backing the old ones up as "
                             "NAME.YYYYmmdd-HHMMSS.bak (default: off, refuse)")


def run(args: argparse.Namespace) -> int:
    from dynahate.plugin.register import register

    result = register(args.dataset_dir, args.data, force=args.force)
    for label, names in (("added", result.added), ("replaced", result.replaced), ("unchanged", result.unchanged)):
        if names:
            print(f"{label}: {', '.join(names)}")
    for path in result.copied:
        print(f"copied {path}")
    for path in result.backups:
        print(f"backup {path}")
    if not (result.added or result.replaced or result.copied):
        print(f"{args.dataset_dir / 'dataset_info.json'} already has the Dynahate datasets; nothing changed")
    return 0
