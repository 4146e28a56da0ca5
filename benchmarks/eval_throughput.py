"""Score mode vs the original generate method: evaluation throughput side by side in one run.

On the same model and the same posts (default 4,120: the test split's size): the original method
(greedy generation of up to 4 tokens, batches of 8, input order, text parsed into a label) and
score mode (label likelihoods with the shared prompt prefix cached). Prints posts/s of each, the
ratio, peak memory and how often the two modes give the same label where generation gave a
valid one; for score mode also the token budget (as resolved: ``auto`` by default, as ``dynahate
eval``), the number of batches and the decoder's forward passes per batch (counted by a forward
pre-hook). ``--score-only`` skips the slow generate pass; ``--profile`` then profiles one more
score pass with torch.profiler (top 15 operators by self CPU time, and on a GPU by self CUDA time).

    python benchmarks/eval_throughput.py                       # tiny model, trained here for 60 steps
    python benchmarks/eval_throughput.py --adapter RUN_DIR [--base MODEL] [--data FILE.jsonl]
    python benchmarks/eval_throughput.py --llama31-8b-random --score-only [--profile]   # GPU: 8B shape, random
    python benchmarks/eval_throughput.py --llama31-8b-random --workdir W   # keep W/base and W/run for later runs

The default trains the tiny CPU model with the real ``llamafactory-cli train
recipes/dynahate_qlora.yaml`` (60 steps, LR 5e-3) so that it answers with labels; on a CPU both
methods are compute-bound, so the gain comes from computing fewer tokens. With
``--llama31-8b-random`` the adapter is untrained (random weights answer nothing meaningful):
the figures are throughput only and the agreement is not meaningful. ``--workdir`` keeps what
the run builds (the random base in ``W/base``, its adapter in ``W/run``), so that
``score_timing.py`` can time the same adapter and ``train_throughput.py --model W/base`` can train
the same base without writing another ~16 GB.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import cast

from tiny_run import SAMPLE, llama31_8b_random, train_tiny


def random_8b_adapter(work: Path) -> Path:
    """Llama-3.1-8B-shaped base with random weights and an untrained rank-8 LoRA on all projections."""
    import torch
    from peft import LoraConfig, get_peft_model

    base, tokenizer = llama31_8b_random()
    base.save_pretrained(work / "base")
    tokenizer.save_pretrained(work / "base")
    lora = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM")
    peft_model = get_peft_model(base, lora)
    peft_model.peft_config["default"].base_model_name_or_path = str(work / "base")
    peft_model.save_pretrained(str(work / "run"))
    tokenizer.save_pretrained(work / "run")
    del base, peft_model
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()  # the auto token budget is read from the memory free after loading
    return work / "run"


def peak_memory_mb() -> float:
    """GPU: peak allocated since the last reset. CPU: the process's peak RSS so far (cumulative)."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def timed(fn, posts):
    import torch

    reset_peak()
    start = time.perf_counter()
    out = fn(posts)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - start, peak_memory_mb()


class ForwardCounter:
    """Counts calls of a module's forward (a forward pre-hook) while ``counting`` is on."""

    def __init__(self, module):
        self.calls, self.counting = 0, False
        module.register_forward_pre_hook(self._hook)

    def _hook(self, module, args):
        if self.counting:
            self.calls += 1


def profile(score, posts) -> None:
    """One more score pass under torch.profiler: the top 15 operators by self CPU (and CUDA) time."""
    import torch
    from torch.profiler import ProfilerActivity

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    with torch.profiler.profile(activities=activities) as prof:
        score.score(posts)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
    averages = prof.key_averages()
    print(f"\ntorch.profiler, one score pass over {len(posts)} posts: top 15 operators by self CPU time")
    print(averages.table(sort_by="self_cpu_time_total", row_limit=15))
    if torch.cuda.is_available():
        print("top 15 operators by self CUDA time")
        print(averages.table(sort_by="self_device_time_total", row_limit=15))


def main() -> None:
    from dynahate.inference.token_budget import token_budget_arg

    parser = argparse.ArgumentParser(description=cast(str, __doc__).splitlines()[0])
    parser.add_argument("--adapter", type=Path, help="a trained run directory (default: train the tiny model)")
    parser.add_argument("--base", help="base model (default: the adapter's own)")
    parser.add_argument("--data", type=Path, help="JSONL with 'input' (default: the prepared sample, all splits)")
    parser.add_argument("--posts", type=int, default=4120,
                        help="posts to evaluate, the data repeated as needed (default 4120: the test split's size)")
    parser.add_argument("--no-quantize", action="store_true", help="skip 4-bit quantization of the base")
    parser.add_argument("--llama31-8b-random", action="store_true", help="Llama-3.1-8B architecture, random weights")
    parser.add_argument("--token-budget", type=token_budget_arg, default="auto", metavar="N|auto",
                        help="score mode's token budget (default auto, as dynahate eval: on CPU 8192)")
    parser.add_argument("--score-only", action="store_true", help="skip the generate pass (and the ratio)")
    parser.add_argument("--profile", action="store_true",
                        help="profile one more score pass: top 15 operators by self CPU and CUDA time")
    parser.add_argument("--workdir", type=Path, help="keep the models built here (default: a temporary directory)")
    args = parser.parse_args()

    import torch

    from dynahate.inference.generate_engine import GenerateEngine
    from dynahate.inference.model_loading import load_adapter_model
    from dynahate.inference.score_engine import ScoreEngine
    from dynahate.plugin.splits import data_file

    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        if args.llama31_8b_random:
            adapter = random_8b_adapter(work)
        else:
            adapter = args.adapter or train_tiny(work)
        data = args.data or data_file(work / "prepared", "train")
        if not data.exists():
            from dynahate.plugin.data.prepare import prepare

            prepare(SAMPLE, work / "prepared")
        unique = [json.loads(line)["input"] for line in data.read_text().splitlines() if line.strip()]
        posts = (unique * (args.posts // len(unique) + 1))[: args.posts]
        loaded = load_adapter_model(adapter, args.base, quantize=not args.no_quantize, force=True)
        score = ScoreEngine(loaded.model, loaded.tokenizer, token_budget=args.token_budget, progress=False)
        forwards = ForwardCounter(score.lm.model)
        generated, t_gen, mem_gen = [], 0.0, 0.0  # measured below unless --score-only
        if not args.score_only:
            generate = GenerateEngine(loaded.model, loaded.tokenizer, batch_size=8, progress=False)
            generate.generate(unique[:16])  # warm-up, not timed
            generated, t_gen, mem_gen = timed(generate.generate, posts)
        score.score(unique[:16])  # warm-up (and the prefix cache), not timed
        forwards.counting = True
        scored, t_score, mem_score = timed(score.score, posts)
        forwards.counting = False
        if args.profile:
            profile(score, posts)

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"
    print(f"device: {device}; base: {loaded.base}; 4-bit: {loaded.quantized}; posts: {len(posts)}")
    print(f"token budget: {score.initial_token_budget} ({score.token_budget_source}); batches: {score.batch_count}; "
          f"decoder forward passes: {forwards.calls} = {forwards.calls / max(score.batch_count, 1):.2f} per batch")
    if score.budget_lowered:
        print(score.budget_lowered)
    memory = "GPU peak allocated" if torch.cuda.is_available() else "peak RSS"
    if not args.score_only:
        print(f"generate (original: greedy, 4 new tokens, batch 8): {len(posts) / t_gen:9.1f} posts/s  "
              f"{t_gen:7.2f} s  {memory} {mem_gen:8.0f} MiB")
    print(f"score    (prefix cache, token budget {score.initial_token_budget}):  {len(posts) / t_score:9.1f} posts/s  "
          f"{t_score:7.2f} s  {memory} {mem_score:8.0f} MiB")
    if not torch.cuda.is_available() and not args.score_only:
        print("(CPU peak memory is the process's peak RSS so far, so the second figure includes the first)")
    if not args.score_only:
        valid = [(g.pred, s.pred) for g, s in zip(generated, scored, strict=False) if g.pred is not None]
        agree = sum(a == b for a, b in valid)
        print(f"ratio score/generate: {t_gen / t_score:.2f}x")
        print(f"agreement where generate gave a valid label: {agree}/{len(valid)} = "
              f"{agree / max(len(valid), 1):.2%}; invalid generations: {len(generated) - len(valid)}")
    print(f"posts scored without the prefix cache: {score.fallbacks}")


if __name__ == "__main__":
    main()
