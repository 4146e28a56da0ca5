"""Running the project's console scripts from tests and benchmarks: offline, from the venv, with useful failures.

``llamafactory-cli`` (training, prediction) runs only from a test marked ``integration``
(:func:`require_integration_marker`; ``tests/conftest.py`` records the running test), so a new
kind of training run cannot hide in the fast loop.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
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

# Fixtures that run `llamafactory-cli train` (directly or through another): a test using one is an integration test.
TRAINING_FIXTURES = frozenset({"trained_run", "lf_predict_run"})
INTEGRATION = "integration"
RUNNING: dict[str, object] = {"item": None}
"""The pytest item being set up or run (``tests/conftest.py`` keeps it), or None outside a test."""


def require_integration_marker(what: str) -> None:
    """Fail the running test (or the fixture it set up) unless it is marked ``integration``."""
    import pytest

    item = RUNNING["item"]
    if item is not None and item.get_closest_marker(INTEGRATION) is None:
        pytest.fail(f"{item.nodeid} runs {what} but is not marked {INTEGRATION}: add @pytest.mark.{INTEGRATION} "
                    "(or, for a new training fixture, add its name to TRAINING_FIXTURES)", pytrace=False)


def cli_path(name: str) -> str:
    """A console script installed beside the running interpreter (the venv's own)."""
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


def run_cli(args: list[str], cwd: Path | None = None, check: bool = True, timeout: int = 900,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a console script of the venv; on failure show the end of its output."""
    if args[0] == "llamafactory-cli":
        require_integration_marker(" ".join(args[:2]))
    full_env = {**os.environ, **OFFLINE_ENV, **(env or {})}
    proc = subprocess.run([cli_path(args[0]), *args[1:]], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=full_env)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args[:3]} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return proc


def lf_train(workspace: Path, model: Path, output_dir: Path, *overrides: str, recipe: Path = RECIPE):
    """``llamafactory-cli train RECIPE`` from ``workspace`` on CPU (``bf16=false``), with ``overrides``."""
    return run_cli(["llamafactory-cli", "train", str(recipe), f"model_name_or_path={model}",
                    f"output_dir={output_dir}", "bf16=false", *overrides], cwd=workspace)
