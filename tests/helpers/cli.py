"""Running the project's commands from tests and benchmarks: in-process or as console scripts, offline.

:func:`run_main` calls ``dynahate``'s ``main(argv)`` in this process and captures what a subprocess
would show: the exit status (``SystemExit`` from argparse included), standard output and standard
error (the ``sys`` streams and the logging handlers that write to them), and an uncaught
exception as a traceback with status 1. It is what a test uses unless the process boundary is
the point (signals, torchrun, ``serve``, the installed entry point): those use :func:`run_cli`, a
real subprocess. A command that reaches the Hub through huggingface_hub, which reads ``HF_*``
variables once, at import (``publish``; eval, predict and hatecheck of a Hub adapter), runs
in-process under ``hub_server.hub_environment``.

``llamafactory-cli`` (training, prediction) runs only from a test marked ``integration``
(:func:`require_integration_marker`; ``tests/conftest.py`` records the running test), so a new
kind of training run cannot hide in the fast loop.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

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
TRAINING_FIXTURES = frozenset({"trained_run", "lf_predict_run", "tracked_run"})
INTEGRATION = "integration"
FAST_GROUP = "not-integration"  # under `make test`, the xdist group of the tests that need no training (conftest)
RUNNING: dict[str, pytest.Item | None] = {"item": None}
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


def lf_train(workspace: Path, model: Path, output_dir: Path, *overrides: str, recipe: Path = RECIPE,
             env: dict[str, str] | None = None):
    """``llamafactory-cli train RECIPE`` from ``workspace`` on CPU (``bf16=false``), with ``overrides`` (and ``env``
    added to the environment)."""
    return run_cli(["llamafactory-cli", "train", str(recipe), f"model_name_or_path={model}",
                    f"output_dir={output_dir}", "bf16=false", *overrides], cwd=workspace, env=env)


# The loss curves' runs (tests/plugin/test_train_integration.py): a recipe as it is (its batches of 24) for 6
# optimizer steps at the tiny model's learning rate, a loss logged every step, no evaluation or checkpoint on the way.
CURVE_STEPS = 6
CURVE_OVERRIDES = (f"max_steps={CURVE_STEPS}", "learning_rate=5e-3", "logging_steps=1", "eval_steps=1000",
                   "save_steps=1000")


def lf_train_logged(workspace: Path, model: Path, output_dir: Path, *overrides: str, recipe: Path = RECIPE,
                    env: dict[str, str] | None = None) -> None:
    """:func:`lf_train`, with what the training printed written beside its folder (``<output_dir>.log``)."""
    proc = lf_train(workspace, model, output_dir, *overrides, recipe=recipe, env=env)
    output_dir.with_name(f"{output_dir.name}.log").write_text(proc.stdout + proc.stderr)


def train_tiny(workspace: Path, model: Path, output_dir: Path, *overrides: str, env: dict[str, str] | None = None):
    """The recipe trained on the tiny model until it answers with labels (``TINY_TRAIN_OVERRIDES``, as ``make demo``
    and the tests' ``trained_run``), with ``overrides`` after them."""
    from dynahate.plugin.tiny_model import TINY_TRAIN_OVERRIDES

    return lf_train(workspace, model, output_dir, *TINY_TRAIN_OVERRIDES, *overrides, env=env)


@contextlib.contextmanager
def environment_added(env: dict[str, str] | None) -> Iterator[None]:
    """``env`` added to ``os.environ`` for the block, the whole environment put back after it."""
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _fresh_logging_levels() -> Iterator[None]:
    """The log levels a new process starts with: a library imported earlier in this process (LLaMA-Factory
    sets transformers to INFO) must not make a command's output differ from what a subprocess shows."""
    fresh = {"transformers": logging.WARNING}  # transformers' default (TRANSFORMERS_VERBOSITY unset)
    saved = {name: logging.getLogger(name).level for name in fresh}
    for name, level in fresh.items():
        logging.getLogger(name).setLevel(level)
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


@contextlib.contextmanager
def _captured(stdin: bytes) -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """``sys.stdin/stdout/stderr`` replaced, and every logging handler that wrote to the old streams moved."""
    out, err = io.StringIO(), io.StringIO()
    old = {"stdin": sys.stdin, "stdout": sys.stdout, "stderr": sys.stderr}
    moved = []
    handlers = [h for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
                if isinstance(logger, logging.Logger) for h in logger.handlers]
    streams = {id(old["stdout"]): out, id(old["stderr"]): err, id(sys.__stdout__): out, id(sys.__stderr__): err}
    for handler in handlers:
        # a handler whose stream is a property (logging's last resort) follows sys.stderr by itself; a file
        # handler's stream is none of the standard ones
        if not isinstance(handler, logging.StreamHandler) or isinstance(getattr(type(handler), "stream", None),
                                                                        property):
            continue
        target = streams.get(id(handler.stream))
        if target is not None:
            moved.append((handler, handler.stream))
            handler.stream = target
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    sys.stdout, sys.stderr = out, err
    try:
        yield out, err
    finally:
        sys.stdin, sys.stdout, sys.stderr = old["stdin"], old["stdout"], old["stderr"]
        for handler, stream in moved:
            handler.stream = stream


def run_main(argv: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None,
             stdin: str | bytes = b"", check: bool = True) -> subprocess.CompletedProcess:
    """``dynahate ARGV`` in this process: a :class:`subprocess.CompletedProcess` as :func:`run_cli` returns.

    ``env`` is added to ``os.environ`` for the call; ``HF_*`` variables are refused (huggingface_hub
    reads them at import: use :func:`run_cli`). ``cwd`` is the working directory for the call.
    """
    from dynahate.core.cli import main

    if any(name.startswith("HF_") for name in env or {}):
        raise AssertionError(f"run_main cannot honour {sorted(env or {})}: huggingface_hub reads HF_* at import; "
                             "use run_cli (a subprocess)")
    data = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
    previous_dir = os.getcwd()
    with environment_added(env), _fresh_logging_levels(), _captured(data) as (out, err):
        try:
            if cwd is not None:
                os.chdir(cwd)
            code = main([str(arg) for arg in argv])
        except SystemExit as exc:  # argparse: --help, usage errors
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if exc.code is not None and not isinstance(exc.code, int):
                print(exc.code, file=sys.stderr)
        except Exception:  # noqa: BLE001 - what the interpreter would print and exit 1 for
            traceback.print_exc(file=sys.stderr)
            code = 1
        finally:
            os.chdir(previous_dir)
    proc = subprocess.CompletedProcess(["dynahate", *argv], code, out.getvalue(), err.getvalue())
    if check and proc.returncode != 0:
        raise AssertionError(f"dynahate {argv[:2]} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-6000:]}")
    return proc


def default_sigint() -> None:
    """``preexec_fn`` for a child that a test interrupts with SIGINT: Python turns SIGINT into KeyboardInterrupt only
    when it is not ignored at start, and a shell's background job (``cmd &``) starts with it ignored."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
