"""The FastAPI application: ``create_app(settings)`` with a lifespan that loads model and index once.

Loading runs in the background so that ``/healthz`` answers at once and ``/readyz`` says 503
until the model and index are in memory (or says why they could not be loaded).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from index.encoders.base import Embedder, EncoderConfig
from index.encoders.factory import load_embedder
from index.backends.base import EngineUnavailable
from index.reader.runtime import Reader, ReaderConfig
from service import apidocs
from service import state as live
from service.errors import error_items, error_message
from service.keys import KeyStore
from service.limits import Admission, BodySizeLimit, RateLimit, UploadReaders
from service.observe import Metrics, RequestLog
from service.protocol import bounded_protocol
from service.question_log import QuestionLog
from service.routes import router
from service.settings import Settings
from service.web import router as web_router

log = logging.getLogger("khamtop")

EmbedderFactory = Callable[[EncoderConfig], Embedder]
ReaderFactory = Callable[[ReaderConfig], Reader]


async def _watch(settings: Settings, state: live.ServiceState) -> None:
    """Poll CURRENT for versions written by another process and swap them in, also while the
    service is not ready because its index was refused (a good version then makes it ready)."""
    while True:
        await asyncio.sleep(settings.reload_interval_s)
        try:
            await asyncio.to_thread(live.reload_if_changed, settings, state)
        except Exception:  # a bug must not stop the watching: log it and look again next time
            log.exception("looking for a new index version failed")


def _is_admin(scope) -> bool:
    """Routes for operators: /metrics, /v1/collections, /v1/keys, /v1/log (the question log), and
    those that change the index (POST and DELETE on /v1/documents, and their preflights)."""
    if scope["path"] == "/metrics" or scope["path"].startswith(("/v1/collections", "/v1/keys", "/v1/log")):
        return True
    if not scope["path"].startswith("/v1/documents"):
        return False
    method = scope["method"]
    if method == "OPTIONS":
        headers = dict(scope.get("headers") or [])
        method = headers.get(b"access-control-request-method", b"").decode("latin-1").upper()
    return method in ("POST", "PUT", "DELETE")


class CORSExceptAdmin:
    """CORS for search routes only: admin routes never send CORS headers, so no web page on any
    origin can drive them from a visitor's browser."""

    def __init__(self, app, **options):
        self.plain = app
        self.cors = CORSMiddleware(app, **options)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and _is_admin(scope):
            await self.plain(scope, receive, send)
        else:
            await self.cors(scope, receive, send)


def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    # FastAPI's default echoes the whole input back; say what is wrong, briefly.
    content = {"detail": error_items(exc.errors()), "message": error_message(exc.errors())}
    return JSONResponse(status_code=422, content=content)


_UNPARSED_BODY = "There was an error parsing the body"  # FastAPI's words (fastapi.routing)


async def _http_error(request: Request, exc: StarletteHTTPException):
    # A 405's Allow header must list every method the path has, across all the routes that
    # share it (GET and DELETE /v1/documents/{id} are two routes); Starlette names one route's.
    if exc.status_code == 405:
        allowed = set()
        for route in [*router.routes, *web_router.routes]:
            scope = {**request.scope, "method": "GET"}
            if route.matches(scope)[0] != Match.NONE:
                allowed |= set(route.methods or ())
        if allowed:
            exc.headers = {**(exc.headers or {}), "Allow": ", ".join(sorted(allowed))}
    if exc.status_code == 400 and exc.detail == _UNPARSED_BODY:
        # FastAPI's answer to a JSON body it could not even decode: say why, as a 422 like any bad body.
        cause = exc.__cause__
        if isinstance(cause, UnicodeDecodeError):
            why = "body: the body is not UTF-8 text"
        elif isinstance(cause, RecursionError):
            why = "body: the JSON is nested too deeply"
        else:
            why = "body: the body is not valid JSON"
        detail = [{"loc": ["body"], "msg": why.removeprefix("body: "), "type": "json_invalid"}]
        return JSONResponse(status_code=422, content={"detail": detail, "message": why})
    if exc.status_code == 422:  # every 422 says what is wrong in `message`, as validation errors do
        return JSONResponse(status_code=422, content={"detail": exc.detail, "message": exc.detail}, headers=exc.headers)
    return await http_exception_handler(request, exc)


async def _engine_unavailable(request: Request, exc: EngineUnavailable) -> JSONResponse:
    """The Qdrant server behind a question or a document cannot be asked: the service is fine,
    the engine is not; retry (the reason is in the log, not in the answer)."""
    log.error("the search engine cannot be asked: %s", exc)
    detail = "the search engine cannot be reached; retry later"
    return JSONResponse(status_code=503, content={"detail": detail}, headers={"Retry-After": "2"})


def _schema_with_settings(app: FastAPI, settings: Settings) -> None:
    """The OpenAPI schema states this service's own question limit (a setting), not the ceiling."""
    plain = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = plain()
            schema["components"]["schemas"]["AskRequest"]["properties"]["question"]["maxLength"] = (
                settings.max_question_chars
            )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi


def server_options(settings: Settings) -> dict:
    """uvicorn's options for ``khamtop serve``: forwarded headers are believed only from the
    configured proxies (uvicorn would otherwise trust 127.0.0.1, so anything on this machine could
    claim any client address and slip past the rate limit); headers and bodies are bounded in size
    and time (service.protocol), open connections in number, and those still waiting for their
    headers in number per client address and in all (service.protocol), with health checks
    answered past the connection limit."""
    return {
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": ",".join(settings.trusted_proxies) or "",
        "http": bounded_protocol(
            settings.max_header_bytes,
            settings.header_timeout_s,
            settings.body_timeout_s,
            max_pending_per_client=settings.max_pending_connections_per_client,
            max_pending=settings.max_connections // 2,
        ),
        "limit_concurrency": settings.max_connections,
    }


def _question_log(settings: Settings, metrics: Metrics):
    """The question log, or None when it is off or cannot be opened (said in the log: questions
    are still answered)."""
    if not settings.question_log:
        return None
    url = settings.question_log_database
    where = "its PostgreSQL database" if url else settings.question_log_file
    try:
        return QuestionLog(settings.question_log_file, settings.log_retention_days, metrics.questions_dropped.inc, url)
    except Exception as exc:  # sqlite3's, psycopg's or the file system's: questions are answered anyway
        message = str(exc).replace(url, "the URL") if url else str(exc)
        log.error("the question log cannot be opened at %s: %s; questions are not logged", where, message)
        return None


def create_app(
    settings: Settings | None = None,
    embedder_factory: EmbedderFactory = load_embedder,
    reader_factory: ReaderFactory = Reader,
) -> FastAPI:
    """The service. The factories load the encoder and the reader (the tests pass fakes)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state = live.ServiceState()
        app.state.khamtop = state
        app.state.admission = Admission(settings.search_concurrency, settings.search_queue, settings.request_timeout_s)
        app.state.upload_readers = UploadReaders(
            settings.parse_concurrency, settings.parse_queue, settings.parse_timeout_s
        )
        app.state.questions = _question_log(settings, app.state.metrics)
        tasks = [asyncio.create_task(asyncio.to_thread(live.load, settings, embedder_factory, state, reader_factory))]
        if settings.reload_interval_s > 0:
            tasks.append(asyncio.create_task(_watch(settings, state)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            if app.state.questions is not None:
                app.state.questions.close()

    app = FastAPI(
        title="khamtop",
        summary="Ask questions of Thai documents; get ranked passages with exact citations.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served by service.apidocs, without a CDN (or not at all in production)
        redoc_url=None,
    )
    if settings.api_docs_on:
        apidocs.mount(app)
    _schema_with_settings(app, settings)
    app.state.settings = settings
    app.state.keys = KeyStore(settings.index_root)  # collections' own keys, read again when they change
    app.state.metrics = metrics = Metrics()
    app.state.admission = None  # set by the lifespan
    app.state.upload_readers = None  # set by the lifespan
    app.state.questions = None  # the question log, opened by the lifespan (service.question_log)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(EngineUnavailable, _engine_unavailable)
    app.include_router(router)
    app.include_router(web_router)
    # Middleware, innermost first. Outermost, the request log sees every response (413, 429
    # too); CORS wraps the limits so that a browser can read a 429 or 413 as such.
    # Level 5, not Starlette's 9: less than half the time for a few per cent more bytes
    # (docs/decisions/014-two-core-speed-targets.md).
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=5)
    upload_limit = settings.max_upload_bytes + 64 * 1024  # the file plus its multipart envelope
    app.add_middleware(
        BodySizeLimit,
        limit_for=lambda scope: (
            upload_limit if scope["path"] == "/v1/documents" and scope["method"] == "POST" else settings.max_body_bytes
        ),
    )
    if settings.rate_limit_per_minute > 0:
        app.add_middleware(
            RateLimit,
            per_minute=settings.rate_limit_per_minute,
            burst=settings.rate_limit_burst,
            on_limit=metrics.rate_limited.inc,
        )
    # Browsers on other sites (the widget embedded elsewhere) may call the API only from the
    # origins allowed here; with none, the same-origin policy stands. No cookies are involved.
    if settings.cors_origins:
        app.add_middleware(
            CORSExceptAdmin,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "Authorization", "X-API-Key"],
            max_age=600,
        )
    app.add_middleware(RequestLog, metrics=metrics)
    return app
