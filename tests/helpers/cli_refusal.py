"""Checks shared by the adversarial CLI tests: a refusal is one ``error:`` line, exit status 2, no
traceback, no post text anywhere, and nothing (not even a temporary file) left behind."""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

MARKER = "Zorblaxians"  # a word put into posts; it must never appear in output, errors or reports


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def assert_refused(proc: subprocess.CompletedProcess, *needles: str, marker: str | None = MARKER,
                   files: tuple[Path, ...] = ()) -> str:
    """Exit 2, exactly one ``error:`` line holding every needle, no traceback, ``marker`` nowhere."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    (line,) = error_lines(proc.stderr)
    for needle in needles:
        assert needle in line, (needle, line)
    if marker:
        assert marker not in proc.stdout + proc.stderr
        for path in files:
            if path.is_file():
                assert marker not in path.read_text(encoding="utf-8", errors="replace"), path
    return line


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden temporary files included) with its bytes."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def temp_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob(".*.tmp"))


@contextlib.contextmanager
def sigint_right_after(monkeypatch, module: ModuleType, name: str) -> Iterator[None]:
    """For the block, ``module.name`` (``tempfile.mkstemp``, say) does its real work and then this process gets a real
    SIGINT, as a Ctrl-C landing at that moment would; SIGINT raises ``KeyboardInterrupt`` meanwhile (an xdist worker
    may start with it ignored)."""
    real = getattr(module, name)

    def then_sigint(*args, **kwargs):
        done = real(*args, **kwargs)
        signal.raise_signal(signal.SIGINT)
        return done

    monkeypatch.setattr(module, name, then_sigint)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        monkeypatch.setattr(module, name, real)
