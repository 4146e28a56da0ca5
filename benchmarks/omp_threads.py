"""Threads per process when processes share the cores: the test suite's setting, measured side by side in one run.

Starts ``--processes`` (default 2, as ``make test``'s two xdist workers) real ``llamafactory-cli train`` runs of
``recipes/dynahate_qlora.yaml`` on the tiny model at once, first with torch's default threads (one per core each),
then with ``OMP_NUM_THREADS = cores // processes`` each, as tests/conftest.py sets under pytest-xdist. Prints the wall
time of each batch, the CPU time its processes used, the ratio, and whether the losses are the same.

    python benchmarks/omp_threads.py               # 6 steps of 24 samples each, 2 processes
    python benchmarks/omp_threads.py --steps 10 --processes 3
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


def trainings_at_once(workspace: Path, model: Path, out: Path, processes: int, steps: int,
                      threads: int | None) -> tuple[float, float, list[list[float]]]:
    """(wall seconds, CPU seconds of the trainings, each run's losses) for ``processes`` trainings started at once."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DISABLE_VERSION_CHECK": "1", "WANDB_DISABLED": "true"}
    env.pop("OMP_NUM_THREADS", None)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
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

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
        default = trainings_at_once(workspace, model, work / "default", args.processes, args.steps, None)
        print(f"  default threads:        {default[0]:6.1f} s wall, {default[1]:6.1f} s CPU")
        split = trainings_at_once(workspace, model, work / "shared", args.processes, args.steps, shared)
        print(f"  OMP_NUM_THREADS={shared}:      {split[0]:6.1f} s wall, {split[1]:6.1f} s CPU")
    print(f"ratio (default / shared), wall: {default[0] / split[0]:.2f}x; CPU: {default[1] / split[1]:.2f}x")
    print(f"same losses: {default[2] == split[2]} (first run: {[round(loss, 4) for loss in split[2][0]]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
