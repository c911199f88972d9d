"""What the service tells its operators: Prometheus metrics at /metrics and one JSON log line per
request. Logs carry the route template, never the query string (viewer tokens) or a key; a
question's text only when KHAMTOP_LOG_QUESTIONS is true."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("khamtop.access")

LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """One registry per app, so that tests (and two apps in one process) do not share counts."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("khamtop_requests", "HTTP requests", ["method", "route", "status"], registry=r)
        self.latency = Histogram(
            "khamtop_request_seconds", "HTTP request latency", ["route"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.errors = Counter("khamtop_errors", "Responses with a 5xx status", ["route"], registry=r)
        self.shed = Counter("khamtop_shed", "Searches refused at once because the queue was full", registry=r)
        self.timeouts = Counter("khamtop_deadline_exceeded", "Searches past the request deadline", registry=r)
        self.rate_limited = Counter("khamtop_rate_limited", "Requests refused by the per-client limit", registry=r)
        self.index_version = Gauge("khamtop_index_version", "The index version being served", registry=r)
        self.index_documents = Gauge("khamtop_index_documents", "Documents in the served index", registry=r)
        self.index_chunks = Gauge("khamtop_index_chunks", "Passages in the served index", registry=r)
        self.ready = Gauge("khamtop_ready", "1 when the model and an index are loaded", registry=r)
        self.inflight = Gauge("khamtop_searches_inflight", "Searches waiting or running", registry=r)
        self.questions_dropped = Counter(
            "khamtop_questions_not_logged", "Questions the question log's full queue dropped", registry=r
        )

    def render(self, state, admission) -> tuple[bytes, str]:
        retriever = state.retriever
        self.ready.set(1 if retriever is not None else 0)
        if retriever is not None:
            self.index_version.set(retriever.index.version)
            self.index_documents.set(len(retriever.index.documents))
            self.index_chunks.set(len(retriever.index.chunks))
        self.inflight.set(admission.inflight if admission else 0)
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def route_of(scope: Scope) -> str:
    """The route template (/v1/documents/{doc_id:path}) the router matched, so that ids do not
    multiply the series; "unmatched" for a 404 or a response sent before routing (413, 429)."""
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


class RequestLog:
    """Outermost middleware: times every request, counts it, and logs it as one JSON line."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def tracked(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        finally:
            seconds = time.perf_counter() - started
            route = route_of(scope)
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(route).observe(seconds)
            if status >= 500:
                self.metrics.errors.labels(route).inc()
            if route != "/metrics":
                log.info(
                    "request",
                    extra={
                        "fields": {
                            "method": scope["method"],
                            "route": route,
                            "status": status,
                            "ms": round(seconds * 1000, 2),
                            "client": (scope.get("client") or ("-",))[0],
                        }
                    },
                )


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any ``extra={"fields": {...}}``."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)
