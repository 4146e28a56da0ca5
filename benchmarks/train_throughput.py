"""Exact vs fast recipe: training throughput measured side by side in one run.

Runs the real ``llamafactory-cli train`` on ``recipes/dynahate_qlora.yaml`` and
``recipes/dynahate_qlora_fast.yaml`` for the same number of optimizer steps (24 samples each) on
the same model and data, then prints samples/s of each, the ratio, both loss curves, and the
padding each batching scheme carries on this data (measured with transformers' own samplers).

    python benchmarks/train_throughput.py                      # tiny CPU model: proves the plumbing
    python benchmarks/train_throughput.py --model PATH --csv dynahate.csv --steps 30
    python benchmarks/train_throughput.py --llama31-8b-random  # GPU: real 8B architecture, random weights

On CPU the fused kernels (liger) are switched off, since they need a GPU; the script says so.
``--llama31-8b-random`` writes a Llama-3.1-8B-shaped model with random bf16 weights (~16 GB of
disk, no download) and Llama 3.1's own tokenizer (offline, from ``llama-models``), so sequence
lengths are the real ones.

Why the fast recipe should be faster on a GPU (fixed cost per pass over the 4-bit weights,
padding, batched evaluation), worked out as arithmetic: docs/recipes.md, "The arithmetic behind the speedup".
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import cast

from tiny_run import REPO, SAMPLE, llama31_8b_random

RECIPES = {"exact": REPO / "recipes" / "dynahate_qlora.yaml", "fast": REPO / "recipes" / "dynahate_qlora_fast.yaml"}


def build_llama31_8b_random(out: Path) -> Path:
    """Llama-3.1-8B dimensions, random weights, Llama 3.1's tokenizer, written to ``out``."""
    model, tokenizer = llama31_8b_random()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def padding_fraction(lengths: list[int], batch: int, grouped: bool, seed: int = 0) -> float:
    """Share of padding tokens over one epoch of batches drawn as the Trainer would draw them."""
    import torch
    from torch.utils.data import RandomSampler
    from transformers.trainer_pt_utils import LengthGroupedSampler

    generator = torch.Generator().manual_seed(seed)
    if grouped:
        order = list(LengthGroupedSampler(batch, lengths=lengths, generator=generator))
    else:
        order = list(RandomSampler(range(len(lengths)), generator=generator))
    real = padded = 0
    for start in range(0, len(order), batch):
        chunk = [lengths[i] for i in order[start : start + batch]]
        real += sum(chunk)
        padded += max(chunk) * len(chunk)
    return 1 - real / padded


def token_lengths(model: Path, train_jsonl: Path) -> list[int]:
    from transformers import AutoTokenizer

    from dynahate.plugin import prompts

    tokenizer = AutoTokenizer.from_pretrained(model)
    records = [json.loads(line) for line in train_jsonl.read_text().splitlines()]
    return [len(prompts.encode_prompt(tokenizer, r["input"])) + len(prompts.encode_label(tokenizer, r["output"]))
            for r in records]


def train(name: str, workspace: Path, model: Path, out: Path, steps: int, on_gpu: bool) -> dict:
    overrides = [f"model_name_or_path={model}", f"output_dir={out}", f"max_steps={steps}", "logging_steps=1",
                 "save_steps=100000", "eval_strategy='no'", "plot_loss=false"]  # quoted: YAML reads no as false
    if not on_gpu:
        overrides += ["bf16=false"]
        if name == "fast":
            overrides += ["enable_liger_kernel=false"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DISABLE_VERSION_CHECK": "1"}
    cli = Path(sys.executable).with_name("llamafactory-cli")
    proc = subprocess.run([str(cli), "train", str(RECIPES[name]), *overrides], cwd=workspace, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{name} recipe failed:\n{proc.stderr[-4000:]}")
    results = json.loads((out / "train_results.json").read_text())
    state = json.loads((out / "trainer_state.json").read_text())
    losses = [entry["loss"] for entry in state["log_history"] if "loss" in entry]
    return {"samples_per_second": results["train_samples_per_second"], "runtime": results["train_runtime"],
            "losses": losses}


def main() -> None:
    parser = argparse.ArgumentParser(description=cast(str, __doc__).splitlines()[0])
    parser.add_argument("--model", type=Path, help="base model directory (default: build the tiny model)")
    parser.add_argument("--llama31-8b-random", action="store_true", help="Llama-3.1-8B architecture, random weights")
    parser.add_argument("--csv", type=Path, default=SAMPLE, help="Dynahate CSV (default: the bundled sample)")
    parser.add_argument("--steps", type=int, default=8, help="optimizer steps per recipe (24 samples each)")
    parser.add_argument("--workdir", type=Path, help="keep runs here (default: a temporary directory)")
    args = parser.parse_args()

    import torch

    from dynahate.plugin.data.prepare import prepare
    from dynahate.plugin.lf_workspace import make_workspace
    from dynahate.plugin.splits import data_file
    from dynahate.plugin.tiny_model import build_tiny_model

    on_gpu = torch.cuda.is_available()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        prepared = work / "prepared"
        prepare(args.csv, prepared)
        workspace = make_workspace(work / "workspace", prepared)
        if args.llama31_8b_random:
            model = build_llama31_8b_random(work / "llama31-8b-random")
        else:
            model = args.model or build_tiny_model(work / "tiny-model")
        lengths = token_lengths(model, data_file(prepared, "train"))
        random.seed(0)
        runs = {name: train(name, workspace, model, work / f"run-{name}", args.steps, on_gpu) for name in RECIPES}

    device = torch.cuda.get_device_name(0) if on_gpu else "CPU (fused kernels off: liger needs a GPU)"
    print(f"device: {device}; model: {'Llama-3.1-8B random' if args.llama31_8b_random else model}")
    print(f"data: {len(lengths)} train samples, {sum(lengths) / len(lengths):.1f} tokens on average, "
          f"max {max(lengths)}")
    print(f"padding: exact (random batches of 3) {padding_fraction(lengths, 3, grouped=False):.1%}, "
          f"fast (length-grouped batches of 24) {padding_fraction(lengths, 24, grouped=True):.1%}")
    for name, run in runs.items():
        print(f"{name:5s}: {run['samples_per_second']:8.2f} samples/s  ({args.steps} steps x 24 samples in "
              f"{run['runtime']:.1f} s)")
    print(f"ratio fast/exact: {runs['fast']['samples_per_second'] / runs['exact']['samples_per_second']:.2f}x")
    print("loss per step (exact | fast):")
    for step, (a, b) in enumerate(zip(runs["exact"]["losses"], runs["fast"]["losses"], strict=False), start=1):
        print(f"  {step:3d}  {a:8.4f} | {b:8.4f}")


if __name__ == "__main__":
    main()
