"""Checks that run before anything is staged or uploaded; each failure says what to do.

The run record is checked (:func:`check_run_record`) before the card is rendered, so a bad record is
refused before any rendering work; the rendered card is then checked against what is published
(:func:`check_card`). A file or folder publish cannot read is one line saying so (permission denied),
never a missing file or a traceback.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from dynahate.core.errors import DynahateError
from dynahate.publish.run_record import RunRecord

if TYPE_CHECKING:
    from huggingface_hub import ModelCardData

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"


def check_repo_id(repo_id: str, option: str = "--repo-id") -> None:
    """``repo_id`` is a well-formed ``USER/NAME`` (the same rule as a Hub ``--adapter``); ``option`` names it."""
    from dynahate.inference.adapter_source import repo_id_problem

    problem = repo_id_problem(repo_id)
    if problem:
        raise DynahateError(f"{option} {repo_id!r} is not a valid Hub repo id: {problem}")


def permission_denied(path: Any, need: str = "needs to read it") -> DynahateError:
    return DynahateError(f"{path}: permission denied; publish {need} (check its owner and mode, and those of "
                         "the folders above it)")


@contextlib.contextmanager
def permission_errors_as_one_line() -> Iterator[None]:
    """A ``PermissionError`` raised in the block becomes one :class:`DynahateError` naming its path."""
    try:
        yield
    except PermissionError as exc:
        raise permission_denied(exc.filename or "a file", "cannot read or write it") from None


def check_adapter_files(run_dir: Path) -> None:
    """The run directory can be listed and the adapter's files read (cheap; before anything imports peft)."""
    weights = run_dir / ADAPTER_WEIGHTS
    try:
        os.listdir(run_dir)
    except (FileNotFoundError, NotADirectoryError):
        raise DynahateError(f"{weights}: missing; is {run_dir} a finished LoRA run?") from None
    except PermissionError:
        raise permission_denied(run_dir) from None
    for path in (weights, run_dir / ADAPTER_CONFIG):
        try:
            with open(path, "rb"):
                pass
        except FileNotFoundError:
            if path == weights:
                raise DynahateError(f"{weights}: missing; is {run_dir} a finished LoRA run?") from None
        except PermissionError:
            raise permission_denied(path) from None
        except IsADirectoryError:
            raise DynahateError(f"{path}: a folder, not the adapter's file; is {run_dir} a finished LoRA "
                                "run?") from None


def check_adapter(run_dir: Path) -> None:
    """The adapter files exist and peft reads the config as a LoRA config."""
    from peft import PeftConfig

    check_adapter_files(run_dir)
    try:
        config = PeftConfig.from_pretrained(str(run_dir))
    except (ValueError, OSError, TypeError) as exc:
        raise DynahateError(f"{run_dir / ADAPTER_CONFIG}: peft cannot load it: "
                            f"{str(exc).splitlines()[0]}") from None
    if str(config.peft_type).split(".")[-1].upper() != "LORA":
        raise DynahateError(f"{run_dir}: adapter type {config.peft_type} is not LoRA")


def check_run_record(record: RunRecord, allow_missing_eval: bool) -> None:
    """The record holds what the card states: evaluation results (unless allowed missing; each split with the
    numbers the card shows was checked when :func:`dynahate.plugin.eval_record.read_record` read it), and the
    adapter's base model. Runs before the card is rendered."""
    if not record.eval_results and not allow_missing_eval:
        raise DynahateError(f"no eval_results.json from `dynahate eval` in {record.eval_dir}; run "
                            f"`dynahate eval --adapter {record.run_dir}` first, or pass --allow-missing-eval")
    if not isinstance(record.adapter, dict) or not isinstance(record.adapter.get("base_model_name_or_path"), str) \
            or not record.adapter["base_model_name_or_path"]:
        raise DynahateError(f"{record.run_dir / ADAPTER_CONFIG}: no base_model_name_or_path; is it a peft "
                            "adapter's config?")


def check_card(card_text: str, base_model: str | None) -> None:
    """The rendered card's metadata names the base model that is published (None: a local base, named by none)."""
    from huggingface_hub import ModelCard

    metadata = cast("ModelCardData", ModelCard(card_text).data)
    if metadata.base_model != base_model:
        raise DynahateError(f"the card names base model {metadata.base_model!r} but the adapter's is "
                            f"{base_model!r}")
