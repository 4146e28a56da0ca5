"""The models the benchmarks run on: the tiny CPU model trained with the real recipe, or Llama-3.1-8B's shape.

:func:`train_tiny` builds the tiny Llama-3-architecture model, prepares the synthetic sample, and
runs ``llamafactory-cli train recipes/dynahate_qlora.yaml`` with
:data:`dynahate.plugin.tiny_model.TINY_TRAIN_OVERRIDES` (60 steps at LR 5e-3, as ``make demo`` and
the tests' ``trained_run``), so that it answers with labels. :func:`llama31_8b_random` is
Llama-3.1-8B's architecture (:func:`dynahate.plugin.tiny_model.llama31_8b_config`) with random
bf16 weights, for the GPU runs. :func:`sample_posts` gives the sample's posts to send, and :func:`percentile` the
latency figures the serving benchmarks print. Imported by the benchmark scripts beside it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "tests" / "fixtures" / "dynahate_sample.csv"
RECIPE = REPO / "recipes" / "dynahate_qlora.yaml"


def train_tiny(work: Path) -> Path:
    from dynahate.plugin.data.prepare import prepare
    from dynahate.plugin.lf_workspace import make_workspace
    from dynahate.plugin.tiny_model import TINY_TRAIN_OVERRIDES, build_tiny_model

    model = build_tiny_model(work / "tiny-model")
    prepare(SAMPLE, work / "prepared")
    workspace = make_workspace(work / "workspace", work / "prepared")
    run = work / "run"
    cli = Path(sys.executable).with_name("llamafactory-cli")
    proc = subprocess.run(
        [str(cli), "train", str(RECIPE), f"model_name_or_path={model}", f"output_dir={run}", *TINY_TRAIN_OVERRIDES],
        cwd=workspace, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    if proc.returncode != 0:
        sys.exit(f"training the tiny model failed:\n{proc.stderr[-3000:]}")
    return run


def sample_posts(work: Path, count: int) -> tuple[list[str], list[str]]:
    """The synthetic sample prepared into ``work/prepared``: (its distinct train posts, ``count`` posts cycling
    through them)."""
    import json

    from dynahate.plugin.data.prepare import prepare
    from dynahate.plugin.splits import data_file

    prepare(SAMPLE, work / "prepared")
    unique = [json.loads(line)["input"] for line in data_file(work / "prepared", "train").read_text().splitlines()]
    return unique, (unique * (count // len(unique) + 1))[:count]


def percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` of ``values`` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def llama31_8b_random():
    """Llama-3.1-8B's architecture with random bf16 weights (on the GPU when there is one), and its tokenizer.

    About 16 GB of weights, no download; the tokenizer is Llama 3.1's own, built offline from ``llama-models``
    (:mod:`dynahate.plugin.llama3_tokenizer`), so sequence lengths are the real ones. Returns ``(model, tokenizer)``.
    """
    import torch
    from transformers import LlamaForCausalLM

    from dynahate.plugin.llama3_tokenizer import llama31_tokenizer
    from dynahate.plugin.tiny_model import llama31_8b_config

    tokenizer = llama31_tokenizer()
    config = llama31_8b_config(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                               torch_dtype="bfloat16")
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        # transformers wraps PreTrainedModel.to in a decorator whose type the checker misreads (self as the dtype)
        model = LlamaForCausalLM(config).to(torch.bfloat16)  # pyright: ignore[reportArgumentType]
    return model, tokenizer
