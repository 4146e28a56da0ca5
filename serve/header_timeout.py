"""A bound on the time a client may take to send a request's headers (``--header-timeout``).

uvicorn times the wait between two requests of a kept-alive connection (``timeout_keep_alive``) and
``dynahate serve`` times the body (``--request-timeout``, :mod:`dynahate.serve.middleware`), but nothing times
the headers: a client sending them a byte at a time keeps a connection, and its memory, for as long as it likes.
:class:`HeaderTimeoutProtocol` is uvicorn's h11 protocol with one timer more: it starts when a connection opens,
or when the first byte of the next request arrives on a kept-alive one, and stops when h11 has the whole request
line and headers. If it fires first, the client gets a 408 ``{"error": ...}`` and the connection is closed.
"""

from __future__ import annotations

import asyncio
import functools
import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


def _late_answer(header_timeout_s: float) -> bytes:
    body = json.dumps({"error": f"the request headers did not arrive within {header_timeout_s:g} s "
                                "(--header-timeout): the connection is closed"}, separators=(",", ":")).encode()
    head = ("HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n")
    return head.encode("ascii") + body


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's :class:`H11Protocol`; a connection whose request headers are not in after ``header_timeout_s``
    is answered 408 and closed."""

    def __init__(self, *args, header_timeout_s: float, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_s = header_timeout_s
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch_headers()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_headers()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.trailing_data[0]:  # part of the next request came with this one (pipelining)
            self._watch_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        super().connection_lost(exc)

    def _watch_headers(self) -> None:
        """Start the timer while h11 waits for a request's headers; stop it once they are in."""
        if self.conn.their_state is not h11.IDLE or self.transport.is_closing():
            self._stop_timer()
        elif self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_late)

    def _stop_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.write(_late_answer(self.header_timeout_s))
            self.transport.close()


def header_timeout_protocol(header_timeout_s: float):
    """The protocol factory for ``uvicorn.Config(http=...)``."""
    return functools.partial(HeaderTimeoutProtocol, header_timeout_s=header_timeout_s)
