"""HTTP routes: thin; the work happens in ``index.search.Retriever``."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from index.search import Retriever
from service.schemas import (
    AskRequest,
    AskResponse,
    DocumentResponse,
    ErrorResponse,
    response_from_answer,
)

router = APIRouter()


def get_retriever(request: Request) -> Retriever:
    state = request.app.state.khamtop
    if state.retriever is None:
        detail = f"not ready: {state.error}" if state.error else "loading model and index; retry shortly"
        raise HTTPException(status_code=503, detail=detail, headers={"Retry-After": "2"})
    return state.retriever


RetrieverDep = Annotated[Retriever, Depends(get_retriever)]
NOT_READY = {503: {"model": ErrorResponse, "description": "Model or index not loaded (yet)."}}


@router.post("/v1/ask", response_model=AskResponse, responses=NOT_READY, tags=["ask"])
async def ask(body: AskRequest, retriever: RetrieverDep) -> AskResponse:
    """Ranked passages that answer the question, each with its citation."""
    started = time.perf_counter()
    mode = body.mode or retriever.mode
    # Encoding and search are CPU work: off the event loop, so other requests keep flowing.
    answer = await run_in_threadpool(retriever.ask, body.question, body.top_k, mode, body.expand)
    return response_from_answer(body.question, mode, answer, (time.perf_counter() - started) * 1000)


@router.get(
    "/v1/documents/{doc_id:path}",
    response_model=DocumentResponse,
    responses={404: {"model": ErrorResponse}, **NOT_READY},
    tags=["documents"],
)
async def get_document(doc_id: str, retriever: RetrieverDep) -> DocumentResponse:
    """The stored text of a document (citations are offsets into ``text``) and its metadata."""
    doc = retriever.document(doc_id)
    if doc is None:
        raise HTTPException(status_code=404, detail=f"no document with id {doc_id!r}")
    return DocumentResponse(
        doc_id=doc.doc_id,
        title=doc.title,
        source_url=doc.source_url,
        date=doc.date,
        language=doc.language,
        text=doc.text,
    )


@router.get("/healthz", tags=["health"])
async def healthz() -> dict:
    """The process is alive (says nothing about the model or index)."""
    return {"status": "ok"}


@router.get("/readyz", responses=NOT_READY, tags=["health"])
async def readyz(request: Request) -> dict:
    """200 once the model and index are loaded and queries can be answered."""
    retriever = get_retriever(request)
    manifest = retriever.index.manifest
    return {
        "status": "ready",
        "model": manifest["model"]["id"],
        "documents": manifest["corpus"]["documents"],
        "chunks": manifest["corpus"]["chunks"],
    }
