"""Write files all-or-nothing: into a temporary file beside the target, then rename.

``atomic_files`` extends this to a group of files: every file is written to a temporary name
first and the renames happen only when the whole group was written, so a failure midway
leaves every target untouched. Any exception, ``KeyboardInterrupt`` (SIGINT) and the CLI's
SIGTERM exception included, removes every temporary file. While the group's renames run, SIGINT
and SIGTERM are held and delivered right after, so a signal never leaves half the group renamed.
``temporary_folder`` is the same promise for a folder that is built and then renamed into place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Generator
from pathlib import Path
from typing import IO, Any


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _temp_beside(target: Path) -> tuple[int, Path]:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    return fd, Path(name)


@contextlib.contextmanager
def signals_held() -> Generator[None]:
    """Hold SIGINT and SIGTERM for the block (main thread only) and deliver them after it.

    The handlers are swapped rather than the signals masked: a mask covers one thread only, and a
    process-directed signal would reach a thread that does not block it (torch's, tqdm's).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, lambda signum, frame: received.append(signum)) for signum in held}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        for signum in dict.fromkeys(received):
            signal.raise_signal(signum)


@contextlib.contextmanager
def temporary_folder(parent: Path, prefix: str) -> Generator[Path]:
    """A new empty folder in ``parent`` (its name ``prefix`` and random letters), removed with whatever is left in it
    when the block ends, however it ends. SIGINT and SIGTERM are held while it is made and while it is removed, so a
    signal neither leaves it behind nor cuts its removal short."""
    folder = None
    try:
        with signals_held():  # a signal is taken only once ``folder`` is known, so the finally removes it
            folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        yield folder
    finally:
        if folder is not None:
            with signals_held():
                shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def atomic_open(target: str | Path, mode: str = "w") -> Generator[IO[Any]]:
    """Open a temporary file for writing; it replaces ``target`` only if the block succeeds."""
    with atomic_files() as group:
        yield group.open(target, mode)


def atomic_write_text(target: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    with atomic_open(target) as handle:
        handle.write(text)


def atomic_write_bytes(target: str | Path, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_open(target, "wb") as handle:
        handle.write(data)


class _FileGroup:
    def __init__(self) -> None:
        self._pending: list[tuple[IO[Any], Path, Path]] = []

    def open(self, target: str | Path, mode: str = "w") -> IO[Any]:
        target = Path(target)
        encoding, newline = (None, None) if "b" in mode else ("utf-8", "\n")
        with signals_held():  # no signal between creating the temporary file and recording it
            fd, temp = _temp_beside(target)
            handle = os.fdopen(fd, mode, encoding=encoding, newline=newline)
            self._pending.append((handle, temp, target))
        os.chmod(temp, target.stat().st_mode & 0o777 if target.exists() else _default_mode())
        return handle

    def _close_all(self) -> None:
        for handle, _, _ in self._pending:
            if not handle.closed:
                handle.close()

    def commit(self) -> None:
        self._close_all()
        with signals_held():
            for _, temp, target in self._pending:
                os.replace(temp, target)
            self._pending.clear()

    def abort(self) -> None:
        for handle, _, _ in self._pending:
            with contextlib.suppress(OSError):  # a failed flush must not keep the files from going
                handle.close()
        for _, temp, _ in self._pending:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        self._pending.clear()


@contextlib.contextmanager
def atomic_files() -> Generator[_FileGroup]:
    """A group of files written together: ``group.open(path)`` each; all are renamed at the end.

    If the block raises, every temporary file is removed and no target is created or changed.
    """
    group = _FileGroup()
    try:
        yield group
        group.commit()  # closing flushes: a full disk shows up here, and must also clean up
    except BaseException:
        group.abort()
        raise
