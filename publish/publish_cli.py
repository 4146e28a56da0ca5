"""``dynahate publish``: stage a finished run with its generated model card, and upload it to the Hub.

The command parses its flags into :class:`dynahate.publish.pipeline.PublishOptions`, stages with
:func:`dynahate.publish.pipeline.publish_run` (every check, the card, the stage folder), prints what was staged, and
uploads it with :func:`dynahate.publish.upload.upload`. With ``--compare-to EVAL_DIR`` the run's evaluation is
compared with another adapter's (the code of ``dynahate compare``, default resamples and seed): the card gains a
"Comparison with ..." section and the result is staged as ``comparison.json``. A comparison that ``dynahate
compare`` would refuse is refused here, before anything is staged. With ``--collected-round FILE.round.json``
(repeatable) the card gains an "Adversarial rounds" section from each round's summary (read, never staged).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import cast

from dynahate.eval.compare.paired_stats import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, DEFAULT_SEED
from dynahate.publish.card import DEFAULT_DATASET, DEFAULT_LICENSE
from dynahate.publish.pipeline import DEFAULT_RECIPE
from dynahate.publish.upload import BACKOFF_S as DEFAULT_BACKOFF_S
from dynahate.publish.upload import DEFAULT_COMMIT_MESSAGE

ORDER = 60
HELP = "write the model card from the run's files, stage the allowlisted files, and upload them to the Hub"
EPILOG = f"""environment:
  HF_TOKEN                   the Hub token used to upload (never printed or written); if unset, the
                             cached login of `hf auth login` (the token file under HF_HOME, default
                             ~/.cache/huggingface) is used
  HF_ENDPOINT                the Hub to upload to (default https://huggingface.co)
  DYNAHATE_UPLOAD_BACKOFF_S  first wait before retrying a network error or 5xx answer, doubled on each
                             of the retries (default {DEFAULT_BACKOFF_S:g})
  --dry-run reads none of them.

the stage folder is replaced as a whole, so publish uses only a missing or empty folder, or one it
staged before (it holds .dynahate-publish-stage, which is not uploaded); never the run directory, a
folder inside it other than RUN_DIR/hub, or the data, eval or current directory or a folder holding one.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the LLaMA-Factory LoRA run (its output_dir)")
    parser.add_argument("--repo-id", required=True, help="USER/NAME or ORG/NAME on the Hub (required, no default)")
    parser.add_argument("--private", action="store_true", help="create the repo as private (default: public; an "
                        "existing repo keeps its visibility)")
    parser.add_argument("--revision", help="branch to commit to, created if missing (default: main)")
    parser.add_argument("--commit-message", default=DEFAULT_COMMIT_MESSAGE,
                        help=f"commit message (default: {DEFAULT_COMMIT_MESSAGE!r})")
    parser.add_argument("--dry-run", action="store_true", help="stage and list the files; no network (default: "
                        "stage and upload)")
    parser.add_argument("--stage-dir", type=Path, help="where to stage (default: RUN_DIR/hub); see below")
    parser.add_argument("--eval-dir", type=Path, help="where `dynahate eval` wrote (default: RUN_DIR)")
    parser.add_argument("--recipe", type=Path, default=DEFAULT_RECIPE,
                        help=f"the recipe the run was trained with (default: {DEFAULT_RECIPE})")
    parser.add_argument("--data-dir", type=Path, default=Path("data"),
                        help="where `dynahate prepare` wrote prepare_report.json (default: data/)")
    parser.add_argument("--license", default=DEFAULT_LICENSE,
                        help=f"card license (default: {DEFAULT_LICENSE}, the base model's)")
    parser.add_argument("--dataset-id", default=DEFAULT_DATASET,
                        help=f"Hub dataset id for the card (default: {DEFAULT_DATASET})")
    parser.add_argument("--allow-missing-eval", action="store_true",
                        help="publish without eval results (default: refuse)")
    parser.add_argument("--force", action="store_true",
                        help="publish eval results not verified to be this adapter's: computed on another adapter "
                             "or scored from a predictions file (default: refuse); the card names those splits")
    parser.add_argument("--compare-to", type=Path, metavar="EVAL_DIR",
                        help="another adapter's evaluation folder (or its eval_results.json), e.g. the original "
                             "adapter's: the card gains a comparison on the splits both hold (dynahate compare's "
                             f"paired bootstrap, {DEFAULT_RESAMPLES} resamples, seed {DEFAULT_SEED}, "
                             f"{DEFAULT_CONFIDENCE:g} confidence), staged as comparison.json (default: no comparison)")
    parser.add_argument("--allow-different-posts", action="store_true",
                        help="with --compare-to: compare splits whose post fingerprints differ (other data behind "
                             "the same ids); the card then says so (default: refused)")
    parser.add_argument("--collected-round", type=Path, action="append", default=[], metavar="FILE.round.json",
                        help="the summary `dynahate collect export` wrote beside a round's CSV (repeatable): the card "
                             "gains an \"Adversarial rounds\" section, per round its size, the error rates of the "
                             "model it was collected against and this adapter's accuracy on its test posts with a "
                             "95%% Wilson interval; read, never staged (default: no such section)")
    parser.add_argument("--base-model", metavar="REPO_ID",
                        help="the Hub model (USER/NAME) of a run trained from a local copy of its base: written into "
                             "the staged adapter_config.json and the card (the run's files unchanged); without it "
                             "such a run is not uploaded (default: the run's base_model_name_or_path, which must "
                             "then be a Hub id; another id than that one is refused)")
    parser.add_argument("--include-checkpoints", action="store_true",
                        help="also upload checkpoint-*/ folders and training_args.bin, pickles (default: left out)")


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def run(args: argparse.Namespace) -> int:
    from dynahate.publish.checks import permission_errors_as_one_line

    with permission_errors_as_one_line():
        return _publish(args)


def _publish(args: argparse.Namespace) -> int:
    from dynahate.publish.pipeline import PublishOptions, publish_run
    from dynahate.publish.staging import CARD, DEFAULT_STAGE

    backoff_s = None if args.dry_run else _backoff_s()
    options = PublishOptions(
        run_dir=args.run_dir, repo_id=args.repo_id, stage_dir=args.stage_dir, eval_dir=args.eval_dir,
        recipe=args.recipe, data_dir=args.data_dir, license=args.license, dataset_id=args.dataset_id,
        allow_missing_eval=args.allow_missing_eval, force=args.force, compare_to=args.compare_to,
        allow_different_posts=args.allow_different_posts, base_model=args.base_model,
        include_checkpoints=args.include_checkpoints, dry_run=args.dry_run,
        collected_rounds=tuple(args.collected_round))
    staged = publish_run(options)
    shown = args.stage_dir or args.run_dir / DEFAULT_STAGE
    print(f"staged {len(staged.files)} files ({_size(staged.total)}) in {shown}:")
    for name, size in staged.files.items():
        print(f"  {size:>12,d}  {name}")
    print(f"model card: {shown / CARD}")
    for note in staged.record.notes:
        print(f"note: {note}")
    for split, why in staged.unverified.items():
        print(f"note: --force: the {split} results are not verified to be this adapter's: {why}")
    if staged.warning:
        print(staged.warning, file=sys.stderr)
    if args.dry_run:
        print("dry run: nothing uploaded")
        return 0
    from dynahate.publish.upload import upload

    result = upload(staged.stage_dir, args.repo_id, private=args.private, revision=args.revision,
                    commit_message=args.commit_message, endpoint=os.environ.get("HF_ENDPOINT"),
                    backoff_s=cast(float, backoff_s))  # None only with --dry-run, which returned above
    print(f"uploaded to {result.repo_url}")
    print(f"commit: {result.commit_url}")
    return 0


def _backoff_s() -> float:
    from dynahate.core.errors import DynahateError

    raw = os.environ.get("DYNAHATE_UPLOAD_BACKOFF_S", str(DEFAULT_BACKOFF_S))
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise DynahateError(f"DYNAHATE_UPLOAD_BACKOFF_S={raw!r}: expected a number of seconds, 0 or more")
    return value
