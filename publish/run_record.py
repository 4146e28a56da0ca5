"""What a finished run's own files say: everything the model card states comes from here.

Sources, each named in the card next to what it gave:

- ``adapter_config.json`` (peft): base model, LoRA rank, alpha, dropout, target modules, peft version.
- the Trainer's records: ``README.md`` as transformers writes it at the end of training
  ("Training hyperparameters", "Framework versions"), ``trainer_state.json`` (steps, epochs),
  ``all_results.json`` (runtime, samples/s, losses).
- the recipe file the run was launched with (``--recipe``): quantization, cutoff and template,
  which LLaMA-Factory does not write into the run directory. Where the recipe and the trainer's
  records both state a value and disagree (a ``key=value`` override at launch), the trainer's
  value is the one stated and the card notes the difference.
- ``eval_results.json`` (``dynahate eval``) and ``prepare_report.json`` (``dynahate prepare``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dynahate.core.errors import DynahateError
from dynahate.core.json_io import read_json
from dynahate.plugin.eval_record import RESULTS_NAME, SplitResults, read_record

TRAINER_CARD = "README.md"
RECIPE_KEYS = ("quantization_bit", "quantization_method", "template", "cutoff_len", "bf16", "dataset", "eval_dataset")
# trainer card key -> recipe key, for the values both record
CROSS_CHECKED = {
    "learning_rate": "learning_rate",
    "train_batch_size": "per_device_train_batch_size",
    "gradient_accumulation_steps": "gradient_accumulation_steps",
    "lr_scheduler_type": "lr_scheduler_type",
}


def _section(markdown: str, heading: str) -> str:
    match = re.search(rf"^#+ {re.escape(heading)}\s*$(.*?)(?=^#|\Z)", markdown, re.M | re.S)
    return match.group(1) if match else ""


def _bullets(text: str) -> dict[str, str]:
    return {m.group(1).strip(): m.group(2).strip() for m in re.finditer(r"^- ([^:\n]+): (.+)$", text, re.M)}


def parse_trainer_card(markdown: str) -> tuple[dict[str, str], dict[str, str]]:
    """Hyperparameters and framework versions from the card transformers' Trainer writes."""
    hyper = _bullets(_section(markdown, "Training hyperparameters"))
    version_lines = _section(markdown, "Framework versions")
    versions = {m.group(1): m.group(2) for m in re.finditer(r"^- (\S+) (\S+)$", version_lines, re.M)}
    return hyper, versions


OPTIMIZER_TEXT = re.compile(r"Use (?:OptimizerNames\.)?(\w+)(?: with betas=\(([^,]+),([^)]+)\) and epsilon=(\S+)"
                            r" and optimizer_args=(.*))?(?: and the args are:.*)?")
NO_OPTIMIZER_ARGS = "No additional optimizer arguments"


def describe_optimizer(text: str) -> str:
    """The Trainer card's optimizer sentence as ``--optim`` spells it, e.g. ``paged_adamw_32bit, betas (0.9, 0.999),
    epsilon 1e-08`` (names mapped through transformers' ``OptimizerNames``); unrecognised text is kept as is."""
    from transformers.training_args import OptimizerNames

    match = OPTIMIZER_TEXT.fullmatch(text.strip())
    if not match:
        return text
    name, beta1, beta2, epsilon, extra = match.groups()
    if name in OptimizerNames.__members__:
        name = OptimizerNames[name].value
    elif name not in {member.value for member in OptimizerNames}:
        return text
    parts = [name]
    if beta1 is not None:
        parts += [f"betas ({beta1}, {beta2})", f"epsilon {epsilon}"]
        if extra and extra != NO_OPTIMIZER_ARGS:
            parts.append(f"optimizer_args {extra}")
    return ", ".join(parts)


def read_recipe(path: Path) -> dict[str, Any]:
    import yaml

    try:
        recipe = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DynahateError(f"{path}: recipe not found "
                            "(pass --recipe with the YAML the run was trained with)") from None
    except yaml.YAMLError as exc:
        raise DynahateError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(recipe, dict):
        raise DynahateError(f"{path}: expected a LLaMA-Factory YAML mapping")
    return recipe


def _same(card_value: str, recipe_value: Any) -> bool:
    try:
        return float(card_value) == float(recipe_value)
    except (TypeError, ValueError):
        return str(card_value).strip().lower() == str(recipe_value).strip().lower()


@dataclass
class RunRecord:
    run_dir: Path
    adapter: dict[str, Any]
    hyperparameters: dict[str, str]  # from the Trainer's card
    framework_versions: dict[str, str]
    trainer_state: dict[str, Any]
    all_results: dict[str, Any]
    recipe_path: Path
    recipe: dict[str, Any]  # only RECIPE_KEYS
    eval_results: dict[str, SplitResults] | None
    eval_dir: Path
    prepare_report: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)

    @property
    def base_model(self) -> str:
        return self.adapter["base_model_name_or_path"]


def load_run_record(run_dir: Path, *, recipe: Path, eval_dir: Path | None = None,
                    prepare_report: Path | None = None) -> RunRecord:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DynahateError(f"{run_dir}: run directory not found")
    adapter = read_json(run_dir / "adapter_config.json", "the LoRA adapter's config")
    trainer_card = run_dir / TRAINER_CARD
    if trainer_card.is_file():
        hyper, versions = parse_trainer_card(trainer_card.read_text(encoding="utf-8"))
    else:
        hyper, versions = {}, {}
    notes = [] if hyper else [f"the Trainer's {TRAINER_CARD} is missing from the run, so batch size, learning rate, "
                              "schedule and epochs are not stated"]
    state_path, results_path = run_dir / "trainer_state.json", run_dir / "all_results.json"
    state = read_json(state_path, "the Trainer's state") if state_path.is_file() else {}
    all_results = read_json(results_path, "the Trainer's results") if results_path.is_file() else {}
    full_recipe = read_recipe(recipe)
    for card_key, recipe_key in CROSS_CHECKED.items():
        if card_key in hyper and recipe_key in full_recipe and not _same(hyper[card_key], full_recipe[recipe_key]):
            notes.append(f"{recipe.name} sets {recipe_key}: {full_recipe[recipe_key]} but the Trainer recorded "
                         f"{card_key}: {hyper[card_key]} (overridden at launch); the Trainer's value is stated")
    if hyper and full_recipe.get("bf16") and "mixed_precision_training" not in hyper:
        notes.append(f"{recipe.name} sets bf16: true but the Trainer recorded no mixed precision "
                     "(overridden at launch)")
    eval_dir = Path(eval_dir) if eval_dir else run_dir
    eval_results = None
    if (eval_dir / RESULTS_NAME).exists():  # read and checked by the one reader; LLaMA-Factory's own is not ours
        record = read_record(eval_dir / RESULTS_NAME, allow_trainer=True, what="dynahate eval results")
        if record.trainer_text is None:
            eval_results = dict(record.splits)
    report = None
    if prepare_report and prepare_report.is_file():
        report = read_json(prepare_report, "dynahate prepare's report")
    return RunRecord(run_dir, adapter, hyper, versions, state, all_results, Path(recipe),
                     {k: full_recipe[k] for k in RECIPE_KEYS if k in full_recipe}, eval_results, eval_dir,
                     report, notes)
