"""Where ``dynahate publish`` may stage, and how it replaces that folder without touching anything else.

Staging replaces a folder as a whole, so the folder must be one publish may delete: missing, empty,
or one publish made itself (it holds :data:`MARKER`, written into every staged folder and never
uploaded). Whatever the marker says, these are refused (real paths compared, so a link to one of
them is that folder): the run directory, a folder inside it other than its default stage folder
``RUN_DIR/hub``, and the data, eval and current directories or any folder that contains one of them.

The new folder is built, and the old one moved aside, inside one uniquely named hidden sibling that
this module creates and always removes (error, Ctrl-C, or SIGTERM, which ``dynahate``'s CLI turns
into an exception); a failure after the old folder was moved aside puts it back.
"""

from __future__ import annotations

import json
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from dynahate.plugin.atomic import signals_held
from dynahate.plugin.errors import DynahateError

MARKER = ".dynahate-publish-stage"
DEFAULT_STAGE = "hub"


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _is_marked(folder: Path) -> bool:
    try:
        return stat.S_ISREG((folder / MARKER).lstat().st_mode)
    except OSError:
        return False


def check_stage_dir(stage_dir: Path, *, run_dir: Path, protected: dict[str, Path]) -> Path:
    """The real path publish may replace at ``stage_dir``; anything else is one :class:`DynahateError`.

    ``protected`` names folders (the data dir, the eval dir, the current directory) that must be
    neither the stage folder nor inside it.
    """
    real = Path(stage_dir).resolve()
    run_real = Path(run_dir).resolve()
    refuse = f"--stage-dir {stage_dir}"
    if _within(run_real, real):
        what = "is the run directory" if real == run_real else "contains the run directory"
        raise DynahateError(f"{refuse} {what} {run_dir}; staging replaces that folder as a whole. Pick a new folder")
    if _within(real, run_real) and real != run_real / DEFAULT_STAGE:
        raise DynahateError(f"{refuse} is inside the run directory {run_dir}; the only stage folder allowed there "
                            f"is {Path(run_dir) / DEFAULT_STAGE}. Pick a folder outside the run")
    for name, folder in protected.items():
        if _within(folder.resolve(), real):
            what = "is" if folder.resolve() == real else "contains"
            raise DynahateError(f"{refuse} {what} the {name} {folder}; staging replaces that folder as a whole. "
                                "Pick a new folder")
    if real.exists() or real.is_symlink():
        if not real.is_dir():
            raise DynahateError(f"{refuse}: {real} exists and is not a folder")
        if any(real.iterdir()) and not _is_marked(real):
            raise DynahateError(f"{refuse}: {real} is not empty and was not staged by dynahate publish (no {MARKER} "
                                "in it), so publish will not replace it. Pick a new or empty folder (or empty this one yourself)")
    return real


def replace_folder(target: Path, fill: Callable[[Path], None]) -> None:
    """Build a new folder with ``fill(folder)`` plus the marker, then swap it in for ``target`` (checked first)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    work = None
    try:
        with signals_held():  # a signal is taken only once ``work`` is known, so the finally removes it
            work = Path(tempfile.mkdtemp(prefix=f".{target.name}.publish-", dir=target.parent))
        new, old = work / "new", work / "old"
        new.mkdir()
        fill(new)
        (new / MARKER).write_text(json.dumps({"staged_by": "dynahate publish", "note": "this folder is replaced "
                                              "as a whole by the next publish"}) + "\n", encoding="utf-8")
        with signals_held():  # the swap is not cut in half by Ctrl-C or SIGTERM
            moved_aside = target.exists()
            if moved_aside:
                target.rename(old)
            try:
                new.rename(target)
            except OSError:
                if moved_aside:
                    old.rename(target)
                raise
    finally:
        if work is not None:
            with signals_held():
                shutil.rmtree(work, ignore_errors=True)
