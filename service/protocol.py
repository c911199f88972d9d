"""uvicorn's HTTP protocol (httptools) with the bounds it lacks: a request's headers must arrive
within ``header_timeout_s`` and hold at most ``max_header_bytes``, and its body must arrive within
``body_timeout_s``; past them the client gets 431 or 408 and the connection is closed. Bytes are
counted from the end of the request before (a request that begins in the same read as the one
before it can pass the bound by what is left of that read, at most one read buffer). Without
them a client that sends a few bytes a minute, or a header of megabytes, holds a connection (and
CPU) for as long as it likes. ``limit_concurrency`` (uvicorn's own) bounds open connections.

Connections whose request headers are unfinished (slowloris: open many, never finish) are bounded
too, since each takes one of the ``limit_concurrency`` slots until its header timeout: at most
``max_pending_per_client`` from one address and ``max_pending`` in all. A new connection past
either bound closes the oldest unfinished one (of that address, or of all): a real client's
headers arrive within milliseconds, so what is closed is the connection that has kept its slot
longest without asking anything. A connection kept alive between requests is not unfinished
until the next request starts to arrive (uvicorn's keep-alive timeout closes it before then).
Health checks (``/healthz``, ``/readyz``) are answered even when every slot is taken: they cost
nothing, and an orchestrator that cannot reach them restarts a service that is merely busy."""

from __future__ import annotations

from asyncio import TimerHandle
from collections import OrderedDict

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_END = b"\r\n\r\n"
HEALTH_PATHS = frozenset({b"/healthz", b"/readyz"})


class _Unfinished:
    """The connections whose request headers have not all arrived, oldest first, in all and by address."""

    def __init__(self) -> None:
        self.all: OrderedDict[object, None] = OrderedDict()
        self.by_client: dict[str, OrderedDict[object, None]] = {}

    def add(self, connection, client: str) -> None:
        self.all[connection] = None
        self.by_client.setdefault(client, OrderedDict())[connection] = None

    def discard(self, connection, client: str) -> None:
        self.all.pop(connection, None)
        mine = self.by_client.get(client)
        if mine is not None:
            mine.pop(connection, None)
            if not mine:
                del self.by_client[client]

    def oldest(self, client: str | None = None):
        found = self.all if client is None else self.by_client.get(client) or {}
        return next(iter(found), None)

    def count(self, client: str | None = None) -> int:
        return len(self.all) if client is None else len(self.by_client.get(client) or ())


def _path(url: bytes) -> bytes | None:
    try:
        return httptools.parse_url(url).path
    except httptools.HttpParserInvalidURLError:
        return None  # uvicorn answers it 400 itself


def bounded_protocol(
    max_header_bytes: int,
    header_timeout_s: float,
    body_timeout_s: float,
    max_pending_per_client: int | None = None,
    max_pending: int | None = None,
) -> type:
    unfinished = _Unfinished()  # one server's connections: shared by every connection of it

    class BoundedHttpTools(HttpToolsProtocol):
        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._header_bytes = 0
            self._tail = b""  # the last bytes seen, to find a header end split across reads
            self._in_headers = True
            self._deadline: TimerHandle | None = None
            self._peer = self.client[0] if self.client else "unknown"
            self._pending = False
            self._start_pending()
            self._arm(header_timeout_s, b"request headers not received in time")

        def _start_pending(self) -> None:
            """This connection waits for a request's headers: make room for it by closing the
            oldest unfinished connection of its address, or of all, past their bounds."""
            if max_pending_per_client is not None and unfinished.count(self._peer) >= max_pending_per_client:
                unfinished.oldest(self._peer)._evict()
            if max_pending is not None and unfinished.count() >= max_pending:
                unfinished.oldest()._evict()
            unfinished.add(self, self._peer)
            self._pending = True

        def _stop_pending(self) -> None:
            if self._pending:
                unfinished.discard(self, self._peer)
                self._pending = False

        def _evict(self) -> None:
            self._stop_pending()
            self._refuse(408, b"request headers not received in time (too many unfinished requests)")

        def _arm(self, seconds: float, why: bytes) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(seconds, self._refuse, 408, why)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _refuse(self, status: int, why: bytes) -> None:
            self._deadline = None
            self._stop_pending()
            if self.transport.is_closing():
                return
            # A response may be written unless this connection is in the middle of another one.
            if self.cycle is None or self.cycle.response_complete or not self.cycle.response_started:
                reason = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}[status]
                self.transport.write(
                    b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n"
                    b"connection: close\r\n\r\n%s" % (status, reason, len(why), why)
                )
            self.transport.close()

        def data_received(self, data: bytes) -> None:
            if self._in_headers:
                if self._deadline is None:  # a new request on a kept-alive connection
                    self._arm(header_timeout_s, b"request headers not received in time")
                if not self._pending:
                    self._start_pending()
                seen = self._tail + data
                end = seen.find(_END)
                self._header_bytes += (end + len(_END) - len(self._tail)) if end >= 0 else len(data)
                self._tail = seen[-3:]
                if self._header_bytes > max_header_bytes:
                    self._refuse(431, b"request headers over %d bytes" % max_header_bytes)
                    return
            super().data_received(data)

        def on_headers_complete(self) -> None:
            self._in_headers = False
            self._header_bytes, self._tail = 0, b""
            self._stop_pending()
            limit = self.limit_concurrency
            if limit is not None and _path(self.url) in HEALTH_PATHS:
                self.limit_concurrency = None  # a health check is answered past the connection limit
            try:
                super().on_headers_complete()
            finally:
                self.limit_concurrency = limit
            self._arm(body_timeout_s, b"request body not received in time")

        def on_message_complete(self) -> None:
            # The request is in whole: what comes next is the next request's headers (pipelined,
            # or after the response), counted and timed afresh, whatever the response is doing.
            self._disarm()
            self._in_headers = True
            self._header_bytes, self._tail = 0, b""
            super().on_message_complete()

        def connection_lost(self, exc) -> None:
            self._disarm()
            self._stop_pending()
            super().connection_lost(exc)

    return BoundedHttpTools
