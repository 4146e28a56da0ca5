"""Shared fixtures: the synthetic sample CSV, the tiny CPU model, prepared data, real
``llamafactory-cli train`` runs of the repository's recipe on that model, the loaded adapter and
the dev posts. The helpers that tests and benchmarks share are the package ``dynahate.testing``
(``tests/helpers``).

The ``integration`` marker holds every test that trains or needs a trained run, by construction:
a test whose fixtures include one of ``TRAINING_FIXTURES`` is marked at collection (so ``-m
"not integration"``, ``make test-fast``, leaves it out), and ``run_cli`` refuses to start
``llamafactory-cli`` from a test that is not marked, so a new kind of training run cannot hide in
the fast loop either.

A test that uses a module-scoped fixture is put in its module's ``xdist_group``: the Makefile runs the tests with
``--dist loadgroup``, so a module's server, browser or evaluated run is built on one worker, once.

Under pytest-xdist the workers share the cores: each one, and each process it starts, computes with ``cores //
workers`` OpenMP threads, and torch's large CPU tensors use transparent huge pages.

Nothing here downloads anything: the model is built locally and the Hub is kept offline.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from dynahate.testing.cli import (
    CURVE_OVERRIDES,
    FAST_GROUP,
    INTEGRATION,
    OFFLINE_ENV,
    REPO,
    RUNNING,
    SAMPLE_CSV,
    TRAINING_FIXTURES,
    lf_train_logged,
    run_cli,
    run_main,
    train_tiny,
)
from dynahate.testing.records import read_jsonl

pytest_plugins = ["pytester"]  # tests/test_markers.py runs pytest on small test files

os.environ.update(OFFLINE_ENV)


def _settings_for_processes_that_share_the_cores() -> None:
    """Two settings for each xdist worker and every process it starts (training, eval, servers), measured side by side
    by ``benchmarks/suite_settings.py`` (2 cores, 2026-12-07: two 6-step trainings at once took 106.7 s with torch's
    defaults, 52.5 s with one thread each, 47.3 s with huge pages too, to the same losses); a value the user set wins.

    - ``OMP_NUM_THREADS = cores // workers``: torch's threads, one per core in each process by default, otherwise spin
      waiting for cores the other workers hold.
    - ``THP_MEM_ALLOC_ENABLE=1``: torch asks for transparent huge pages for its large CPU tensors, so the logits over
      the 128,256-token vocabulary, allocated at every training step, fault in 2 MB pages, not 4 kB ones.
    """
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, len(os.sched_getaffinity(0)) // workers)))
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")


_settings_for_processes_that_share_the_cores()  # before torch is imported: it reads both once

# After the last exit handler, a test process that has imported torch, transformers and LLaMA-Factory spends seconds
# tearing its objects down; the run ends when both workers have. With every object frozen, the interpreter's last
# garbage collections skip them (benchmarks/exit_time.py). Registered before any library's handler, it runs after
# all of them.
atexit.register(gc.freeze)


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects, and before xdist reads the groups
def pytest_collection_modifyitems(config, items):
    for item in items:
        if TRAINING_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(INTEGRATION)
        if _uses_a_module_fixture(item) and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
    if _the_whole_suite(config, items):
        for item in items:
            if item.get_closest_marker(INTEGRATION) is None and item.get_closest_marker("xdist_group") is None:
                item.add_marker(pytest.mark.xdist_group(FAST_GROUP))


def _the_whole_suite(config, items) -> bool:
    """Whether this run holds tests of both kinds with nothing deselected (``make test``): then the tests that need no
    training (and no module fixture of a module they share with ones that do) form one xdist group. pytest-xdist
    hands out the largest group first, so one worker starts on them while the other trains the shared run, which
    every other large group waits for; without it both workers start on groups that wait for that training, and one
    of them idles for the ~2.5 minutes it takes. With ``-m`` or ``-k`` (``make test-fast``) the tests spread as
    usual."""
    if config.getoption("markexpr", "") or config.getoption("keyword", ""):
        return False
    marked = [item.get_closest_marker(INTEGRATION) is not None for item in items]
    return any(marked) and not all(marked)


def _uses_a_module_fixture(item) -> bool:
    """Whether ``item`` uses a module-scoped fixture (a server, a browser, an evaluated run): under the Makefile's
    ``--dist loadgroup`` every such test of a module runs on one xdist worker, so the fixture is built once, not once
    per worker the module's tests were spread over. A module that shares a session-scoped server with another
    names one group for both (``pytestmark = pytest.mark.xdist_group(...)``), which is kept."""
    info = getattr(item, "_fixtureinfo", None)
    return info is not None and any(
        definitions and definitions[-1].scope == "module" for definitions in info.name2fixturedefs.values())


@pytest.hookimpl(tryfirst=True)  # before the fixtures of the item are set up
def pytest_runtest_setup(item):
    RUNNING["item"] = item


def pytest_runtest_teardown(item):
    RUNNING["item"] = None


@pytest.fixture(scope="session")
def sample_csv() -> Path:
    return SAMPLE_CSV


def built_once(tmp_path_factory, name: str, build: Callable[[Path], object]) -> Path:
    """``build(folder)`` once per test run, also across pytest-xdist workers: the first to get here builds under a
    file lock, the others wait for it and use the same folder."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's folder, above each worker's own
    shared = base / "built-once"
    shared.mkdir(exist_ok=True)
    folder, done = shared / name, shared / f"{name}.done"
    with FileLock(str(shared / f"{name}.lock")):
        if not done.exists():
            build(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def build_once(tmp_path_factory) -> Callable[[str, Callable[[Path], object]], Path]:
    """:func:`built_once` for a test module's own expensive fixture: ``build_once(name, build)``."""
    return lambda name, build: built_once(tmp_path_factory, name, build)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from dynahate.plugin.tiny_model import build_tiny_model

    return built_once(tmp_path_factory, "tiny-model", build_tiny_model)


def _tokenizer_state(tokenizer) -> tuple:
    """What a test could change on a loaded tokenizer and another test would then see."""
    backend = tokenizer.backend_tokenizer
    return (len(tokenizer), tokenizer.chat_template, sorted(tokenizer.special_tokens_map.items()),
            tokenizer.padding_side, tokenizer.truncation_side, tokenizer.model_max_length, backend.truncation,
            backend.padding, backend.encode_special_tokens, tokenizer.split_special_tokens)


@pytest.fixture(scope="session")
def llama31():
    """The offline Llama 3.1 tokenizer (the default cache, :func:`~dynahate.plugin.llama3_tokenizer.llama31_tokenizer`),
    loaded once per worker for the tests that only encode with it: a load parses its 17 MB ``tokenizer.json``
    twice, and :mod:`dynahate.plugin.prompts` keeps a plain-text copy of each tokenizer's backend. A test that
    changes it fails the session: the others would see the change."""
    from dynahate.plugin.llama3_tokenizer import llama31_tokenizer

    tokenizer = llama31_tokenizer()
    before = _tokenizer_state(tokenizer)
    yield tokenizer
    assert _tokenizer_state(tokenizer) == before, "a test changed the shared tokenizer (fixture llama31)"


@pytest.fixture(scope="session")
def llama3_template(tiny_model):
    """(tokenizer, template): LLaMA-Factory's ``llama3`` template on the tiny model's tokenizer, as training renders
    an example; for tests that only encode with them."""
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    return tokenizer, get_template_and_fix_tokenizer(tokenizer, DataArguments(template="llama3"))


@pytest.fixture(scope="session")
def prepared_data(tmp_path_factory) -> Path:
    from dynahate.plugin.data.prepare import prepare

    return built_once(tmp_path_factory, "prepared-data", lambda out: prepare(SAMPLE_CSV, out))


@pytest.fixture(scope="session")
def lf_workspace(tmp_path_factory, prepared_data) -> Path:
    from dynahate.plugin.lf_workspace import make_workspace

    return make_workspace(tmp_path_factory.mktemp("workspace"), prepared_data)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, lf_workspace, tiny_model) -> Path:
    """The recipe trained long enough (``TINY_TRAIN_OVERRIDES``: 60 steps, LR 5e-3) that the tiny model answers
    with labels, as ``make demo`` trains it; once per run, whatever the number of xdist workers."""
    return built_once(tmp_path_factory, "trained-run", lambda out: train_tiny(lf_workspace, tiny_model, out))


@pytest.fixture(scope="session")
def tracked_run(tmp_path_factory, lf_workspace, tiny_model) -> Path:
    """The exact recipe trained as the loss curves train it (``CURVE_OVERRIDES``: its batches of 24, 6 steps, a loss
    logged at each), reporting to MLflow, TensorBoard and W&B, offline, in stores beside it (``run_tracker_env``):
    one training for the curves of tests/plugin/test_train_integration.py and for the trackers' tests, which need a
    run the trackers created; once per run. Its training log is beside it (``<folder>.log``)."""
    from dynahate.testing.trackers import REPORT_TO, run_tracker_env

    return built_once(tmp_path_factory, "tracked-exact-run", lambda out: lf_train_logged(
        lf_workspace, tiny_model, out, *CURVE_OVERRIDES, REPORT_TO, env=run_tracker_env(out)))


@pytest.fixture(scope="session")
def lf_predict_run(tmp_path_factory, lf_workspace, tiny_model, trained_run) -> Path:
    """``llamafactory-cli train recipes/dynahate_predict.yaml`` on the trained tiny adapter (test split)."""
    return built_once(tmp_path_factory, "lf-predict-run", lambda out: run_cli([
        "llamafactory-cli", "train", str(REPO / "recipes" / "dynahate_predict.yaml"),
        f"model_name_or_path={tiny_model}", f"adapter_name_or_path={trained_run}", f"output_dir={out}", "bf16=false"],
        cwd=lf_workspace))


@pytest.fixture(scope="session")
def score_eval(trained_run, prepared_data, tmp_path_factory):
    """``dynahate eval`` of the trained run on dev and test (score mode), once per run: (output folder, the
    finished command). Tests only read it; a test that changes an evaluation folder works on a copy."""

    def evaluate(out: Path) -> None:
        proc = run_main(["eval", "--adapter", str(trained_run), "--data-dir", str(prepared_data),
                         "--output-dir", str(out)])
        out.with_name("score-eval.proc.json").write_text(json.dumps([proc.returncode, proc.stdout, proc.stderr]))

    out = built_once(tmp_path_factory, "score-eval", evaluate)
    returncode, stdout, stderr = json.loads(out.with_name("score-eval.proc.json").read_text())
    return out, subprocess.CompletedProcess(["dynahate", "eval"], returncode, stdout, stderr)


@pytest.fixture(scope="session")
def loaded_4bit(trained_run):
    """The trained tiny adapter loaded as ``dynahate eval`` loads it (4-bit base), once per session."""
    from dynahate.inference.model_loading import load_adapter_model

    return load_adapter_model(trained_run)


@pytest.fixture(scope="session")
def loaded_unquantized(trained_run):
    """The trained tiny adapter on the unquantized (fp32 on CPU) base, once per session."""
    from dynahate.inference.model_loading import load_adapter_model

    return load_adapter_model(trained_run, quantize=False)


@pytest.fixture(scope="session")
def loaded(loaded_4bit):
    """The trained tiny adapter as ``dynahate eval`` loads it (4-bit base)."""
    return loaded_4bit


@pytest.fixture(scope="module")
def dev_posts(prepared_data) -> list[str]:
    """The posts of the prepared dev split, in file order."""
    from dynahate.plugin.splits import data_file

    return [record["input"] for record in read_jsonl(data_file(prepared_data, "dev"))]


@pytest.fixture
def made_up_run(tmp_path):
    """A made-up run (a config and a one-tensor safetensors file) of a made-up base folder: ``predict`` and ``eval``
    check it and go on, and fail at the tokenizer of the empty base, so a refusal that comes first came before
    anything loads. ``(tmp_path, run, base, posts.txt)``."""
    import numpy as np
    from safetensors.numpy import save_file

    base, run = tmp_path / "base", tmp_path / "run"
    base.mkdir()
    (base / "config.json").write_text("{}")
    run.mkdir()
    (run / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(base)}))
    save_file({"base_model.model.lm_head.lora_A.weight": np.zeros((1, 1), dtype=np.float32)},
              str(run / "adapter_model.safetensors"))
    (run / "trainer_state.json").write_text("{}")
    posts = tmp_path / "posts.txt"
    posts.write_text("a post\nanother post\n")
    return tmp_path, run, base, posts
