"""A throwaway PostgreSQL server for the collect tests and benchmarks: Debian's ``postgresql`` package (or any
PostgreSQL whose ``initdb`` and ``pg_ctl`` are on PATH or in ``/usr/lib/postgresql/*/bin``), a cluster made in a
temporary folder, started on a free loopback port with its unix socket in that folder, trust authentication on
loopback only, and stopped and deleted on leaving.

As root, PostgreSQL refuses to run, so its programs run as the ``postgres`` user (``runuser -u postgres --``) on a
folder given to that user; as anyone else they run directly. When no PostgreSQL can be found or started,
:class:`PostgresUnavailable` says why (the tests skip with that reason).

    with postgres_server() as server:
        url = server.url                       # postgresql+psycopg://postgres@127.0.0.1:PORT/dynahate
        other = server.create_database("t1")   # a fresh, empty database on the same server
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dynahate.testing.serve_process import free_port

USER = "postgres"  # the cluster's superuser, and the system user that runs it as root
SEARCH = "/usr/lib/postgresql/*/bin"
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class PostgresUnavailable(Exception):
    """No PostgreSQL here, or it would not start: the reason, in one line."""


def find_binaries() -> Path:
    """The folder of ``initdb`` and ``pg_ctl``: PATH first, then the newest ``/usr/lib/postgresql/*/bin``."""
    initdb = shutil.which("initdb")
    if initdb is not None:
        folder = Path(initdb).resolve().parent
        if (folder / "pg_ctl").exists():
            return folder
    versions = sorted(Path("/").glob(SEARCH.lstrip("/")), key=lambda path: _version(path.parent.name), reverse=True)
    for folder in versions:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    raise PostgresUnavailable(f"no PostgreSQL: initdb and pg_ctl are neither on PATH nor in {SEARCH} "
                              "(Debian: apt-get install postgresql; .ci/run installs it)")


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name)) or (0,)


@dataclass(frozen=True)
class PostgresServer:
    port: int
    folder: Path  # the cluster (folder/data), its log (folder/server.log) and its unix socket
    database: str  # made when the server started

    @property
    def url(self) -> str:
        return self.url_of(self.database)

    def url_of(self, database: str) -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """``CREATE DATABASE name`` (empty; lower-case letters, digits and ``_``); returns its URL."""
        import psycopg
        from psycopg import sql

        if not _NAME.fullmatch(name):
            raise ValueError(f"not a plain database name: {name!r}")
        with psycopg.connect(host="127.0.0.1", port=self.port, user=USER, dbname="postgres",
                             autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_of(name)


def _as_postgres(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresUnavailable("running as root without runuser: PostgreSQL refuses to run as root")
    return [runuser, "-u", USER, "--", *command]


def _postgres_account() -> tuple[int, int]:
    """(uid, gid) of the ``postgres`` user, that runs the server when we are root."""
    import pwd

    try:
        account = pwd.getpwnam(USER)
    except KeyError:
        raise PostgresUnavailable(f"running as root and there is no {USER!r} user to run PostgreSQL as "
                                  "(Debian's postgresql package makes it)") from None
    return account.pw_uid, account.pw_gid


def _run(command: list[str], what: str, timeout_s: float) -> None:
    try:
        proc = subprocess.run(_as_postgres(command), capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise PostgresUnavailable(f"{what} did not finish in {timeout_s:.0f} s") from None
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise PostgresUnavailable(f"{what} failed (exit {proc.returncode}): {lines[-1] if lines else 'no output'}")


@contextmanager
def postgres_server(database: str = "dynahate", *, timeout_s: float = 60) -> Iterator[PostgresServer]:
    """A new cluster on a free loopback port with an empty database ``database``; stopped and deleted on leaving.
    Raises :class:`PostgresUnavailable` (before yielding) when it cannot be found or started."""
    binaries = find_binaries()
    owner = _postgres_account() if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="dynahate-pg-"))  # short: a unix socket's path has at most 107 bytes
    started = False
    try:
        if owner is not None:
            os.chown(folder, *owner)
        data = folder / "data"
        _run([str(binaries / "initdb"), "-D", str(data), "-U", USER, "-A", "trust", "-E", "UTF8", "--no-locale"],
             "initdb", timeout_s)
        # trust authentication: initdb's pg_hba.conf allows the unix socket and 127.0.0.1 / ::1 only, and the
        # server listens on 127.0.0.1 alone
        port = free_port()
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
        _run([str(binaries / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-o", options, "-w",
              "-t", str(int(timeout_s)), "start"], f"pg_ctl start (see {folder / 'server.log'})", timeout_s + 10)
        started = True
        server = PostgresServer(port, folder, database)
        try:
            server.create_database(database)
        except Exception as exc:  # noqa: BLE001 (psycopg missing or the server not answering: one line)
            raise PostgresUnavailable(f"cannot create a database on the new server: {exc}") from None
        yield server
    finally:
        if started:
            try:
                _run([str(binaries / "pg_ctl"), "-D", str(folder / "data"), "-m", "immediate", "-w", "stop"],
                     "pg_ctl stop", timeout_s)
            except PostgresUnavailable:
                pass  # deleting its folder below is all that is left to do
        shutil.rmtree(folder, ignore_errors=True)
