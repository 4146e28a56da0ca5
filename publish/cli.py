"""``dynahate publish``: stage a finished run with its generated model card, and upload it to the Hub."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .card import DEFAULT_DATASET, DEFAULT_LICENSE

HELP = "write the model card from the run's files, stage the allowlisted files, and upload them to the Hub"
DEFAULT_RECIPE = Path("recipes/dynahate_qlora.yaml")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the LLaMA-Factory LoRA run (its output_dir)")
    parser.add_argument("--repo-id", required=True, help="USER/NAME or ORG/NAME on the Hub")
    parser.add_argument("--private", action="store_true", help="create the repo as private")
    parser.add_argument("--revision", help="branch to commit to (created if missing; default main)")
    parser.add_argument("--commit-message", help="commit message")
    parser.add_argument("--dry-run", action="store_true", help="stage and list the files; no network")
    parser.add_argument("--stage-dir", type=Path, help="where to stage (default RUN_DIR/hub)")
    parser.add_argument("--eval-dir", type=Path, help="where `dynahate eval` wrote (default RUN_DIR)")
    parser.add_argument("--recipe", type=Path, default=DEFAULT_RECIPE,
                        help=f"the recipe the run was trained with (default {DEFAULT_RECIPE})")
    parser.add_argument("--data-dir", type=Path, default=Path("data"),
                        help="where `dynahate prepare` wrote prepare_report.json (default data/)")
    parser.add_argument("--license", default=DEFAULT_LICENSE,
                        help=f"card license (default {DEFAULT_LICENSE}, the base model's)")
    parser.add_argument("--dataset-id", default=DEFAULT_DATASET,
                        help=f"Hub dataset id for the card (default {DEFAULT_DATASET})")
    parser.add_argument("--allow-missing-eval", action="store_true", help="publish without eval results")
    parser.add_argument("--include-checkpoints", action="store_true",
                        help="also upload checkpoint-*/ folders and training_args.bin (pickles)")


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def run(args: argparse.Namespace) -> int:
    from .card import render_card
    from .checks import check_adapter, check_record, check_repo_id
    from .run_record import load_run_record
    from .staging import CARD, DEFAULT_STAGE, planned_sizes, select_files, stage

    check_repo_id(args.repo_id)
    check_adapter(args.run_dir)
    record = load_run_record(args.run_dir, recipe=args.recipe, eval_dir=args.eval_dir,
                             prepare_report=args.data_dir / "prepare_report.json")
    files = select_files(args.run_dir, record.eval_dir, args.include_checkpoints)
    if record.eval_results is None:  # an eval_results.json there is LLaMA-Factory's loss file, not an evaluation
        files.pop("eval_results.json", None)
    card = render_card(record, args.repo_id, planned_sizes(files), license=args.license,
                       dataset_id=args.dataset_id)
    check_record(record, card, args.allow_missing_eval)
    stage_dir = args.stage_dir or args.run_dir / DEFAULT_STAGE
    staged = stage(files, card, stage_dir)
    total = sum(staged.values())
    print(f"staged {len(staged)} files ({_size(total)}) in {stage_dir}:")
    for name, size in staged.items():
        print(f"  {size:>12,d}  {name}")
    print(f"model card: {stage_dir / CARD}")
    for note in record.notes:
        print(f"note: {note}")
    if args.dry_run:
        print("dry run: nothing uploaded")
        return 0
    from .upload import upload

    result = upload(stage_dir, args.repo_id, private=args.private, revision=args.revision,
                    commit_message=args.commit_message, endpoint=os.environ.get("HF_ENDPOINT"),
                    backoff_s=float(os.environ.get("DYNAHATE_UPLOAD_BACKOFF_S", "2")))
    print(f"uploaded to {result.repo_url}")
    print(f"commit: {result.commit_url}")
    return 0
