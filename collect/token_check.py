"""The first check on every ``/api/...`` request of ``dynahate collect serve``: the token, then its rate limit.

An ASGI middleware, outside :class:`dynahate.serve.middleware.ServeMiddleware`, so a request with no, an unknown or
a revoked token gets 401 (and one over its token's rate limit 429 with ``Retry-After``) before its body is read or
validated; a malformed request without a valid token is a 401, never a 422. The caller is put in the request's
state (``request.state.caller``) for the routes.
"""

from __future__ import annotations

from typing import Any

from dynahate.collect.rate_limit import RateLimit
from dynahate.collect.store import Store
from dynahate.collect.tokens import NotAuthorised, authenticate
from dynahate.serve.guard import ServeError
from dynahate.serve.middleware import Receive, Scope, Send, send_error

API_PREFIX = "/api/"


class TokenCheck:
    def __init__(self, app: Any, *, store: Store, limit: RateLimit):
        self.app = app
        self.store = store
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX) or scope["method"] == "OPTIONS":
            return await self.app(scope, receive, send)
        from starlette.concurrency import run_in_threadpool

        authorization = next((value.decode("latin-1") for key, value in scope.get("headers", ())
                              if key.lower() == b"authorization"), None)
        try:
            caller = await run_in_threadpool(authenticate, self.store, authorization)
        except NotAuthorised as exc:
            return await send_error(send, ServeError(401, str(exc), {"WWW-Authenticate": "Bearer"}))
        wait = self.limit.take(caller.token_id)
        if wait is not None:
            return await send_error(send, ServeError(
                429, f"more than {self.limit.per_minute} requests a minute with this token (--rate-limit); retry "
                     f"after {wait} s", {"Retry-After": str(wait)}))
        scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, receive, send)
