"""Limits that keep the service answering under abuse and overload, each with a clear error.

- request bodies are capped (413) before they are read whole;
- each client gets a token bucket of requests (429 with Retry-After);
- searches run a few at a time; beyond a short queue they are refused at once (503 with
  Retry-After) instead of queueing without bound, and one that cannot finish within the deadline
  gets 504 rather than hanging;
- uploaded files are read a few at a time, each in its own process; beyond a short queue an
  upload gets 503 with Retry-After.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send


async def _send_json(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _has_key(scope: Scope) -> bool:
    return any(name in (b"authorization", b"x-api-key") for name, _ in scope.get("headers") or [])


class BodySizeLimit:
    """413 for a body over the limit: by Content-Length at once, or counted as it streams in."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[Scope], int]) -> None:
        self.app, self.limit_for = app, limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await _send_json(send, 413, f"the request body is over {limit:,} bytes")
            return
        seen, started, refused = 0, False, False

        async def counted() -> Message:
            # Past the limit: answer 413 now and tell the app the client has gone.
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit and not started:
                    refused = True
                    await _send_json(send, 413, f"the request body is over {limit:,} bytes")
                    return {"type": "http.disconnect"}
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 has been sent; whatever the app says after is dropped
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except Exception:
            if not refused:
                raise


class RateLimit:
    """A token bucket per client address: ``burst`` requests at once, refilled at ``per_minute``.
    Health checks and metrics are not counted, unless they present a key: every request that
    carries a key counts, so keys cannot be guessed faster than the limit on any route. The client
    address is the connection's; a forwarded header is believed only from the proxies named in
    ``KHAMTOP_TRUSTED_PROXIES`` (``service.app.server_options``)."""

    EXEMPT = ("/healthz", "/readyz", "/metrics")

    def __init__(self, app: ASGIApp, per_minute: int, burst: int, max_clients: int = 10_000, on_limit=None) -> None:
        self.app, self.rate, self.burst, self.max_clients = app, per_minute / 60.0, burst, max_clients
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, when)
        self.lock = threading.Lock()
        self.on_limit = on_limit

    def take(self, client: str, now: float) -> float:
        """0 if the request may go ahead, else the seconds until it could."""
        with self.lock:
            tokens, when = self.buckets.pop(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - when) * self.rate)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
            self.buckets[client] = (tokens - 1 if wait == 0 else tokens, now)
            while len(self.buckets) > self.max_clients:  # forget the longest-idle clients
                self.buckets.popitem(last=False)
            return wait

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["path"] in self.EXEMPT and not _has_key(scope)):
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        wait = self.take(client, time.monotonic())
        if wait > 0:
            if self.on_limit:
                self.on_limit()
            retry = str(max(1, math.ceil(wait)))
            await _send_json(send, 429, f"too many requests from {client}; retry in {retry} s", {"Retry-After": retry})
            return
        await self.app(scope, receive, send)


class Overloaded(Exception):
    """More searches are waiting than the queue holds."""


class DeadlineExceeded(Exception):
    """A search did not finish within the request deadline."""


class Admission:
    """At most ``concurrency`` searches run at once and ``queue`` more may wait; the rest are
    refused at once. Waiting counts toward the deadline. A search past its deadline is answered
    504 but keeps its slot until its thread ends, so the CPU is never shared by more than
    ``concurrency`` searches."""

    def __init__(self, concurrency: int, queue: int, deadline_s: float) -> None:
        self.slots = asyncio.Semaphore(concurrency)
        self.capacity = concurrency + queue
        self.deadline_s = deadline_s
        self.inflight = 0  # waiting or running (including runs whose caller has given up)

    async def run(self, fn: Callable, *args):
        if self.inflight >= self.capacity:
            raise Overloaded
        self.inflight += 1
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.deadline_s):
                await self.slots.acquire()
        except TimeoutError:
            self.inflight -= 1
            raise DeadlineExceeded from None
        # Starlette's (anyio's) worker threads, as before limits existed, not the loop's default
        # executor, which was slower per query (docs/decisions/007-question-threads.md).
        future = asyncio.ensure_future(run_in_threadpool(fn, *args))

        def done(_):
            self.slots.release()
            self.inflight -= 1

        future.add_done_callback(done)
        try:
            remaining = max(0.0, self.deadline_s - (time.monotonic() - started))
            return await asyncio.wait_for(asyncio.shield(future), remaining)
        except TimeoutError:
            raise DeadlineExceeded from None


class ReadersBusy(Exception):
    """Every upload reader is busy and as many uploads wait as may."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class UploadReaders:
    """At most ``concurrency`` uploaded files are read at once (each in a child process of its
    own, corpus.sandbox) and ``queue`` more may wait their turn; an upload beyond them is refused
    at once (``ReadersBusy``). Each reading is stopped at ``seconds`` (``KHAMTOP_PARSE_TIMEOUT_S``),
    so within that a reader frees up: that is the Retry-After. A reading whose caller has gone
    keeps its place until its child has ended, so no more than ``concurrency`` ever run."""

    def __init__(self, concurrency: int, queue: int, seconds: float) -> None:
        self.slots = asyncio.Semaphore(concurrency)
        self.concurrency, self.capacity = concurrency, concurrency + queue
        self.retry_after_s = max(1, math.ceil(seconds))
        self.inflight = 0  # reading or waiting to
        self.reading = 0
        self.peak = 0  # the most read at once so far

    @property
    def waiting(self) -> int:
        return self.inflight - self.reading

    async def run(self, fn: Callable, *args):
        if self.inflight >= self.capacity:
            raise ReadersBusy(self.retry_after_s)
        self.inflight += 1
        try:
            await self.slots.acquire()
        except BaseException:
            self.inflight -= 1
            raise
        self.reading += 1
        self.peak = max(self.peak, self.reading)
        future = asyncio.ensure_future(run_in_threadpool(fn, *args))

        def done(_) -> None:
            self.reading -= 1
            self.inflight -= 1
            self.slots.release()

        future.add_done_callback(done)
        return await asyncio.shield(future)
