"""The collect tests' databases: a throwaway PostgreSQL server for the session (``postgres``, ``postgres_url``;
the tests that need it skip, saying why, when PostgreSQL cannot be found or started), and ``db_url``, a fresh
empty database of each backend for a test (an SQLite file in its tmp_path, a new database on the server)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dynahate.testing.postgres_server import PostgresServer, PostgresUnavailable, postgres_server

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session (one per xdist worker); skips with the reason when there is none."""
    try:
        with postgres_server() as server:
            yield server
    except PostgresUnavailable as exc:
        print(f"\nSKIPPED: {exc}")
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def postgres_url(postgres: PostgresServer) -> str:
    """The URL of the server's first database (postgresql+psycopg://postgres@127.0.0.1:PORT/dynahate)."""
    return postgres.url


def new_database_url(backend: str, folder: Path, request: pytest.FixtureRequest) -> str:
    """A new, empty database of ``backend``: an SQLite file in ``folder``, or a new database on the session's
    PostgreSQL server."""
    if backend == "sqlite":
        return f"sqlite:///{folder / f'collect-{uuid.uuid4().hex[:8]}.sqlite3'}"
    server = request.getfixturevalue("postgres")
    return server.create_database(f"t_{uuid.uuid4().hex[:16]}")


@pytest.fixture
def new_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """``new_db_url(backend)``: a new, empty database of ``backend`` (``sqlite`` or ``postgresql``) for this test."""
    return lambda backend: new_database_url(backend, tmp_path, request)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database for this test, once on each backend."""
    return new_database_url(request.param, tmp_path, request)
