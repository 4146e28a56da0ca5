"""Shared fixtures: the synthetic sample CSV, the tiny CPU model, prepared data, and real
``llamafactory-cli train`` runs of the repository's recipe on that model.

Nothing here downloads anything: the model is built locally and the Hub is kept offline.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SAMPLE_CSV = FIXTURES / "dynahate_sample.csv"
RECIPE = REPO / "recipes" / "dynahate_qlora.yaml"

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "DISABLE_VERSION_CHECK": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "WANDB_DISABLED": "true",
}
os.environ.update(OFFLINE_ENV)


def cli_path(name: str) -> str:
    """A console script installed beside the running interpreter (the venv's own)."""
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


def run_cli(args: list[str], cwd: Path | None = None, check: bool = True, timeout: int = 900,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a console script of the venv; on failure show the end of its output."""
    full_env = {**os.environ, **OFFLINE_ENV, **(env or {})}
    proc = subprocess.run([cli_path(args[0]), *args[1:]], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=full_env)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args[:3]} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return proc


def lf_train(workspace: Path, model: Path, output_dir: Path, *overrides: str, recipe: Path = RECIPE):
    """``llamafactory-cli train RECIPE`` from ``workspace`` with CPU-only overrides."""
    return run_cli(["llamafactory-cli", "train", str(recipe), f"model_name_or_path={model}",
                    f"output_dir={output_dir}", "bf16=false", *overrides], cwd=workspace)


@pytest.fixture(scope="session")
def sample_csv() -> Path:
    return SAMPLE_CSV


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from dynahate.plugin.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def prepared_data(tmp_path_factory) -> Path:
    from dynahate.plugin.prepare import prepare

    out = tmp_path_factory.mktemp("prepared") / "data"
    prepare(SAMPLE_CSV, out)
    return out


@pytest.fixture(scope="session")
def lf_workspace(tmp_path_factory, prepared_data) -> Path:
    from dynahate.plugin.lf_workspace import make_workspace

    return make_workspace(tmp_path_factory.mktemp("workspace"), prepared_data)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, lf_workspace, tiny_model) -> Path:
    """The recipe trained long enough (60 steps, LR 5e-3) that the tiny model answers with labels."""
    out = tmp_path_factory.mktemp("runs") / "trained"
    lf_train(lf_workspace, tiny_model, out, "max_steps=60", "learning_rate=5e-3", "save_steps=1000",
             "eval_steps=1000", "logging_steps=10")
    return out


@pytest.fixture(scope="session")
def lf_predict_run(tmp_path_factory, lf_workspace, tiny_model, trained_run) -> Path:
    """``llamafactory-cli train recipes/dynahate_predict.yaml`` on the trained tiny adapter (test split)."""
    out = tmp_path_factory.mktemp("predict") / "run"
    run_cli(["llamafactory-cli", "train", str(REPO / "recipes" / "dynahate_predict.yaml"),
             f"model_name_or_path={tiny_model}", f"adapter_name_or_path={trained_run}", f"output_dir={out}",
             "bf16=false"], cwd=lf_workspace)
    return out
