"""Check where a command will write before it loads a model, so a bad path fails in seconds, not after the work.

A directory must be a directory (or not exist yet, below a writable directory) and writable; a
file must not be a directory and its directory must pass the same check. Nothing is created here.
"""

from __future__ import annotations

import os
from pathlib import Path

from dynahate.core.errors import DynahateError


def _existing_ancestor(path: Path) -> Path:
    for parent in path.absolute().parents:
        if parent.exists():
            return parent
    return Path("/")


def _check_creatable(path: Path, option: str, verb: str) -> None:
    ancestor = _existing_ancestor(path)
    if not ancestor.is_dir():
        raise DynahateError(f"{option} {path}: cannot {verb} it, {ancestor} is a file, not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise DynahateError(f"{option} {path}: cannot {verb} it, {ancestor} is not writable")


def check_output_dir(path: Path, option: str) -> None:
    """``path`` is a writable directory, or can be created as one."""
    if path.exists():
        if not path.is_dir():
            raise DynahateError(f"{option} {path}: is a file, not a directory")
        if not os.access(path, os.W_OK | os.X_OK):
            raise DynahateError(f"{option} {path}: directory is not writable")
        return
    _check_creatable(path, option, "create")


def check_output_file(path: Path, option: str) -> None:
    """``path`` can be written (replaced atomically): not a directory, in a writable or creatable directory."""
    if path.is_dir():
        raise DynahateError(f"{option} {path}: is a directory; give a file name")
    _check_creatable(path, option, "write")
