"""The settings tests/conftest.py gives every test process, measured side by side in one run.

Starts ``--processes`` (default 2, as ``make test``'s two xdist workers) real ``llamafactory-cli train`` runs of
``recipes/dynahate_qlora.yaml`` on the tiny model at once, three times: with torch's defaults (a thread per core
each); with ``OMP_NUM_THREADS = cores // processes`` each, as tests/conftest.py sets under pytest-xdist; and with
``THP_MEM_ALLOC_ENABLE=1`` too (torch then asks for transparent huge pages for its large CPU tensors: the logits over
Llama 3.1's 128,256-token vocabulary, allocated and freed at every step, fault in 2 MB pages instead of 4 kB ones).
Prints the wall time of each batch, the CPU time its processes used, the ratios, and whether the losses are the same.

    python benchmarks/suite_settings.py               # 6 steps of 24 samples each, 2 processes
    python benchmarks/suite_settings.py --steps 10 --processes 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tiny_run import RECIPE, SAMPLE

SETTINGS = ("OMP_NUM_THREADS", "THP_MEM_ALLOC_ENABLE")


def trainings_at_once(workspace: Path, model: Path, out: Path, processes: int, steps: int,
                      settings: dict[str, str]) -> tuple[float, float, list[list[float]]]:
    """(wall seconds, CPU seconds of the trainings, each run's losses) for ``processes`` trainings started at once,
    with ``settings`` in their environment."""
    env = {name: value for name, value in os.environ.items() if name not in SETTINGS}
    env |= {"HF_HUB_OFFLINE": "1", "DISABLE_VERSION_CHECK": "1", "WANDB_DISABLED": "true", **settings}
    cli = Path(sys.executable).with_name("llamafactory-cli")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    procs = [subprocess.Popen(
        [str(cli), "train", str(RECIPE), f"model_name_or_path={model}", f"output_dir={out / str(k)}", "bf16=false",
         f"max_steps={steps}", "learning_rate=5e-3", "logging_steps=1", "eval_steps=100000", "save_steps=100000"],
        cwd=workspace, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for k in range(processes)]
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            sys.exit(f"llamafactory-cli train exited {proc.returncode}:\n{err[-3000:]}")
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    losses = []
    for k in range(processes):
        state = json.loads((out / str(k) / "trainer_state.json").read_text())
        losses.append([entry["loss"] for entry in state["log_history"] if "loss" in entry])
    return wall, cpu, losses


def main(argv: list[str] | None = None) -> int:
    from dynahate.plugin.data.prepare import prepare
    from dynahate.plugin.lf_workspace import make_workspace
    from dynahate.plugin.tiny_model import build_tiny_model

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--processes", type=int, default=2, help="trainings at once (default 2)")
    parser.add_argument("--steps", type=int, default=6, help="optimizer steps of each training (default 6)")
    args = parser.parse_args(argv)
    cores = len(os.sched_getaffinity(0))
    shared = max(1, cores // args.processes)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = build_tiny_model(work / "tiny-model")
        prepare(SAMPLE, work / "prepared")
        workspace = make_workspace(work / "workspace", work / "prepared")
        print(f"{args.processes} trainings at once of {args.steps} steps on {cores} cores")
        runs = {"torch's defaults": {}, f"OMP_NUM_THREADS={shared}": {"OMP_NUM_THREADS": str(shared)},
                f"OMP_NUM_THREADS={shared} THP_MEM_ALLOC_ENABLE=1": {"OMP_NUM_THREADS": str(shared),
                                                                    "THP_MEM_ALLOC_ENABLE": "1"}}
        measured = {}
        for k, (name, settings) in enumerate(runs.items()):
            measured[name] = trainings_at_once(workspace, model, work / str(k), args.processes, args.steps, settings)
            print(f"  {name:40s} {measured[name][0]:6.1f} s wall, {measured[name][1]:6.1f} s CPU")
    (base_wall, base_cpu, base_losses), *_ = measured.values()
    for name, (wall, cpu, losses) in list(measured.items())[1:]:
        print(f"ratio, torch's defaults / {name}: wall {base_wall / wall:.2f}x, CPU {base_cpu / cpu:.2f}x; "
              f"same losses: {losses == base_losses}")
    print(f"losses of the first run: {[round(loss, 4) for loss in base_losses[0]]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
