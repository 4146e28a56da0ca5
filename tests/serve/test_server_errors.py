"""An exception no route handles: a 500 ``{"error": ...}`` like every other error, logged without a post.

Servers run in this process (uvicorn on a thread, with ``dynahate serve``'s own uvicorn settings) so that a
failure can be injected: the real app of the tiny trained run whose classify batcher is given an engine that
raises, and :class:`ServeMiddleware` in front of a small Starlette app for the other ways a route can fail.
The failures' messages quote a post (``MARKER``), as an engine's error could: it must appear nowhere, neither
in the answer nor in what the server writes (stderr, stdout, log records of any level).
"""

import asyncio
import logging
import time
from contextlib import contextmanager

import httpx
import pytest

from dynahate.serve.guard import DropCounts, current_guard
from dynahate.serve.middleware import INTERNAL_ERROR, ServeMiddleware
from dynahate.serve.openai_errors import is_openai_path
from dynahate.testing.serve_process import serving_in_thread

MARKER = "the marker post: Drellans are vermin"
LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", "dynahate")


@pytest.fixture
def server_logs(capfd, caplog):
    """Every record of the ``dynahate`` loggers (any level), with stderr and stdout; logging restored after."""
    saved = {name: (logger.handlers[:], logger.level, logger.propagate)
             for name, logger in ((name, logging.getLogger(name)) for name in LOGGERS)}
    yield capfd, caplog
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


@contextmanager
def serving(app, caplog):
    """``app`` served as ``dynahate serve`` serves it (:func:`serving_in_thread`), the ``dynahate`` loggers' records
    (any level) captured by ``caplog``; yields the base URL. Called in the test itself, not a fixture: uvicorn's log
    handler writes to the ``sys.stderr`` of the moment, which must be the test's capture.
    """
    ours = logging.getLogger("dynahate")
    with serving_in_thread(app) as url:  # uvicorn's settings configure the loggers: the handler goes in after
        ours.addHandler(caplog.handler)
        ours.setLevel(logging.DEBUG)
        try:
            yield url
        finally:
            ours.removeHandler(caplog.handler)


def written(server_logs) -> str:
    capfd, caplog = server_logs
    out, err = capfd.readouterr()
    return out + err + caplog.text  # the records' messages and tracebacks


def assert_internal_error(response):
    assert response.status_code == 500, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": INTERNAL_ERROR}
    assert MARKER not in response.text


class FailingEngine:
    """The score engine's interface; scoring raises an error quoting the first post."""

    def score(self, texts):
        raise RuntimeError(f"scoring failed on {texts[0]!r}")


@pytest.fixture(scope="module")
def real_app(trained_run):
    from dynahate.serve.app import ServeConfig, create_serve_app

    return create_serve_app(ServeConfig(adapter=trained_run))


def test_an_engine_failure_is_a_500_in_the_documented_shape_logged_without_the_post(real_app, server_logs):
    batcher = real_app.state.batcher
    engine = batcher.engine
    with serving(real_app, server_logs[1]) as url:
        batcher.engine = FailingEngine()
        response = httpx.post(f"{url}/v1/classify", json={"texts": [MARKER, "another post"]}, timeout=60)
        assert_internal_error(response)
        logs = written(server_logs)
        assert MARKER not in logs and "Drellans" not in logs
        # what the operator needs: the route, the exception's type and where it was raised, the traceback
        assert ("internal error on POST /v1/classify (answered 500): RuntimeError raised at test_server_errors.py:"
                in logs)
        assert "in score (its message is not logged: it may quote a post)" in logs
        assert "Traceback (most recent call last):" in logs and "classify_batcher.py" in logs
        assert "Exception in ASGI application" not in logs  # uvicorn never saw it (it would log the message)

        batcher.engine = engine  # the server keeps serving
        response = httpx.post(f"{url}/v1/classify", json={"texts": [MARKER]}, timeout=60)
        assert response.status_code == 200 and response.json()[0]["label"] in ("hate", "not hate"), response.text
        assert httpx.get(f"{url}/health").json()["served"]["requests"] == 1
    assert MARKER not in written(server_logs)


# -- the middleware in front of a small app ------------------------------------------------------------------------

@pytest.fixture
def small_app():
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route

    async def fails(request):
        raise RuntimeError(f"failed on {MARKER!r}")

    async def fails_midway(request):
        async def parts():
            yield b"part of an answer"
            raise RuntimeError(f"failed on {MARKER!r}")

        return StreamingResponse(parts())

    async def fails_once_the_client_has_gone(request):
        await request.body()
        guard = current_guard.get()
        while not guard.dropped:
            await asyncio.sleep(0.02)
        raise RuntimeError(f"failed on {MARKER!r}")

    async def works(request):
        return JSONResponse({"ok": True})

    drops = DropCounts()
    app = Starlette(routes=[Route("/fails", fails), Route("/midway", fails_midway), Route("/works", works),
                            Route("/v1/gone", fails_once_the_client_has_gone, methods=["POST"]),
                            Route("/v1/chat/completions", fails, methods=["POST"])],
                    middleware=[Middleware(ServeMiddleware, api_key="a-key", max_body_bytes=100,
                                           request_timeout_s=30, drops=drops, openai_paths=is_openai_path)])
    return app, drops


def test_a_route_failing_before_its_answer_is_a_500_json_and_the_other_checks_still_apply(small_app, server_logs):
    with serving(small_app[0], server_logs[1]) as url:
        assert_internal_error(httpx.get(f"{url}/fails"))
        logs = written(server_logs)
        assert MARKER not in logs and "Exception in ASGI application" not in logs
        assert "internal error on GET /fails (answered 500): RuntimeError raised at test_server_errors.py:" in logs
        # the middleware's own answers are unchanged, and the server keeps serving
        refused = httpx.post(f"{url}/v1/gone", content=b"{}")
        assert refused.status_code == 401 and refused.json()["error"].startswith("missing or wrong API key")
        large = httpx.post(f"{url}/v1/gone", content=b"x" * 101, headers={"authorization": "Bearer a-key"})
        assert large.status_code == 413 and "over the limit of 100 bytes" in large.json()["error"]
        assert httpx.get(f"{url}/works").json() == {"ok": True}


def test_a_route_failing_after_its_answer_started_closes_the_connection_and_logs_no_post(small_app, server_logs):
    with serving(small_app[0], server_logs[1]) as url:
        with pytest.raises(httpx.RemoteProtocolError):  # the answer cannot be replaced: it is cut short
            httpx.get(f"{url}/midway")
        logs = written(server_logs)
    assert MARKER not in logs and "Exception in ASGI application" not in logs
    assert "internal error on GET /midway (the answer had started: the connection is closed): RuntimeError" in logs


def test_a_client_that_has_gone_is_not_an_error(small_app, server_logs):
    app, drops = small_app
    _, caplog = server_logs
    ours = []
    with serving(app, caplog) as url:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{url}/v1/gone", content=b"{}", headers={"authorization": "Bearer a-key"}, timeout=0.5)
        deadline = time.monotonic() + 10
        while not ours and time.monotonic() < deadline:  # the route raises once it sees the guard dropped
            time.sleep(0.05)
            ours = [record for record in caplog.records if record.name.startswith("dynahate")]
    assert drops.abandoned == 1
    assert [record.levelname for record in ours] == ["DEBUG"]  # no error: nobody awaits an answer
    assert "a dropped request ended with RuntimeError raised at" in ours[0].getMessage()
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    logs = written(server_logs)
    assert MARKER not in logs and "internal error" not in logs


def test_the_middlewares_answers_on_an_openai_route_take_openais_error_shape(small_app, server_logs):
    """401, 413 and 500 answered before or around the route: OpenAI's shape on the chat path, the one-line shape on
    the others (here /v1/gone), with the same messages."""
    def openai_error(message, kind, code):
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}

    key = {"authorization": "Bearer a-key"}
    with serving(small_app[0], server_logs[1]) as url:
        for path, shape in (("/v1/chat/completions", openai_error),
                            ("/v1/gone", lambda message, *_: {"error": message})):
            refused = httpx.post(f"{url}{path}", content=b"{}")
            assert refused.status_code == 401 and refused.json() == shape(
                "missing or wrong API key: send 'Authorization: Bearer <API_KEY>'", "authentication_error",
                "invalid_api_key")
            large = httpx.post(f"{url}{path}", content=b"x" * 101, headers=key)
            assert large.status_code == 413 and large.json() == shape(
                "request body of 101 bytes is over the limit of 100 bytes (--max-body-bytes)", "invalid_request_error",
                None)
        failed = httpx.post(f"{url}/v1/chat/completions", content=b"{}", headers=key)
        assert failed.status_code == 500 and failed.json() == openai_error(INTERNAL_ERROR, "server_error", None)
    assert MARKER not in written(server_logs)

