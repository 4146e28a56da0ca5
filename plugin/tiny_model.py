"""A tiny Llama-3-architecture model that speaks Llama 3.1's own tokens, built locally in seconds.

It stands in for Meta-Llama-3.1-8B-Instruct wherever there is no GPU and no download: tests,
``make demo`` and the benchmarks. It has the Llama architecture (``LlamaForCausalLM``), Llama 3.1's
tokenizer (the 128,000 BPE ranks Meta ships in ``llama-models`` and the 256 special tokens at ids
128000-128255, see :mod:`dynahate.plugin.llama3_tokenizer`), so prompts, labels, the prefix cache
and token counts are the real ones, and random weights in two narrow layers. It is a pipeline
check: it knows nothing about hate. Build one with ``dynahate tiny-model OUT_DIR``.

Two more definitions live here, each the one source of its kind: :data:`TINY_TRAIN_OVERRIDES`,
the ``llamafactory-cli train`` overrides with which the recipe trains this model on CPU so that it
answers with labels (``make demo``, the tests' ``trained_run``, the benchmarks; ``dynahate
tiny-model --print-train-overrides`` prints them for the Makefile), and :func:`llama31_8b_config`,
the shape of the model it stands in for (the GPU benchmarks build random weights of that shape).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dynahate.plugin.llama3_tokenizer import llama3_special_tokens, llama31_tokenizer, save_tokenizer

__all__ = ["TINY_TRAIN_OVERRIDES", "build_tiny_model", "llama31_8b_config", "llama3_special_tokens"]

# `llamafactory-cli train recipes/dynahate_qlora.yaml` with these (plus model_name_or_path, output_dir and, outside
# a workspace, dataset_dir) trains the tiny model in under two minutes on CPU until it answers with a label:
# fp32 (no bf16 on CPU), 60 optimizer steps of 12 samples (not the recipe's 24: with Llama 3.1's 128,256-token
# vocabulary the output layer and its logits dominate a CPU step) at a learning rate a tiny random model needs,
# a log every 10 steps, one evaluation on the dev split halfway, and no checkpoint. Measured on the synthetic
# sample (2-core CPU): 96 s of training, final loss 0.07, eval loss 0.04, no invalid answer. (6 samples a step
# took 56 s but ended at loss 0.53: too close to chance for tests that need a model that answers.)
TINY_TRAIN_OVERRIDES: tuple[str, ...] = (
    "bf16=false", "max_steps=60", "gradient_accumulation_steps=4", "learning_rate=5e-3", "logging_steps=10",
    "eval_steps=30", "save_steps=1000",
)


def llama31_8b_config(**extra: Any):
    """Meta-Llama-3.1-8B(-Instruct)'s architecture as a ``transformers.LlamaConfig``, no weights.

    Args:
        **extra: further ``LlamaConfig`` fields (token ids, ``torch_dtype``), or overrides.

    Returns:
        The config; the values are those of the model's published ``config.json``.
    """
    from transformers import LlamaConfig

    fields = dict(
        vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
        num_key_value_heads=8, max_position_embeddings=131072, rms_norm_eps=1e-5, rope_theta=500000.0,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 8192},
    )
    return LlamaConfig(**{**fields, **extra})


def build_tiny_model(
    out_dir: str | Path,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    intermediate_size: int = 128,
    lm_head_std: float = 0.3,
    seed: int = 0,
) -> Path:
    """Write a tiny random Llama 3 model and Llama 3.1's tokenizer to ``out_dir``.

    Args:
        out_dir: Folder to write ``config.json``, ``model.safetensors`` and the tokenizer files to.
        hidden_size, num_layers, num_heads, num_kv_heads, intermediate_size: The (tiny) shape.
        lm_head_std: Spread of the random output layer (see below).
        seed: Seed of the random weights; the same seed writes the same bytes.

    Returns:
        ``out_dir`` as a path.

    Raises:
        DynahateError: ``llama-models`` (which ships the tokenizer's ranks) is not installed.
    """
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    out = Path(out_dir)
    tokenizer = llama31_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        max_position_embeddings=2048,
        rope_theta=500000.0,  # pyright: ignore[reportCallIssue]  # taken through LlamaConfig's **kwargs
        bos_token_id=tokenizer.convert_tokens_to_ids("<|begin_of_text|>"),
        eos_token_id=[tokenizer.convert_tokens_to_ids(t) for t in ("<|end_of_text|>", "<|eom_id|>", "<|eot_id|>")],
        tie_word_embeddings=False,
        torch_dtype="float32",  # pyright: ignore[reportCallIssue]  # taken through LlamaConfig's **kwargs
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    # With the default init (std 0.02) a 64-wide model cannot make any logit stand out, so a
    # LoRA adapter could never learn to answer with a label; a wider output layer lets it.
    with torch.no_grad():
        model.lm_head.weight.normal_(mean=0.0, std=lm_head_std)
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id, do_sample=False
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    save_tokenizer(tokenizer, out)
    (out / "TINY_MODEL.json").write_text(
        json.dumps({"note": "tiny random Llama-3-architecture model for pipeline checks, not a real model"}) + "\n"
    )
    return out
