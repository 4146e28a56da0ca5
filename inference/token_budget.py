"""The score engine's token budget: ``auto`` or a number, and what ``auto`` resolves to.

A budget is the most padded tokens one scoring batch may hold (cached prompt prefix and the
longest label included). A number the user passes is used exactly. ``auto`` (the default of
``dynahate eval``, ``predict`` and ``serve``) resolves, once the model is loaded:

* on CPU (or any device that is not CUDA) to 8,192;
* on a CUDA GPU, from the memory still free on the model's device (``torch.cuda.mem_get_info``,
  plus what PyTorch's allocator has reserved but not used)::

      per_token = 2 * layers * kv_heads * head_dim * b            # key/value cache
                + (3 * intermediate + 4 * hidden) * b             # the widest layer: MLP gate, up, product; residuals
                + label_rows_per_token * vocab * (b + 8)          # label log-probs: logits, fp32 copy, log-softmax
      budget    = (0.9 * free - 2 GiB) / (1.5 * per_token)         # 1.5: safety factor (allocator, attention, LoRA)

  with ``b`` the bytes of the compute dtype (bf16: 2), rounded down to a multiple of 1,024 and
  held between 1,024 and 131,072 (beyond which batches are no faster: one pass per batch
  already fills the GPU, see ``benchmarks/eval_throughput.py``). ``label_rows_per_token`` is how
  many vocabulary rows a padded token costs (the engine passes its own; by default 1/10, the
  Dynahate labels' 5 label tokens per ~50-token row). For a Llama-3.1-8B shape in bf16
  (32 layers, 8 KV heads of 128, hidden 4,096, intermediate 14,336, vocab 128,256),
  ``per_token`` is ~369 KiB: ~70 GiB free (an H100 after loading the 4-bit model) gives
  114,688 tokens, ~130 GiB free (an H200) the 131,072 cap, 24 GiB free 36,864.

A batch that still runs out of memory is split in two by the engine, and the smaller budget is
kept for the rest of the run (:class:`dynahate.inference.score_engine.ScoreEngine`).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

AUTO = "auto"
CPU_TOKEN_BUDGET = 8192
MIN_AUTO_TOKEN_BUDGET = 1024
MAX_AUTO_TOKEN_BUDGET = 131072
FREE_FRACTION = 0.9  # of the free memory, the part a batch may use
RESERVE_BYTES = 2 * 2**30  # fixed: dequantized 4-bit weights of one layer, cuBLAS workspaces, the prefix cache
SAFETY_FACTOR = 1.5
DEFAULT_LABEL_ROWS_PER_TOKEN = 0.1
GIB = 2**30


def token_budget_arg(text: str) -> int | str:
    """argparse type of ``--token-budget``: ``auto`` or a positive integer."""
    if text.strip().lower() == AUTO:
        return AUTO
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 'auto' or a positive integer, got {text!r}")
    return value


token_budget_arg.__name__ = "token budget"  # argparse names the type in its own messages


def _text_config(config: Any) -> Any:
    return config.get_text_config() if hasattr(config, "get_text_config") else config


def bytes_per_token(config: Any, dtype_bytes: int = 2,
                    label_rows_per_token: float = DEFAULT_LABEL_ROWS_PER_TOKEN) -> float:
    """Estimated GPU bytes one padded token of a scoring batch needs (the formula in the module docstring)."""
    config = _text_config(config)
    hidden = config.hidden_size
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    intermediate = getattr(config, "intermediate_size", None) or 4 * hidden
    kv_cache = 2 * config.num_hidden_layers * kv_heads * head_dim * dtype_bytes
    activations = (3 * intermediate + 4 * hidden) * dtype_bytes
    label_logits = label_rows_per_token * config.vocab_size * (dtype_bytes + 8)
    return kv_cache + activations + label_logits


def auto_token_budget(free_bytes: int, config: Any, dtype_bytes: int = 2,
                      label_rows_per_token: float = DEFAULT_LABEL_ROWS_PER_TOKEN) -> int:
    """The GPU budget for ``free_bytes`` of free device memory (a pure function of its arguments)."""
    usable = FREE_FRACTION * free_bytes - RESERVE_BYTES
    per_token = SAFETY_FACTOR * bytes_per_token(config, dtype_bytes, label_rows_per_token)
    tokens = int(max(usable, 0) // per_token) // 1024 * 1024
    return max(MIN_AUTO_TOKEN_BUDGET, min(MAX_AUTO_TOKEN_BUDGET, tokens))


@dataclass(frozen=True)
class ResolvedBudget:
    tokens: int
    how: str  # for the user: "given", or where an automatic figure came from


def free_device_bytes(device: Any) -> int:
    """Free memory on a CUDA device, counting what this process's allocator holds but does not use."""
    import torch

    free, _total = torch.cuda.mem_get_info(device)
    return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)


def resolve_token_budget(budget: int | str, model: Any, device: Any,
                         label_rows_per_token: float = DEFAULT_LABEL_ROWS_PER_TOKEN) -> ResolvedBudget:
    """A number stays as given; ``auto`` becomes 8,192 on CPU, or the free-memory formula on a CUDA GPU."""
    if budget != AUTO:
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
            raise ValueError(f"token budget must be 'auto' or a positive integer, got {budget!r}")
        return ResolvedBudget(budget, "given")
    if getattr(device, "type", str(device).split(":")[0]) != "cuda":
        return ResolvedBudget(CPU_TOKEN_BUDGET, f"auto: {CPU_TOKEN_BUDGET} on CPU")
    dtype_bytes = model.get_input_embeddings().weight.element_size()
    free = free_device_bytes(device)
    tokens = auto_token_budget(free, model.config, dtype_bytes, label_rows_per_token)
    per_token = bytes_per_token(model.config, dtype_bytes, label_rows_per_token)
    return ResolvedBudget(tokens, f"auto: {free / GIB:.1f} GiB free on {device} after loading, "
                                  f"~{per_token / 1024:.0f} KiB per padded token x {SAFETY_FACTOR} safety")
