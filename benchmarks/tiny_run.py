"""The tiny CPU model trained briefly with the real recipe, so that it answers with labels (for benchmarks).

Builds the tiny Llama-3-architecture model, prepares the synthetic sample, and runs
``llamafactory-cli train recipes/dynahate_qlora.yaml`` for 60 steps at LR 5e-3 (the same
overrides as the tests' ``trained_run``). Imported by the benchmark scripts beside it.
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
    from dynahate.plugin.lf_workspace import make_workspace
    from dynahate.plugin.prepare import prepare
    from dynahate.plugin.tiny_model import build_tiny_model

    model = build_tiny_model(work / "tiny-model")
    prepare(SAMPLE, work / "prepared")
    workspace = make_workspace(work / "workspace", work / "prepared")
    run = work / "run"
    cli = Path(sys.executable).with_name("llamafactory-cli")
    proc = subprocess.run(
        [str(cli), "train", str(RECIPE), f"model_name_or_path={model}", f"output_dir={run}", "bf16=false",
         "max_steps=60", "learning_rate=5e-3", "save_steps=1000", "eval_steps=1000", "logging_steps=10"],
        cwd=workspace, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    if proc.returncode != 0:
        sys.exit(f"training the tiny model failed:\n{proc.stderr[-3000:]}")
    return run
