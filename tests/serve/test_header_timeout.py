"""``--header-timeout``: a client sending its request headers slowly is answered 408 and cut off in bounded time.

A real socket against uvicorn with ``dynahate serve``'s settings (in this process, on a thread), with the server's
middleware in front of a small app: no model is needed for what happens before a request reaches the app.
"""

import json
import socket
import time

import httpx
import pytest

from dynahate.serve.guard import DropCounts
from dynahate.serve.middleware import ServeMiddleware
from dynahate.testing.serve_process import serving_in_thread, trickle

HEADER_TIMEOUT_S = 1.0
SLACK_S = 6.0  # a loaded machine is slow to run the timer; without the bound the wait has no end


@pytest.fixture(scope="module")
def app():
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def works(request):
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/works", works)], middleware=[Middleware(
        ServeMiddleware, api_key=None, max_body_bytes=100, request_timeout_s=30, drops=DropCounts())])


def test_headers_sent_a_byte_at_a_time_are_cut_off_with_408_after_the_header_timeout(app):
    request = b"GET /works HTTP/1.1\r\nHost: localhost\r\n" + b"X-Slow: " + b"a" * 400 + b"\r\n\r\n"
    with serving_in_thread(app, header_timeout_s=HEADER_TIMEOUT_S) as url:
        answer, sent, took = trickle(url, request, every_s=0.05, limit_s=30)
        # without the bound, the whole request (450 bytes, over 22 s) would be sent and answered 200
        assert sent < len(request) and took < HEADER_TIMEOUT_S + SLACK_S, (sent, took)
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 "), answer
        assert b"connection: close" in head.lower()
        assert json.loads(body) == {"error": f"the request headers did not arrive within {HEADER_TIMEOUT_S:g} s "
                                             "(--header-timeout): the connection is closed"}
        # a connection that sends nothing is closed too; the server keeps serving
        answer, sent, took = trickle(url, b"", every_s=0.05, limit_s=30)
        assert answer.startswith(b"HTTP/1.1 408 ") and took < HEADER_TIMEOUT_S + SLACK_S, (answer, took)
        assert httpx.get(f"{url}/works").json() == {"ok": True}


def test_a_kept_alive_connection_gets_the_bound_for_each_request_and_a_prompt_client_is_not_affected(app):
    with serving_in_thread(app, header_timeout_s=HEADER_TIMEOUT_S) as url, httpx.Client() as client:
        for _ in range(3):  # one connection; each request well within the bound, spaced wider than it in total
            assert client.get(f"{url}/works").json() == {"ok": True}
            time.sleep(HEADER_TIMEOUT_S * 0.6)
        # a second request on a kept-alive connection, its headers trickled: cut off as the first would be
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"GET /works HTTP/1.1\r\nHost: localhost\r\n\r\n")
            first = b""
            while not first.endswith(b'{"ok":true}'):  # the whole answer: its head and body may come apart
                first += sock.recv(4096)
            assert first.startswith(b"HTTP/1.1 200 "), first
            started = time.monotonic()
            sock.sendall(b"GET /wor")  # and nothing more
            sock.settimeout(HEADER_TIMEOUT_S + SLACK_S)
            second = sock.recv(4096)
            took = time.monotonic() - started
            assert second.startswith(b"HTTP/1.1 408 ") and took < HEADER_TIMEOUT_S + SLACK_S, (second, took)
