"""Per-request state of ``dynahate serve``: has the client gone, has the deadline passed.

The HTTP middleware (:mod:`dynahate.serve.middleware`) makes one :class:`RequestGuard` per POST request
and puts it in the :data:`current_guard` context variable, which the route handlers, the
classify batcher and LLaMA-Factory's generation thread (``asyncio.to_thread`` copies the
context) all see. When the client disconnects or the deadline passes the guard is *dropped*:
its callbacks run at once (the batcher takes the request out of its queue) and whoever checks
:attr:`RequestGuard.dropped` before scoring skips the work. :class:`DropCounts` is what
``/health`` reports about requests that were never answered.

:class:`ServeError` is a 4xx/5xx answer with a one-line message (``{"error": ...}``, or OpenAI's shape on the
OpenAI routes: :mod:`dynahate.serve.openai_errors`).
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable
from dataclasses import dataclass, field

ABANDONED = "abandoned"  # the client disconnected before its answer
TIMED_OUT = "timed out"  # --request-timeout passed first


class ServeError(Exception):
    """An HTTP error answer: ``status``, one-line ``message``, extra ``headers``; on the OpenAI routes also the
    request field it is about (``param``) and a machine-readable ``code`` (:mod:`dynahate.serve.openai_errors`)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, *,
                 param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.param = param
        self.code = code


class RequestDropped(Exception):
    """The request's client has gone or its deadline passed: its work is not done."""


@dataclass
class DropCounts:
    abandoned: int = 0  # client gone before the answer
    timed_out: int = 0  # 503 after --request-timeout
    rejected: int = 0  # 429: the queue was full

    def as_dict(self) -> dict[str, int]:
        return {"abandoned": self.abandoned, "timed_out": self.timed_out, "rejected": self.rejected}


@dataclass
class RequestGuard:
    deadline: float  # time.monotonic() seconds
    reason: str | None = None  # ABANDONED or TIMED_OUT once dropped
    held: bool = False  # hold(): the work is being stored, so the request is finished and answered whatever happens
    _callbacks: list[Callable[[str], None]] = field(default_factory=list, repr=False)

    @property
    def dropped(self) -> bool:
        """True once the client has gone or the deadline has passed (safe to read from any thread)."""
        return not self.held and (self.reason is not None or time.monotonic() >= self.deadline)

    def hold(self) -> None:
        """Called on the event loop just before the request's work is committed (``dynahate collect`` stores an
        entry): from then on it is never dropped, so the middleware never answers 503 for work that was done.
        :class:`RequestDropped` if it already is."""
        self.check()
        self.held = True

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def drop(self, reason: str) -> bool:
        """Mark the request dropped (first reason wins) and run the callbacks; False if already dropped or held."""
        if self.reason is not None or self.held:
            return False
        self.reason = reason
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(reason)
        return True

    def on_drop(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call ``callback(reason)`` when dropped (at once if it already is); returns an unregister function."""
        if self.reason is not None:
            callback(self.reason)
            return lambda: None
        self._callbacks.append(callback)

        def unregister() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return unregister

    def check(self) -> None:
        """Raise :class:`RequestDropped` if the request is no longer worth doing."""
        if self.dropped:
            raise RequestDropped(self.reason or TIMED_OUT)


current_guard: contextvars.ContextVar[RequestGuard | None] = contextvars.ContextVar("dynahate_guard", default=None)
