"""Start `dynahate collect serve` in a subprocess on a free loopback port and wait until ``/health`` answers, and
make annotators in its database: for the collect tests and ``benchmarks/collect_write.py``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dynahate.testing.serve_process import free_port, wait_for_health


def add_annotators(db_url: str, names: list[str], owners: tuple[str, ...] = ()) -> dict[str, str]:
    """Each name -> its token (owners as named), added through the library as `collect add-annotator` does."""
    from dynahate.collect.store import open_store
    from dynahate.collect.tokens import add_annotator

    store = open_store(db_url)
    try:
        return {name: add_annotator(store, name, owner=name in owners) for name in names}
    finally:
        store.close()


def start_collect(adapter: Path, db_url: str, log: Path, *args: str, port: int | None = None,
                  env: dict[str, str] | None = None, timeout_s: float = 300) -> tuple[subprocess.Popen, str]:
    """``dynahate collect serve --adapter ADAPTER --db DB_URL ARGS`` with output to ``log``; (process, base URL)."""
    port = port or free_port()
    cli = Path(sys.executable).with_name("dynahate")
    with Path(log).open("a") as out:
        proc = subprocess.Popen([str(cli), "collect", "serve", "--adapter", str(adapter), "--db", db_url,
                                 "--port", str(port), *args],
                                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    return proc, wait_for_health(proc, port, log, "dynahate collect serve", timeout_s, every_s=0.3)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
