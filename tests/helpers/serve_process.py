"""Start `dynahate serve` in a subprocess on a free loopback port and wait until ``/health`` answers; or serve
an ASGI app in this process as `dynahate serve` serves it (uvicorn on a thread, with the command's settings).

For the serve tests and ``benchmarks/serve_throughput.py``, which talk to a real server over HTTP; with
:data:`MODEL`, the name the tests' trained run is served under, and :func:`error_of`, the reason an error answer
gives in either of the server's shapes.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# The model a server of the tests' trained run serves: the run folder's name (built_once names it: tests/conftest.py)
MODEL = "trained-run"
OPENAI_ERROR_FIELDS = {"message", "type", "param", "code"}


def error_of(response) -> str:
    """The one-line reason of an httpx error answer: ``{"error": "..."}``, or on the OpenAI routes (chat completions,
    models) ``{"error": {"message", "type", "param", "code"}}``; each route must use its own shape."""
    from dynahate.serve.openai_errors import is_openai_path

    body = response.json()
    if is_openai_path(response.url.path):
        assert set(body) == {"error"} and set(body["error"]) == OPENAI_ERROR_FIELDS, body
        return body["error"]["message"]
    assert set(body) == {"error"} and isinstance(body["error"], str), body
    return body["error"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_serve(adapter: Path, log: Path, *args: str, env: dict[str, str] | None = None,
                timeout_s: float = 300) -> tuple[subprocess.Popen, str]:
    """``dynahate serve --adapter ADAPTER ARGS`` with output to ``log``; returns (process, base URL)."""
    port = free_port()
    cli = Path(sys.executable).with_name("dynahate")
    with Path(log).open("w") as out:
        proc = subprocess.Popen([str(cli), "serve", "--adapter", str(adapter), "--port", str(port), *args],
                                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    return proc, wait_for_health(proc, port, log, "dynahate serve", timeout_s)


def wait_for_health(proc: subprocess.Popen, port: int, log: Path, name: str, timeout_s: float,
                    every_s: float = 0.5) -> str:
    """The base URL once the server ``proc`` answers ``/health`` on ``port``; its log's end in the error if it exits
    first or does not answer in ``timeout_s`` (then it is killed). One client asks every time: each ``httpx.get``
    builds a client, and with it a TLS context that loads certifi's certificates (~30 ms of CPU,
    ``benchmarks/health_poll.py``), every half second while a server starts, taking the CPU it needs."""
    import httpx

    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited {proc.returncode}:\n{Path(log).read_text()[-3000:]}")
            try:
                if client.get(f"{url}/health").status_code == 200:
                    return url
            except httpx.TransportError:
                time.sleep(every_s)
    proc.kill()
    raise RuntimeError(f"{name} did not answer /health in {timeout_s:.0f} s:\n{Path(log).read_text()[-3000:]}")


def stop_serve(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=60)


@contextmanager
def serving_in_thread(app, **options) -> Iterator[str]:
    """``app`` served by uvicorn with ``dynahate serve``'s settings (``uvicorn_config(app, **options)``) on a
    free loopback port, on a thread of this process; yields the base URL. The server stops on leaving.

    uvicorn's log handler writes to the ``sys.stderr`` of the moment it is configured, here: call this in a test
    itself, not a fixture, to capture what the server writes.
    """
    import uvicorn

    from dynahate.serve.serve_cli import bind, uvicorn_config

    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn_config(app, **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def trickle(url: str, request: bytes, every_s: float, limit_s: float) -> tuple[bytes, int, float]:
    """Send ``request`` a byte every ``every_s`` seconds until the server closes the connection (or ``limit_s``
    passes); returns what the server answered, how many bytes were sent, and the seconds it took."""
    host, port = url.removeprefix("http://").split(":")
    started = time.monotonic()
    sent, answer = 0, b""
    with socket.create_connection((host, int(port)), timeout=limit_s) as sock:
        sock.settimeout(every_s)
        while time.monotonic() - started < limit_s:
            try:
                chunk = sock.recv(4096)
                if not chunk:
                    break  # closed by the server
                answer += chunk
            except TimeoutError:
                pass  # nothing yet: one more byte
            except ConnectionResetError:
                break
            if sent < len(request):
                try:
                    sock.sendall(request[sent:sent + 1])
                    sent += 1
                except (BrokenPipeError, ConnectionResetError):
                    break
    return answer, sent, time.monotonic() - started
