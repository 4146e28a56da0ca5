"""Shared fixtures: the synthetic sample CSV, the tiny CPU model, prepared data, real
``llamafactory-cli train`` runs of the repository's recipe on that model, the loaded adapter and
the dev posts. The helpers that tests and benchmarks share are the package ``dynahate.testing``
(``tests/helpers``).

The ``integration`` marker holds every test that trains or needs a trained run, by construction:
a test whose fixtures include one of ``TRAINING_FIXTURES`` is marked at collection (so ``-m
"not integration"``, ``make test-fast``, leaves it out), and ``run_cli`` refuses to start
``llamafactory-cli`` from a test that is not marked, so a new kind of training run cannot hide in
the fast loop either.

Nothing here downloads anything: the model is built locally and the Hub is kept offline.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dynahate.testing.cli import (
    INTEGRATION,
    OFFLINE_ENV,
    REPO,
    RUNNING,
    SAMPLE_CSV,
    TRAINING_FIXTURES,
    lf_train,
    run_cli,
)
from dynahate.testing.records import read_jsonl

pytest_plugins = ["pytester"]  # tests/test_markers.py runs pytest on small test files

os.environ.update(OFFLINE_ENV)


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(config, items):
    for item in items:
        if TRAINING_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(INTEGRATION)


@pytest.hookimpl(tryfirst=True)  # before the fixtures of the item are set up
def pytest_runtest_setup(item):
    RUNNING["item"] = item


def pytest_runtest_teardown(item):
    RUNNING["item"] = None


@pytest.fixture(scope="session")
def sample_csv() -> Path:
    return SAMPLE_CSV


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from dynahate.plugin.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def prepared_data(tmp_path_factory) -> Path:
    from dynahate.plugin.data.prepare import prepare

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
    from dynahate.inference.model_loading import load_adapter_model

    return load_adapter_model(trained_run)


@pytest.fixture(scope="module")
def dev_posts(prepared_data) -> list[str]:
    """The posts of the prepared dev split, in file order."""
    from dynahate.plugin.splits import data_file

    return [record["input"] for record in read_jsonl(data_file(prepared_data, "dev"))]
