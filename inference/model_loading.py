"""Load the base model the way training did and attach a trained LoRA adapter.

By default the base is quantized on the fly to 4-bit NF4 with bitsandbytes, with the settings
LLaMA-Factory uses for ``quantization_bit: 4`` (double quantization, NF4, storage and compute in
the compute dtype), so evaluation sees the weights the adapter was trained against.
``quantize=False`` loads it unquantized (bf16 on a GPU, fp32 on CPU). The tokenizer is the one
LLaMA-Factory saved in the run directory, else the base model's.

:func:`resolve_adapter` checks a run directory without loading any model (its config, and that
``adapter_model.safetensors`` is a readable safetensors file with tensors), so commands fail in
seconds on a broken run; every loading failure is one :class:`DynahateError` naming the file
or model.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dynahate.core.describe import first_line
from dynahate.core.errors import DynahateError
from dynahate.core.json_io import read_json

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


@dataclass
class LoadedModel:
    model: Any  # peft.PeftModel
    tokenizer: Any
    base: str
    adapter_dir: Path
    quantized: bool
    device: str
    dtype: Any


def read_adapter_config(run_dir: str | Path) -> dict[str, Any]:
    """The adapter's ``adapter_config.json``; one clear error for a missing or broken run dir."""
    run_dir = Path(run_dir)
    try:
        found = run_dir.is_dir()
    except OSError as exc:  # a name too long for the file system, ...
        raise DynahateError(f"{str(run_dir)[:80]!r}: run directory not found ({exc.strerror})") from None
    if not found:
        raise DynahateError(f"{run_dir}: run directory not found (pass the output_dir of the training run)")
    missing = [name for name in ADAPTER_FILES if not (run_dir / name).is_file()]
    if missing:
        raise DynahateError(f"{run_dir}: no {' or '.join(missing)}; is this a finished LoRA training run?")
    config = read_json(run_dir / "adapter_config.json", "the LoRA adapter's config")
    if not isinstance(config, dict) or "base_model_name_or_path" not in config:
        raise DynahateError(f"{run_dir / 'adapter_config.json'}: missing key 'base_model_name_or_path'")
    return config


def adapter_sha256(run_dir: str | Path) -> str:
    """SHA-256 of the run's ``adapter_model.safetensors``: what identifies an evaluated adapter."""
    path = Path(run_dir) / "adapter_model.safetensors"
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as exc:
        raise DynahateError(f"{path}: cannot read the adapter weights ({exc.strerror})") from None


def adapter_provenance(run_dir: str | Path, base: str) -> dict[str, str]:
    """What ``eval_results.json`` records about the evaluated adapter (publish checks it against the run)."""
    return {"path": str(Path(run_dir).resolve()), "sha256": adapter_sha256(run_dir), "base_model": base}


def resolve_base(adapter_config: dict[str, Any], base: str | None, force: bool) -> str:
    """The base model to load: the adapter's own unless ``base`` says otherwise (refused unless forced)."""
    trained_on = adapter_config["base_model_name_or_path"]
    if base is None or base == trained_on:
        return trained_on
    message = f"the adapter was trained on {trained_on!r}, not on --base {base!r}"
    if not force:
        raise DynahateError(f"{message}; pass --force to evaluate it on that base anyway")
    warnings.warn(message, stacklevel=2)
    return base


def check_adapter_weights(run_dir: str | Path) -> None:
    """``adapter_model.safetensors`` has a valid safetensors header listing at least one tensor."""
    from safetensors import SafetensorError, safe_open

    path = Path(run_dir) / "adapter_model.safetensors"
    try:
        with safe_open(str(path), framework="numpy") as weights:  # the header only; "pt" would import torch
            names = list(weights.keys())
    except (SafetensorError, OSError) as exc:
        raise DynahateError(f"{path}: not a readable safetensors file ({first_line(exc)}); "
                            "is the training run complete?") from None
    if not names:
        raise DynahateError(f"{path}: holds no tensors; is the training run complete?")


def resolve_adapter(run_dir: str | Path, base: str | None = None, force: bool = False) -> str:
    """Check the run directory (config and weights) and return the base model to load; loads no model."""
    config = read_adapter_config(run_dir)
    check_adapter_weights(run_dir)
    return resolve_base(config, base, force)




def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def bnb_4bit_config(compute_dtype):
    """The on-the-fly 4-bit config LLaMA-Factory builds for ``quantization_bit: 4`` (bnb)."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_compute_dtype=compute_dtype,
        bnb_4bit_use_double_quant=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_quant_storage=compute_dtype,
    )


def load_tokenizer(run_dir: str | Path, base: str):
    """The tokenizer LLaMA-Factory saved in the run directory, else the base model's (cheap: no weights)."""
    from transformers import AutoTokenizer

    run_dir = Path(run_dir)
    source = run_dir if (run_dir / "tokenizer_config.json").is_file() else base
    try:
        return AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise DynahateError(f"cannot load the tokenizer from {str(source)!r}: {first_line(exc)}") from None


def load_adapter_model(run_dir: str | Path, base: str | None = None, *, quantize: bool = True,
                       force: bool = False, device: str | None = None, tokenizer: Any = None) -> LoadedModel:
    """Base model (4-bit by default) + the run's LoRA adapter, in eval mode.

    Args:
        run_dir: The training run (or any folder) holding ``adapter_config.json`` and
            ``adapter_model.safetensors``.
        base: The base model name or path; default: the adapter config's ``base_model_name_or_path``.
        quantize: Load the base in 4-bit NF4 with double quantization, as ``quantization_bit: 4``
            trained it; ``False`` loads it in bf16 (CUDA) or fp32 (CPU).
        force: Accept a ``base`` that differs from the adapter config's.
        device: ``"cuda"``, ``"cuda:N"`` or ``"cpu"``; default: CUDA when available.
        tokenizer: One already loaded with :func:`load_tokenizer` (else it is loaded here).

    Returns:
        The model, tokenizer, base name, run dir, quantization flag, device and compute dtype.

    Raises:
        DynahateError: The adapter config, base model, weights or tokenizer cannot be loaded
            (one line naming the file or model).
    """
    import torch
    from peft import PeftModel
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM

    run_dir = Path(run_dir)
    base_name = resolve_adapter(run_dir, base, force)
    device = device or default_device()
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    kwargs: dict[str, Any] = {"dtype": dtype, "device_map": {"": device}}
    if quantize:
        kwargs["quantization_config"] = bnb_4bit_config(dtype)
    try:
        model = AutoModelForCausalLM.from_pretrained(base_name, **kwargs)
    except (OSError, ValueError) as exc:
        raise DynahateError(f"cannot load base model {base_name!r}: {first_line(exc)}") from None
    try:
        model = PeftModel.from_pretrained(model, run_dir)
    except (SafetensorError, OSError, ValueError, RuntimeError, KeyError) as exc:  # e.g. shapes of another base
        raise DynahateError(f"{run_dir / 'adapter_model.safetensors'}: cannot attach the LoRA adapter to "
                            f"{base_name!r}: {first_line(exc)}") from None
    model.eval()
    if tokenizer is None:
        tokenizer = load_tokenizer(run_dir, base_name)
    return LoadedModel(model, tokenizer, base_name, run_dir, quantize, device, dtype)
