"""The ASGI middleware in front of every route of ``dynahate serve`` (ours and LLaMA-Factory's).

For each HTTP request, before any route code runs:

1. ``API_KEY`` set: a ``/v1/...`` request (or one to ``protected_paths``: ``--api-docs``' pages) without
   ``Authorization: Bearer <API_KEY>`` (the scheme in any case) gets 401, before its body is read or validated.
2. POST: a ``Content-Length`` over ``--max-body-bytes`` gets 413 at once, without reading the
   body; a chunked body is counted while it is read and refused as soon as it passes the limit.
   (The server's HTTP layer discards the rest of a refused body without keeping it.) Every POST
   route takes JSON, which is UTF-8: a body that is not gets 422 naming the first bad byte's offset.
3. A per-route bound on requests in progress (chat completions: 429 with ``Retry-After``).
4. The route's pre-check on the body (chat completions: one user message, the post, see :mod:`dynahate.serve.chat`),
   then the route, run with a :class:`~dynahate.serve.guard.RequestGuard` in ``current_guard``. A task
   awaits ``http.disconnect`` from the server meanwhile: when the client goes, the guard is
   dropped (queued work is discarded, counted as abandoned). When ``--request-timeout`` passes
   before the answer starts, the client gets 503 and the guard is dropped (the work is not done,
   counted as timed out); the route's own late answer is discarded.

An exception no route handles (a bug, the engine failing) is answered 500 ``{"error": ...}`` like every other
error, and logged on the ``dynahate`` logger (the server's stderr) with its type and traceback but never its
message, which may quote a post (:func:`describe_exception`); a request whose client has gone is not an error.

Errors are ``{"error": "<one line>"}``; on the paths ``openai_paths`` says (the OpenAI routes) they take OpenAI's
shape, ``{"error": {"message", "type", "param", "code"}}`` (:mod:`dynahate.serve.openai_errors`). No post text is
ever quoted.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, cast

from dynahate.core.describe import describe_exception
from dynahate.serve.guard import (
    ABANDONED,
    TIMED_OUT,
    DropCounts,
    RequestDropped,
    RequestGuard,
    ServeError,
    current_guard,
)
from dynahate.serve.openai_errors import error_body

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Precheck = Callable[[bytes], Awaitable[None]]

log = logging.getLogger(__name__)

INTERNAL_ERROR = "internal error: the server logged it; nothing was classified"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def send_error(send: Send, error: ServeError, openai: bool = False) -> None:
    """Answer ``error`` as JSON: ``{"error": message}``, or OpenAI's error shape if ``openai``."""
    body = json.dumps(error_body(error, openai), separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(key.lower().encode("latin-1"), value.encode("latin-1")) for key, value in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _refuse_non_utf8(body: bytes) -> None:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as bad:
        raise ServeError(422, f"request body is not valid UTF-8 (byte {bad.start} of {len(body)}): send JSON in "
                              "UTF-8") from None


class _BodyTimeout(Exception):
    pass


class ServeMiddleware:
    def __init__(self, app: Callable, *, api_key: str | None, max_body_bytes: int, request_timeout_s: float,
                 drops: DropCounts, protected_paths: tuple[str, ...] = (), prechecks: dict[str, Precheck] | None = None,
                 in_progress_limits: dict[str, int] | None = None, openai_paths: Callable[[str], bool] | None = None):
        self.app = app
        self.openai_paths = openai_paths or (lambda path: False)  # the paths whose errors take OpenAI's shape
        self.api_key = api_key or None
        self.protected_paths = protected_paths  # behind the API key, as /v1/... is
        self.max_body_bytes = max_body_bytes
        self.request_timeout_s = request_timeout_s
        self.drops = drops
        self.prechecks = prechecks or {}
        self.in_progress_limits = in_progress_limits or {}
        self.in_progress: Counter[str] = Counter()

    # -- checks on the headers -------------------------------------------------------------
    def _authorised(self, scope: Scope) -> bool:
        scheme, _, credentials = (_header(scope, b"authorization") or "").partition(" ")
        key = cast(str, self.api_key)  # asked only when there is a key
        return scheme.lower() == "bearer" and hmac.compare_digest(credentials.encode(), key.encode())

    def _too_large(self, size: int, exact: bool) -> ServeError:
        amount = f"{size} bytes" if exact else f"more than {self.max_body_bytes} bytes"
        return ServeError(413, f"request body of {amount} is over the limit of {self.max_body_bytes} bytes "
                               "(--max-body-bytes)")

    async def _read_body(self, receive: Receive, deadline: float) -> bytes | None:
        """The whole body, or None if the client went away; 413 past the limit, :class:`_BodyTimeout` late."""
        chunks, size = [], 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise _BodyTimeout() from None
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise self._too_large(size, exact=False)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    # -- the request -------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def watched_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        failure: Exception | None = None
        try:
            await self._request(scope, receive, watched_send)
        except Exception as exc:  # noqa: BLE001 - any route's bug: answered and logged here, never re-raised
            failure = exc  # re-raised, Starlette would answer plain text and uvicorn log the message
        if failure is not None:  # out of the except block: an error logging or sending must not chain to it
            answer = "the answer had started: the connection is closed" if started else "answered 500"
            log.error("internal error on %s %s (%s): %s", scope["method"], scope["path"], answer,
                      describe_exception(failure))
            if not started:
                await send_error(send, ServeError(500, INTERNAL_ERROR), self.openai_paths(scope["path"]))

    async def _request(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        openai = self.openai_paths(path)
        protected = path.startswith("/v1/") or path in self.protected_paths
        if self.api_key and protected and method != "OPTIONS" and not self._authorised(scope):
            return await send_error(send, ServeError(401, "missing or wrong API key: send 'Authorization: Bearer "
                                                          "<API_KEY>'", {"WWW-Authenticate": "Bearer"}), openai)
        if method != "POST":
            return await self.app(scope, receive, send)
        length = _header(scope, b"content-length")
        if length is not None and length.strip().isdigit() and int(length) > self.max_body_bytes:
            return await send_error(send, self._too_large(int(length), exact=True), openai)

        deadline = time.monotonic() + self.request_timeout_s
        try:
            body = await self._read_body(receive, deadline)
            if body is None:
                self.drops.abandoned += 1
                return
            _refuse_non_utf8(body)
            limit = self.in_progress_limits.get(path)
            if limit is not None and self.in_progress[path] >= limit:
                self.drops.rejected += 1
                raise ServeError(429, f"{self.in_progress[path]} requests to {path} are in progress, the limit "
                                      "(--max-queue); retry later", {"Retry-After": "1"})
        except ServeError as error:
            return await send_error(send, error, openai)
        except _BodyTimeout:
            self.drops.timed_out += 1
            return await send_error(send, ServeError(
                408, f"the request body did not arrive within {self.request_timeout_s:g} s (--request-timeout)"),
                openai)
        self.in_progress[path] += 1
        try:
            await self._guarded(scope, receive, send, body, RequestGuard(deadline))
        finally:
            self.in_progress[path] -= 1

    async def _guarded(self, scope: Scope, receive: Receive, send: Send, body: bytes, guard: RequestGuard) -> None:
        gone = asyncio.Event()
        state = {"replayed": False, "started": False, "done": False, "answered": False}

        async def app_receive() -> dict[str, Any]:
            if not state["replayed"]:
                state["replayed"] = True
                return {"type": "http.request", "body": body, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def app_send(message: dict[str, Any]) -> None:
            if state["answered"] or gone.is_set():
                return  # the client has its 503, or has gone
            if message["type"] == "http.response.start":
                state["started"] = True
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                state["done"] = True
            await send(message)

        async def watch_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()
            if not state["done"] and not state["answered"] and guard.drop(ABANDONED):
                self.drops.abandoned += 1

        precheck = self.prechecks.get(scope["path"])
        openai = self.openai_paths(scope["path"])

        async def checked_app() -> None:
            if precheck is not None:
                try:
                    await precheck(body)
                except ServeError as error:
                    return await send_error(app_send, error, openai)
            await self.app(scope, app_receive, app_send)

        token = current_guard.set(guard)
        try:
            app_task = asyncio.create_task(checked_app())  # the task's context holds the guard
        finally:
            current_guard.reset(token)
        watcher = asyncio.create_task(watch_disconnect())

        async def time_out() -> None:
            if not state["started"] and not gone.is_set() and guard.drop(TIMED_OUT):
                self.drops.timed_out += 1
                state["answered"] = True
                await send_error(send, ServeError(
                    503, f"no answer within {self.request_timeout_s:g} s (--request-timeout): the request was dropped "
                         "unscored; retry later", {"Retry-After": "1"}), openai)

        try:
            done, _ = await asyncio.wait({app_task}, timeout=guard.remaining())
            if not done:
                await time_out()
            failure: Exception | None = None
            try:
                await app_task  # quick once dropped: queued work is discarded
            except RequestDropped:
                await time_out()  # the route saw the deadline pass just before the timer did
            except Exception as exc:
                if not (state["answered"] or gone.is_set()):
                    raise
                failure = exc  # not an error: nobody awaits the answer
            if failure is not None:
                log.debug("a dropped request ended with %s", describe_exception(failure))
        finally:
            watcher.cancel()
            if not app_task.done():
                app_task.cancel()
