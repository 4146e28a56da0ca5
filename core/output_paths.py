"""Check where a command will write before it loads a model, so a bad path fails in seconds, not after the work.

A directory must be a directory (or not exist yet, below a writable directory) and writable; a
file must not be a directory and its directory must pass the same check. "Writable" is tried, not
read from the permission bits: a temporary file is created in the directory that would receive the
output (the nearest existing one) and removed at once, SIGINT and SIGTERM held meanwhile, so a folder
that takes no files whatever its mode says (``/proc``, ``/sys``, a read-only mount; root passes every
permission check) is refused here, in one line, not by a traceback after the work. An output file
must not be one of the command's own inputs (:func:`refuse_overwriting_inputs`), compared by real
path, links resolved.
Nothing else is created here.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from dynahate.core.atomic import signals_held
from dynahate.core.errors import DynahateError


def _existing_ancestor(path: Path) -> Path:
    for parent in path.absolute().parents:
        if parent.exists():
            return parent
    return Path("/")


def _creation_refused(folder: Path) -> str | None:
    """Why no file can be created in ``folder`` (the system's reason), tried with a temporary file removed at
    once; None when one can."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return "is not writable"
    with signals_held():  # SIGINT or SIGTERM between creating and removing it would leave it behind
        try:
            handle, probe = tempfile.mkstemp(prefix=".dynahate-write-check-", suffix=".tmp", dir=folder)
        except OSError as exc:
            return f"takes no new file ({exc.strerror or type(exc).__name__})"
        os.close(handle)
        os.unlink(probe)
    return None


def _check_creatable(path: Path, option: str, verb: str) -> None:
    ancestor = _existing_ancestor(path)
    if not ancestor.is_dir():
        raise DynahateError(f"{option} {path}: cannot {verb} it, {ancestor} is a file, not a directory")
    refused = _creation_refused(ancestor)
    if refused:
        raise DynahateError(f"{option} {path}: cannot {verb} it, {ancestor} {refused}")


def check_output_dir(path: Path, option: str) -> None:
    """``path`` is a writable directory, or can be created as one."""
    if path.exists():
        if not path.is_dir():
            raise DynahateError(f"{option} {path}: is a file, not a directory")
        refused = _creation_refused(path)
        if refused:
            raise DynahateError(f"{option} {path}: directory {refused}")
        return
    _check_creatable(path, option, "create")


def check_output_file(path: Path, option: str) -> None:
    """``path`` can be written (replaced atomically): not a directory, in a writable or creatable directory."""
    if path.is_dir():
        raise DynahateError(f"{option} {path}: is a directory; give a file name")
    _check_creatable(path, option, "write")


def _same_file(real: Path, output: Path, path: Path) -> bool:
    if real == path.resolve():
        return True
    try:
        return output.exists() and path.exists() and os.path.samefile(output, path)  # a hard link
    except OSError:
        return False


def refuse_overwriting_inputs(output: Path, option: str, reader: str, files: Iterable[Path] = (),
                              files_in: Iterable[Path] = (), folders: Iterable[Path] = ()) -> None:
    """Refuse an ``output`` that the command reads: one of ``files``, an existing file under one of ``files_in``
    (a new file there is fine), or anything under one of ``folders``; real paths are compared (links resolved).

    ``reader`` names who reads them in the message ("this comparison", "this prediction").
    """
    real = output.resolve()
    for path in files:
        if _same_file(real, output, path):
            raise DynahateError(f"{option} {output}: would overwrite {path}, which {reader} reads; "
                                "choose another file")
    for folder in files_in:
        if real.is_relative_to(folder.resolve()) and real.exists():
            raise DynahateError(f"{option} {output}: would overwrite a file of {folder}, which {reader} reads; "
                                "choose another file")
    for folder in folders:
        if real.is_relative_to(folder.resolve()):
            raise DynahateError(f"{option} {output}: is inside {folder}, which {reader} reads; "
                                "choose a file elsewhere")
