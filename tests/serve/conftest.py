"""The server most serve tests share: ``dynahate serve`` on the trained tiny adapter with the default limits, started
once per test run for tests/serve/test_serve.py and tests/serve/test_openai_client.py (one xdist group, so one
worker runs both)."""

import pytest

from dynahate.testing.cli import OFFLINE_ENV
from dynahate.testing.serve_process import start_serve, stop_serve


@pytest.fixture(scope="session")
def server(trained_run, tmp_path_factory):
    """(base URL, the server's log, its pid)."""
    log = tmp_path_factory.mktemp("serve") / "server.log"
    proc, url = start_serve(trained_run, log, env=OFFLINE_ENV)
    yield url, log, proc.pid
    stop_serve(proc)
