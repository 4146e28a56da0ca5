"""Load the base model the way training did and attach a trained LoRA adapter.

By default the base is quantized on the fly to 4-bit NF4 with bitsandbytes, with the settings
LLaMA-Factory uses for ``quantization_bit: 4`` (double quantization, NF4, storage and compute in
the compute dtype), so evaluation sees the weights the adapter was trained against.
``quantize=False`` loads it unquantized (bf16 on a GPU, fp32 on CPU). The tokenizer is the one
LLaMA-Factory saved in the run directory, else the base model's.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dynahate.plugin.errors import DynahateError
from dynahate.plugin.jsonl import read_json

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
    if not run_dir.is_dir():
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


def load_tokenizer(run_dir: Path, base: str):
    from transformers import AutoTokenizer

    source = run_dir if (run_dir / "tokenizer_config.json").is_file() else base
    return AutoTokenizer.from_pretrained(source)


def load_adapter_model(run_dir: str | Path, base: str | None = None, *, quantize: bool = True,
                       force: bool = False, device: str | None = None) -> LoadedModel:
    """Base model (4-bit by default) + the run's LoRA adapter, in eval mode."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    run_dir = Path(run_dir)
    base_name = resolve_base(read_adapter_config(run_dir), base, force)
    device = device or default_device()
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    kwargs: dict[str, Any] = {"dtype": dtype, "device_map": {"": device}}
    if quantize:
        kwargs["quantization_config"] = bnb_4bit_config(dtype)
    try:
        model = AutoModelForCausalLM.from_pretrained(base_name, **kwargs)
    except OSError as exc:
        raise DynahateError(f"cannot load base model {base_name!r}: {str(exc).splitlines()[0]}") from None
    model = PeftModel.from_pretrained(model, run_dir)
    model.eval()
    tokenizer = load_tokenizer(run_dir, base_name)
    return LoadedModel(model, tokenizer, base_name, run_dir, quantize, device, dtype)
