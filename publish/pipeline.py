"""The publish pipeline: check a finished run, render its card and stage its files (:func:`publish_run`).

Every check runs before anything is rendered or written: the repo ids, the collected rounds' summaries
(``collected_rounds``, through their one reader, :mod:`dynahate.plugin.round_summary`), the run's adapter files and
config, the stage folder, the run record (``eval_results.json`` through the record's one reader), the base model's
Hub id, no post text in a staged JSONL file, the results' provenance, and with ``compare_to`` the comparison of
:func:`dynahate.eval.compare.comparison.compare_evaluations`. Then the card is rendered from the record (a collected
round that the test split's results contradict is refused there), checked to name the published base model, and the
stage folder is built as a whole. Uploading the staged folder is
:func:`dynahate.publish.upload.upload`'s job; ``dynahate publish`` (the command module) parses, calls both and
prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dynahate.core.errors import DynahateError
from dynahate.plugin.round_summary import read_round_summary
from dynahate.publish.card import COMPARISON_FILE, DEFAULT_DATASET, DEFAULT_LICENSE, render_card
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
    local_base_placeholder,
    local_base_warning,
    portable_json,
    portable_path,
    published_base_model,
    staged_adapter_config,
    staged_trainer_state,
)
from dynahate.publish.post_text_check import check_no_post_text
from dynahate.publish.provenance import check_provenance
from dynahate.publish.run_record import RunRecord, load_run_record
from dynahate.publish.staging import (
    CHAT_TEMPLATE,
    DEFAULT_STAGE,
    TOKENIZER_CONFIG,
    chat_template_text,
    check_stage_dir,
    merge_sources,
    planned_sizes,
    prompt_files,
    select_eval_files,
    select_run_files,
    stage,
    tokenizer_config_text,
)

DEFAULT_RECIPE = Path("recipes/dynahate_qlora.yaml")


@dataclass(frozen=True)
class PublishOptions:
    """What ``dynahate publish`` stages (its flags, typed; the upload's own flags are the upload's)."""

    run_dir: Path
    repo_id: str
    stage_dir: Path | None = None  # default: RUN_DIR/hub
    eval_dir: Path | None = None  # default: RUN_DIR
    recipe: Path = DEFAULT_RECIPE
    data_dir: Path = Path("data")
    license: str = DEFAULT_LICENSE
    dataset_id: str = DEFAULT_DATASET
    allow_missing_eval: bool = False
    force: bool = False
    compare_to: Path | None = None
    allow_different_posts: bool = False
    base_model: str | None = None
    include_checkpoints: bool = False
    dry_run: bool = False  # a dry run may stage a run from a local base without base_model, with a warning
    collected_rounds: tuple[Path, ...] = ()  # FILE.round.json of `dynahate collect export`: the card's rounds section


@dataclass(frozen=True)
class StagedRun:
    """A staged run: where, what (name -> size in bytes), and what the command tells its user."""

    stage_dir: Path
    files: dict[str, int]
    record: RunRecord
    unverified: dict[str, str] = field(default_factory=dict)  # split -> why its results are not this adapter's
    warning: str | None = None  # a local base without --base-model (a dry run only)

    @property
    def total(self) -> int:
        return sum(self.files.values())


def publish_run(options: PublishOptions) -> StagedRun:
    """Check the run, render its card and stage its files (see the module's docstring); nothing is uploaded."""
    check_repo_id(options.repo_id)
    if options.base_model is not None:
        check_repo_id(options.base_model, "--base-model")
    collected = [read_round_summary(path) for path in options.collected_rounds]  # read, never staged
    run_dir = options.run_dir
    check_adapter_files(run_dir)
    eval_dir = options.eval_dir or run_dir
    protected = {"data directory": options.data_dir, "eval directory": eval_dir, "current directory": Path.cwd()}
    if options.compare_to is not None:
        protected["--compare-to directory"] = (options.compare_to if options.compare_to.is_dir()
                                               else options.compare_to.parent)
    stage_dir = check_stage_dir(options.stage_dir or run_dir / DEFAULT_STAGE, run_dir=run_dir, protected=protected)
    run_files = select_run_files(run_dir, options.include_checkpoints)
    check_adapter(run_dir)
    record = load_run_record(run_dir, recipe=options.recipe, eval_dir=eval_dir,
                             prepare_report=options.data_dir / "prepare_report.json")
    check_run_record(record, options.allow_missing_eval)  # the record first: nothing is rendered for a bad one
    config_path = run_dir / ADAPTER_CONFIG
    base_model = published_base_model(record.base_model, options.base_model, config_path, dry_run=options.dry_run)
    warning = local_base_warning(record.base_model, config_path) if base_model is None else None
    anchors = [Path(record.eval_dir).resolve(), Path(run_dir).resolve()]
    replace: dict[str, str] = {}
    if base_model != record.base_model:  # a local base: its path is never staged, the Hub id (or its name) is
        replace[record.base_model] = base_model or portable_path(record.base_model, anchors)
    if record.eval_results:
        eval_files, predictions = select_eval_files(record.eval_dir, record.eval_results)
    else:
        eval_files, predictions = {}, set()
    files = merge_sources(run_files, eval_files, prompt_files())
    check_no_post_text(files, predictions)
    unverified: dict[str, str] = {}
    sha256 = None
    if record.eval_results:
        from dynahate.inference.model_loading import adapter_sha256

        sha256 = adapter_sha256(run_dir)
        unverified = check_provenance(record, sha256, options.force)
    generated = _written_by_publish(run_dir, files)
    comparison = _comparison(options, record)
    if comparison is not None:
        comparison = portable_json(comparison, anchors=anchors, replace=replace)
        generated[COMPARISON_FILE] = _json_text(comparison)
        files.pop(COMPARISON_FILE, None)
    if record.eval_results:  # staged with no path of this machine in it, as the record's writer writes it
        from dynahate.plugin.eval_record import RESULTS_NAME, record_text

        generated[RESULTS_NAME] = record_text(portable_json(record.eval_results, anchors=anchors, replace=replace))
        files.pop(RESULTS_NAME, None)
    if TRAINER_STATE in files:  # read (and checked to be JSON) by the run record
        state_text = staged_trainer_state(record.trainer_state, run_dir, replace=replace)
        if state_text is not None:
            files.pop(TRAINER_STATE)
            generated[TRAINER_STATE] = state_text
    if base_model != record.base_model:  # the Hub id, or a dry run's placeholder: never this machine's path
        files.pop(ADAPTER_CONFIG)
        generated[ADAPTER_CONFIG] = staged_adapter_config(config_path.read_text(encoding="utf-8"),
                                                          base_model or local_base_placeholder(record.base_model),
                                                          config_path)
    sizes = {**planned_sizes(files), **{name: len(text.encode("utf-8")) for name, text in generated.items()}}
    # a dry run of a local base without --base-model: the card names its folder, neither linked nor in the metadata
    shown_base = base_model or replace[record.base_model]
    card = render_card(record, options.repo_id, sizes, license=options.license, dataset_id=options.dataset_id,
                       unverified=unverified, comparison=comparison, base_model=shown_base,
                       base_on_hub=base_model is not None, collected_rounds=collected, adapter_sha256=sha256)
    check_card(card, base_model)
    staged = stage(files, card, stage_dir, generated)
    return StagedRun(stage_dir, staged, record, unverified, warning)


def _json_text(value: Any) -> str:
    import json

    return json.dumps(value, indent=2, allow_nan=False) + "\n"


def _written_by_publish(run_dir: Path, files: dict[str, Path]) -> dict[str, str]:
    """The ``dynahate`` chat template (and a tokenizer_config.json that holds a template itself, or what held only on
    the training machine), in place of the run's files (removed from ``files``)."""
    template = chat_template_text(run_dir)
    if template is None:
        return {}
    generated = {CHAT_TEMPLATE: template}
    config_text = tokenizer_config_text(run_dir, template)
    if config_text is not None:
        files.pop(TOKENIZER_CONFIG, None)
        generated[TOKENIZER_CONFIG] = config_text
    return generated


def _comparison(options: PublishOptions, record: RunRecord) -> dict[str, Any] | None:
    """``dynahate compare``'s result for ``compare_to`` (the other evaluation as A, this run's as B), or None."""
    if options.compare_to is None:
        return None
    from dynahate.eval.compare.comparison import compare_evaluations

    if not record.eval_results:
        raise DynahateError(f"--compare-to {options.compare_to}: this run has no `dynahate eval` results in "
                            f"{record.eval_dir} to compare; run `dynahate eval` first")
    comparison = compare_evaluations(options.compare_to, record.eval_dir,
                                     allow_different_posts=options.allow_different_posts)
    for split, entry in comparison["splits"].items():  # the same weights compared with themselves: all zeros
        sha_a, sha_b = ((entry[side].get("adapter") or {}).get("sha256") for side in ("a", "b"))
        if sha_a is not None and sha_a == sha_b:
            raise DynahateError(f"--compare-to {options.compare_to}: its {split!r} results are of this run's own "
                                f"adapter (SHA-256 {sha_a[:12]}...); compare with another adapter's evaluation")
    return comparison
