"""The FastAPI application: ``create_app(settings)`` with a lifespan that loads model and index once.

Loading runs in the background so that ``/healthz`` answers at once and ``/readyz`` says 503
until the model and index are in memory (or says why they could not be loaded).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse

from index.embedding import Embedder, ModelLoadError, load_embedder
from index.query import AbbreviationFileError
from index.search import Retriever
from index.store import IndexLoadError, load_index
from service.routes import router
from service.settings import Settings
from service.web import router as web_router

log = logging.getLogger("khamtop")

EmbedderFactory = Callable[[Settings], Embedder]


@dataclass
class ServiceState:
    retriever: Retriever | None = None
    error: str | None = None


def _load(settings: Settings, embedder_factory: EmbedderFactory, state: ServiceState) -> None:
    try:
        embedder = embedder_factory(settings)
        index = load_index(settings.index_dir, embedder)
        retriever = Retriever.from_settings(settings, embedder, index)
    except (ModelLoadError, IndexLoadError, AbbreviationFileError) as exc:
        state.error = str(exc)
        log.error("not ready: %s", exc)
        return
    except Exception as exc:  # anything else is a bug, but the service must still say why
        state.error = f"unexpected error while loading: {exc!r}"
        log.exception("not ready")
        return
    state.retriever = retriever
    log.info(
        "ready: %d chunks from %d documents, model %s",
        len(index.chunks),
        len(index.documents),
        embedder.model_id,
    )


def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    # FastAPI's default echoes the whole input back; say what is wrong, briefly.
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        errors.append({"loc": loc, "msg": msg, "type": err.get("type", "invalid")})
    message = "; ".join(f"{'.'.join(e['loc']) or 'body'}: {e['msg']}" for e in errors)
    return JSONResponse(status_code=422, content={"detail": errors, "message": message})


def create_app(settings: Settings | None = None, embedder_factory: EmbedderFactory = load_embedder) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state = ServiceState()
        app.state.khamtop = state
        loader = asyncio.create_task(asyncio.to_thread(_load, settings, embedder_factory, state))
        try:
            yield
        finally:
            if not loader.done():
                loader.cancel()

    app = FastAPI(
        title="khamtop",
        summary="Ask questions of Thai documents; get ranked passages with exact citations.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.include_router(router)
    app.include_router(web_router)
    # Browsers on other sites (the widget embedded elsewhere) may call the API only from the
    # origins allowed here; with none, the same-origin policy stands. No cookies are involved.
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type"],
            max_age=600,
        )
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    return app
