"""Shared fixtures and helpers: the synthetic sample CSV, the tiny CPU model, prepared data, real
``llamafactory-cli train`` runs of the repository's recipe on that model, and the helpers that more
than one test file uses (CLI runs, JSONL and CSV text, the loaded adapter, the dev posts).

The ``integration`` marker holds every test that trains or needs a trained run, by construction:
a test whose fixtures include one of :data:`TRAINING_FIXTURES` is marked at collection (so ``-m
"not integration"``, ``make test-fast``, leaves it out), and :func:`run_cli` refuses to start
``llamafactory-cli`` from a test that is not marked, so a new kind of training run cannot hide in
the fast loop either.

Nothing here downloads anything: the model is built locally and the Hub is kept offline.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]  # tests/test_markers.py runs pytest on small test files

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


# Fixtures that run `llamafactory-cli train` (directly or through another): a test using one is an integration test.
TRAINING_FIXTURES = frozenset({"trained_run", "lf_predict_run"})
INTEGRATION = "integration"
_running: dict[str, pytest.Item | None] = {"item": None}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(config, items):
    for item in items:
        if TRAINING_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(INTEGRATION)


@pytest.hookimpl(tryfirst=True)  # before the fixtures of the item are set up
def pytest_runtest_setup(item):
    _running["item"] = item


def pytest_runtest_teardown(item):
    _running["item"] = None


def require_integration_marker(what: str) -> None:
    """Fail the running test (or the fixture it set up) unless it is marked ``integration``."""
    item = _running["item"]
    if item is not None and item.get_closest_marker(INTEGRATION) is None:
        pytest.fail(f"{item.nodeid} runs {what} but is not marked {INTEGRATION}: add @pytest.mark.{INTEGRATION} "
                    "(or, for a new training fixture, add its name to conftest.TRAINING_FIXTURES)", pytrace=False)


def cli_path(name: str) -> str:
    """A console script installed beside the running interpreter (the venv's own)."""
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


def run_cli(args: list[str], cwd: Path | None = None, check: bool = True, timeout: int = 900,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a console script of the venv; on failure show the end of its output.

    ``llamafactory-cli`` (training, prediction, export) runs only from a test marked ``integration``.
    """
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
    """The recipe trained long enough (``TINY_TRAIN_OVERRIDES``: 60 steps, LR 5e-3) that the tiny model answers
    with labels, as ``make demo`` trains it."""
    from dynahate.plugin.tiny_model import TINY_TRAIN_OVERRIDES

    out = tmp_path_factory.mktemp("runs") / "trained"
    lf_train(lf_workspace, tiny_model, out, *TINY_TRAIN_OVERRIDES)
    return out


@pytest.fixture(scope="session")
def lf_predict_run(tmp_path_factory, lf_workspace, tiny_model, trained_run) -> Path:
    """``llamafactory-cli train recipes/dynahate_predict.yaml`` on the trained tiny adapter (test split)."""
    out = tmp_path_factory.mktemp("predict") / "run"
    run_cli(["llamafactory-cli", "train", str(REPO / "recipes" / "dynahate_predict.yaml"),
             f"model_name_or_path={tiny_model}", f"adapter_name_or_path={trained_run}", f"output_dir={out}",
             "bf16=false"], cwd=lf_workspace)
    return out


@pytest.fixture(scope="module")
def loaded(trained_run):
    """The trained tiny adapter loaded as ``dynahate eval`` loads it (4-bit base)."""
    from dynahate.eval.model_loading import load_adapter_model

    return load_adapter_model(trained_run)


@pytest.fixture(scope="module")
def dev_posts(prepared_data) -> list[str]:
    """The posts of the prepared dev split, in file order."""
    from dynahate.plugin.splits import data_file

    return [record["input"] for record in read_jsonl(data_file(prepared_data, "dev"))]


def read_jsonl(path: Path) -> list[dict]:
    """Every line of a JSONL file, parsed (blank lines are an error: the files under test have none)."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


# The official CSV's columns, in its order (R's write.csv: a leading unnamed row-number column).
CSV_HEADER = ["", "acl.id", "X1", "text", "label", "type", "target", "level", "split", "round.base", "annotator",
              "round", "acl.id.matched"]


def csv_row(n: int, text: str, label: str = "hate", split: str = "train", acl_id: str | None = None,
            matched: str = "NA") -> list:
    """One record of the official CSV, numbered ``n`` (``acl.id`` ``acl{n}`` unless given)."""
    return [str(n), acl_id or f"acl{n}", n, text, label, "notgiven", "notgiven", "original", split, 1, "ann", "1",
            matched]


def csv_text(rows: list[list], header: list[str] | None = CSV_HEADER) -> str:
    """The CSV as R writes it (strings quoted); ``header=None`` leaves the header row out."""
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()
