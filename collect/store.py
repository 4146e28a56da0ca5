"""Open the collect database: a URL (SQLite by default, PostgreSQL as ``postgresql+psycopg://...``) checked
against this release's schema, and all-or-nothing transactions on it.

SQLite is opened in WAL mode with ``synchronous=FULL`` (a committed entry survives the process being killed and
the machine losing power), a 30 s busy timeout, foreign keys on, and ``BEGIN IMMEDIATE`` transactions, so
writers queue for the lock instead of failing. A database with no tables is created at this release's schema; one
at an older revision is refused until ``dynahate collect upgrade`` migrates it; one at a revision this release
does not know (written by a newer dynahate) is refused (:mod:`dynahate.collect.migrate`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dynahate.core.errors import DynahateError

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

DEFAULT_DB_PATH = Path("collect.sqlite3")  # in the working directory
DEFAULT_DB = f"sqlite:///{DEFAULT_DB_PATH}"
BUSY_TIMEOUT_S = 30
READ_ONLY = "dynahate_read_only"  # an execution option: the transaction only reads


def database_url(text: str) -> str:
    """``--db``: an SQLAlchemy URL (``sqlite:///FILE``, ``postgresql+psycopg://USER@HOST/DB``) or a plain file path,
    taken as an SQLite file."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if "://" not in text:
        return f"sqlite:///{text}"
    try:
        url = make_url(text)
    except ArgumentError:
        raise DynahateError("--db: not a database URL (expected sqlite:///FILE or "
                            "postgresql+psycopg://USER@HOST/NAME)") from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise DynahateError(f"--db: {url.get_backend_name()} is not supported; use sqlite:///FILE or "
                            "postgresql+psycopg://USER@HOST/NAME")
    return text


def database_url_argument(text: str) -> str:
    """argparse type of ``--db``: :func:`database_url`, its refusal as argparse's one-line error."""
    import argparse

    try:
        return database_url(text)
    except DynahateError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--db: ")) from None


def sqlite_file(url: str) -> Path | None:
    """The file of an SQLite URL (None for another database)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return Path(parsed.database) if parsed.get_backend_name() == "sqlite" and parsed.database else None


def redacted(url: str) -> str:
    """The URL as it may be printed: any password hidden."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _sqlite_settings(engine: Engine) -> None:
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection) -> None:
        # a writer takes the lock at BEGIN (and waits for it), never midway; a reader does not need it
        mode = "DEFERRED" if connection.get_execution_options().get(READ_ONLY) else "IMMEDIATE"
        connection.exec_driver_sql(f"BEGIN {mode}")


def _create_private(path: Path) -> None:
    """A new SQLite file is created readable by its owner alone (it holds the posts); SQLite gives its WAL and
    shared-memory files the same permissions. An existing file is left as it is."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError as exc:
        raise DynahateError(f"--db: cannot create {path} ({exc.strerror})") from None


def create_db_engine(url: str) -> Engine:
    """The SQLAlchemy engine of ``url`` with the settings above; a missing driver or folder is one clear line."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import NoSuchModuleError

    parsed = make_url(database_url(url))
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise DynahateError("--db: an SQLite database must be a file (sqlite:///FILE); in memory, every "
                                "entry would be lost when the server stops")
        path = Path(parsed.database)
        if not path.parent.is_dir():
            raise DynahateError(f"--db: folder {path.parent} does not exist; create it first")
        _create_private(path)
        engine = create_engine(parsed, pool_size=8, max_overflow=16, pool_timeout=60)
        _sqlite_settings(engine)
        return engine
    try:
        return create_engine(parsed, pool_size=8, max_overflow=16, pool_timeout=60, pool_pre_ping=True)
    except NoSuchModuleError:
        raise DynahateError(f"--db: no driver {parsed.drivername!r}; for PostgreSQL use postgresql+psycopg://"
                            ) from None
    except ModuleNotFoundError as exc:
        raise DynahateError(f"--db: the driver of {parsed.drivername} is not installed ({exc.name}); for "
                            "PostgreSQL: pip install 'dynahate-qlora[postgres]', postgresql+psycopg://") from None


@dataclass
class Store:
    """An open, checked database."""

    url: str
    engine: Engine
    sessions: sessionmaker[Session]
    read_sessions: sessionmaker[Session]

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work is committed when the block ends (and rolled back if it raises)."""
        with self.sessions.begin() as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session that only reads (on SQLite it does not take the write lock)."""
        with self.read_sessions.begin() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str, *, create: bool = True) -> Store:
    """The database at ``url``, checked against this release's schema (created when empty and ``create``)."""
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import sessionmaker

    from dynahate.collect.migrate import check_schema

    url = database_url(url)
    path = sqlite_file(url)
    if not create and path is not None and not path.exists():
        raise DynahateError(f"--db: no database at {path} (`dynahate collect add-annotator` or `collect serve` "
                            "creates one)")
    engine = create_db_engine(url)
    try:
        check_schema(engine, create=create)
    except OperationalError as exc:
        engine.dispose()
        raise DynahateError(f"--db {redacted(url)}: cannot open the database "
                            f"({str(exc.orig).strip().splitlines()[0][:200]})") from None
    except BaseException:
        engine.dispose()
        raise
    return Store(url, engine, sessionmaker(engine, expire_on_commit=False),
                 sessionmaker(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False))
