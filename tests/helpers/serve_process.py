"""Start `dynahate serve` in a subprocess on a free loopback port and wait until ``/health`` answers.

For the serve tests and ``benchmarks/serve_throughput.py``, which talk to a real server over HTTP.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_serve(adapter: Path, log: Path, *args: str, env: dict[str, str] | None = None,
                timeout_s: float = 300) -> tuple[subprocess.Popen, str]:
    """``dynahate serve --adapter ADAPTER ARGS`` with output to ``log``; returns (process, base URL)."""
    import httpx

    port = free_port()
    cli = Path(sys.executable).with_name("dynahate")
    with Path(log).open("w") as out:
        proc = subprocess.Popen([str(cli), "serve", "--adapter", str(adapter), "--port", str(port), *args],
                                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dynahate serve exited {proc.returncode}:\n{Path(log).read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"dynahate serve did not answer /health in {timeout_s:.0f} s:\n{Path(log).read_text()[-3000:]}")


def stop_serve(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=60)
