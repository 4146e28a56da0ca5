"""Checks that run before anything is staged or uploaded; each failure says what to do."""

from __future__ import annotations

from pathlib import Path

from dynahate.core.errors import DynahateError
from dynahate.publish.run_record import RunRecord


def check_repo_id(repo_id: str) -> None:
    """``--repo-id`` is a well-formed ``USER/NAME`` (the same rule as a Hub ``--adapter``)."""
    from dynahate.inference.adapter_source import repo_id_problem

    problem = repo_id_problem(repo_id)
    if problem:
        raise DynahateError(f"--repo-id {repo_id!r} is not a valid Hub repo id: {problem}")


def check_adapter_files(run_dir: Path) -> None:
    """The adapter's weights file exists (cheap; before anything imports peft)."""
    weights = run_dir / "adapter_model.safetensors"
    if not weights.exists():
        raise DynahateError(f"{weights}: missing; is {run_dir} a finished LoRA run?")


def check_adapter(run_dir: Path) -> None:
    """The adapter files exist and peft reads the config as a LoRA config."""
    from peft import PeftConfig

    check_adapter_files(run_dir)
    try:
        config = PeftConfig.from_pretrained(str(run_dir))
    except (ValueError, OSError, TypeError) as exc:
        raise DynahateError(f"{run_dir / 'adapter_config.json'}: peft cannot load it: "
                            f"{str(exc).splitlines()[0]}") from None
    if str(config.peft_type).split(".")[-1].upper() != "LORA":
        raise DynahateError(f"{run_dir}: adapter type {config.peft_type} is not LoRA")


def check_record(record: RunRecord, card_text: str, allow_missing_eval: bool) -> None:
    from huggingface_hub import ModelCard

    card = ModelCard(card_text)
    if card.data.base_model != record.base_model:
        raise DynahateError(f"the card names base model {card.data.base_model!r} but the adapter's is "
                            f"{record.base_model!r}")
    if not record.eval_results and not allow_missing_eval:
        raise DynahateError(f"no eval_results.json from `dynahate eval` in {record.eval_dir}; run "
                            f"`dynahate eval --adapter {record.run_dir}` first, or pass --allow-missing-eval")
