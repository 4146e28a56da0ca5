"""The precision evaluation runs the model in: the same as LLaMA-Factory's training.

Training ran with ``bf16: true``, i.e. under ``torch.autocast("cuda", dtype=torch.bfloat16)``
(the Trainer's mixed precision): the LoRA matmuls, which peft keeps in fp32, ran in bf16 there.
On CUDA every forward of the engines runs under that same autocast; on CPU nothing changes (fp32,
as the tiny test model is trained on CPU with ``bf16=false``).
"""

from __future__ import annotations

import contextlib
from typing import Any


def training_autocast(device: Any) -> contextlib.AbstractContextManager:
    """``torch.autocast`` in bf16 on a CUDA device (as training ran), a no-op elsewhere."""
    import torch

    if torch.device(device).type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
