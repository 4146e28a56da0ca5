"""``dynahate publish``: stage a finished run with its generated model card, and upload it to the Hub.

With ``--compare-to EVAL_DIR`` the run's evaluation is compared with another adapter's by
:func:`dynahate.eval.compare.load.compare_evaluations` (the code of ``dynahate compare``, default resamples and
seed): the card gains a "Comparison with ..." section and the result is staged as ``comparison.json``.
A comparison that ``dynahate compare`` would refuse is refused here, before anything is staged.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import cast

from dynahate.eval.compare.paired_stats import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, DEFAULT_SEED
from dynahate.publish.card import DEFAULT_DATASET, DEFAULT_LICENSE
from dynahate.publish.upload import BACKOFF_S as DEFAULT_BACKOFF_S
from dynahate.publish.upload import DEFAULT_COMMIT_MESSAGE

ORDER = 60
HELP = "write the model card from the run's files, stage the allowlisted files, and upload them to the Hub"
DEFAULT_RECIPE = Path("recipes/dynahate_qlora.yaml")
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
    from dynahate.publish.card import COMPARISON_FILE, render_card
    from dynahate.publish.checks import (
        ADAPTER_CONFIG,
        check_adapter,
        check_adapter_files,
        check_card,
        check_repo_id,
        check_run_record,
    )
    from dynahate.publish.portable import (
        TRAINER_STATE,
        local_base_warning,
        portable_json_text,
        portable_path,
        published_base_model,
        staged_adapter_config,
        staged_trainer_state,
    )
    from dynahate.publish.post_text_check import check_no_post_text
    from dynahate.publish.provenance import check_provenance
    from dynahate.publish.run_record import load_run_record
    from dynahate.publish.staging import (
        CARD,
        DEFAULT_STAGE,
        check_stage_dir,
        merge_sources,
        planned_sizes,
        prompt_files,
        select_eval_files,
        select_run_files,
        stage,
    )

    check_repo_id(args.repo_id)
    if args.base_model is not None:
        check_repo_id(args.base_model, "--base-model")
    backoff_s = None if args.dry_run else _backoff_s()
    run_dir = args.run_dir
    check_adapter_files(run_dir)
    eval_dir = args.eval_dir or run_dir
    protected = {"data directory": args.data_dir, "eval directory": eval_dir, "current directory": Path.cwd()}
    if args.compare_to is not None:
        protected["--compare-to directory"] = args.compare_to if args.compare_to.is_dir() else args.compare_to.parent
    stage_dir = check_stage_dir(args.stage_dir or run_dir / DEFAULT_STAGE, run_dir=run_dir, protected=protected)
    run_files = select_run_files(run_dir, args.include_checkpoints)
    check_adapter(run_dir)
    record = load_run_record(run_dir, recipe=args.recipe, eval_dir=eval_dir,
                             prepare_report=args.data_dir / "prepare_report.json")
    check_run_record(record, args.allow_missing_eval)  # the record first: nothing is rendered for a bad one
    config_path = run_dir / ADAPTER_CONFIG
    base_model = published_base_model(record.base_model, args.base_model, config_path, dry_run=args.dry_run)
    warning = local_base_warning(record.base_model, config_path) if base_model is None else None
    anchors = [Path(record.eval_dir).resolve(), Path(run_dir).resolve()]
    replace = {}
    if base_model != record.base_model:  # a local base: its path is never staged, the Hub id (or its name) is
        replace[record.base_model] = base_model or portable_path(record.base_model, anchors)
    if record.eval_results:
        eval_files, predictions = select_eval_files(record.eval_dir, record.eval_results)
    else:
        eval_files, predictions = {}, set()
    files = merge_sources(run_files, eval_files, prompt_files())
    check_no_post_text(files, predictions)
    unverified = {}
    if record.eval_results:
        from dynahate.inference.model_loading import adapter_sha256

        unverified = check_provenance(record, adapter_sha256(run_dir), args.force)
    generated = _written_by_publish(run_dir, files)
    for name, value in (("eval_results.json", record.eval_results), (COMPARISON_FILE, _comparison(args, record))):
        if value:
            files.pop(name, None)  # staged with no path of this machine in it
            generated[name] = portable_json_text(value, anchors=anchors, replace=replace)
    if TRAINER_STATE in files:  # read (and checked to be JSON) by the run record
        state_text = staged_trainer_state(record.trainer_state, run_dir, replace=replace)
        if state_text is not None:
            files.pop(TRAINER_STATE)
            generated[TRAINER_STATE] = state_text
    if base_model is not None and base_model != record.base_model:
        files.pop(ADAPTER_CONFIG)
        generated[ADAPTER_CONFIG] = staged_adapter_config(config_path.read_text(encoding="utf-8"), base_model,
                                                          config_path)
    comparison = json.loads(generated[COMPARISON_FILE]) if COMPARISON_FILE in generated else None
    sizes = {**planned_sizes(files), **{name: len(text.encode("utf-8")) for name, text in generated.items()}}
    # a dry run of a local base without --base-model: the card names its folder, neither linked nor in the metadata
    shown_base = base_model or replace[record.base_model]
    card = render_card(record, args.repo_id, sizes, license=args.license, dataset_id=args.dataset_id,
                       unverified=unverified, comparison=comparison, base_model=shown_base,
                       base_on_hub=base_model is not None)
    check_card(card, base_model)
    staged = stage(files, card, stage_dir, generated)
    total = sum(staged.values())
    shown = args.stage_dir or run_dir / DEFAULT_STAGE
    print(f"staged {len(staged)} files ({_size(total)}) in {shown}:")
    for name, size in staged.items():
        print(f"  {size:>12,d}  {name}")
    print(f"model card: {shown / CARD}")
    for note in record.notes:
        print(f"note: {note}")
    for split, why in unverified.items():
        print(f"note: --force: the {split} results are not verified to be this adapter's: {why}")
    if warning:
        print(warning, file=sys.stderr)
    if args.dry_run:
        print("dry run: nothing uploaded")
        return 0
    from dynahate.publish.upload import upload

    result = upload(stage_dir, args.repo_id, private=args.private, revision=args.revision,
                    commit_message=args.commit_message, endpoint=os.environ.get("HF_ENDPOINT"),
                    backoff_s=cast(float, backoff_s))  # None only with --dry-run, which returned above
    print(f"uploaded to {result.repo_url}")
    print(f"commit: {result.commit_url}")
    return 0


def _written_by_publish(run_dir: Path, files: dict[str, Path]) -> dict[str, str]:
    """The ``dynahate`` chat template (and a tokenizer_config.json that holds a template itself), in place of
    the run's files (removed from ``files``)."""
    from dynahate.publish.staging import CHAT_TEMPLATE, TOKENIZER_CONFIG, chat_template_text, tokenizer_config_text

    template = chat_template_text(run_dir)
    if template is None:
        return {}
    generated = {CHAT_TEMPLATE: template}
    config_text = tokenizer_config_text(run_dir, template)
    if config_text is not None:  # an older transformers' file holding the llama3 template itself
        files.pop(TOKENIZER_CONFIG, None)
        generated[TOKENIZER_CONFIG] = config_text
    return generated


def _comparison(args: argparse.Namespace, record) -> dict | None:
    """``dynahate compare``'s result for ``--compare-to`` (the other evaluation as A, this run's as B), or None."""
    if args.compare_to is None:
        return None
    from dynahate.core.errors import DynahateError
    from dynahate.eval.compare.load import compare_evaluations

    if not record.eval_results:
        raise DynahateError(f"--compare-to {args.compare_to}: this run has no `dynahate eval` results in "
                            f"{record.eval_dir} to compare; run `dynahate eval` first")
    comparison = compare_evaluations(args.compare_to, record.eval_dir, allow_different_posts=args.allow_different_posts)
    for split, entry in comparison["splits"].items():  # the same weights compared with themselves: all zeros
        sha_a, sha_b = ((entry[side].get("adapter") or {}).get("sha256") for side in ("a", "b"))
        if sha_a is not None and sha_a == sha_b:
            raise DynahateError(f"--compare-to {args.compare_to}: its {split!r} results are of this run's own adapter "
                                f"(SHA-256 {sha_a[:12]}...); compare with another adapter's evaluation")
    return comparison


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
