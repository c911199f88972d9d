"""uvicorn's HTTP protocol (httptools) with the bounds it lacks: a request's headers must arrive
within ``header_timeout_s`` and hold at most ``max_header_bytes``, and its body must arrive within
``body_timeout_s``; past them the client gets 431 or 408 and the connection is closed. Bytes are
counted from the end of the request before (a request that begins in the same read as the one
before it can pass the bound by what is left of that read, at most one read buffer). Without
them a client that sends a few bytes a minute, or a header of megabytes, holds a connection (and
CPU) for as long as it likes. ``limit_concurrency`` (uvicorn's own) bounds open connections."""

from __future__ import annotations

from asyncio import TimerHandle

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_END = b"\r\n\r\n"


def bounded_protocol(max_header_bytes: int, header_timeout_s: float, body_timeout_s: float) -> type:
    class BoundedHttpTools(HttpToolsProtocol):
        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._header_bytes = 0
            self._tail = b""  # the last bytes seen, to find a header end split across reads
            self._in_headers = True
            self._deadline: TimerHandle | None = None
            self._arm(header_timeout_s, b"request headers not received in time")

        def _arm(self, seconds: float, why: bytes) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(seconds, self._refuse, 408, why)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _refuse(self, status: int, why: bytes) -> None:
            self._deadline = None
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
            super().on_headers_complete()
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
            super().connection_lost(exc)

    return BoundedHttpTools
