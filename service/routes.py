"""HTTP routes: thin; a question goes to ``service.answering``, a change to ``service.state``."""

from __future__ import annotations

import errno
import logging
import time
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from corpus.sandbox import FileRefused, read_untrusted
from index.search.retriever import Retriever
from index.store.manifest import IndexLoadError
from index.store import collections
from index.store.versions import VersionError
from index.build.write import UpdateError
from service import security
from service.limits import DeadlineExceeded, Overloaded, ReadersBusy
from service import state as live
from service.keys import KeyRequestError
from service import gap_report
from service.question_log import Asked, VoteRefused, new_token
from service.schemas import (
    FeedbackRequest,
    KeyIn,
    KeyInfo,
    KeyList,
    KeyMade,
    FilterIn,
    CollectionIn,
    CollectionInfo,
    CollectionList,
    AskRequest,
    AskResponse,
    DocumentIn,
    DocumentResponse,
    ErrorResponse,
    IndexChange,
    check_doc_id,
    too_long,
)
from index.backends.base import FilterUnsupported
from corpus.filters import Filter, FilterError
from service.answering import answer_question, filter_of
from service.errors import error_message

CollectionQuery = Annotated[
    str | None,
    Query(description="The collection (default: `KHAMTOP_COLLECTION`, `default`)."),
]

# Every route may meet the limits (service.limits): documented once, here.
router = APIRouter(
    responses={
        413: {"model": ErrorResponse, "description": "The request body is over the limit."},
        429: {"model": ErrorResponse, "description": "Too many requests from this client; see Retry-After."},
    }
)
BAD_BODY = {400: {"model": ErrorResponse, "description": "The body cannot be parsed (a malformed multipart upload)."}}
log = logging.getLogger("khamtop.api")


def not_ready_reason(request: Request) -> str:
    """Why the service cannot answer yet: in full (with paths) for the admin, without for anyone."""
    state = request.app.state.khamtop
    if not state.error:
        return "loading model and index; retry shortly"
    admin = security.key_matches(security.presented_key(request), request.app.state.settings.admin_key)
    return f"not ready: {state.error if admin else state.public_error}"


def key_filter_of(request: Request) -> Filter | None:
    """A scoped key's fixed filter (None: the key carries none); 401 for a key made with a
    filter that cannot be read (it opens nothing rather than everything)."""
    only = security.key_filter(request)
    if only is None:
        return None
    try:
        return filter_of(FilterIn.model_validate(only))
    except (ValidationError, FilterError) as exc:
        raise HTTPException(
            status_code=401,
            detail=f"this scoped key's filter cannot be applied ({exc}); make it again",
            headers={"WWW-Authenticate": 'Bearer realm="khamtop"'},
        ) from None


def visible(request: Request, document) -> bool:
    """Whether the request's key may see ``document`` (a scoped key: only what its filter keeps)."""
    fixed = key_filter_of(request)
    return fixed is None or fixed.matches(document)


def _takes_changes(settings) -> None:
    """403 where this process takes no changes (a replica of a Qdrant server's alias)."""
    refused = settings.index_backend().refuses_changes()
    if refused is not None:
        raise HTTPException(status_code=403, detail=refused)


def _bad_filter(exc: Exception) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", "filter"), "msg": str(exc), "type": "value_error"}])


def collection_of(request: Request, name: str | None) -> str:
    """The collection a request names, else the settings' (``KHAMTOP_COLLECTION``); 422 for a
    name no collection can have."""
    if name is None:
        return security.scoped_collection(request) or request.app.state.settings.collection
    try:
        return collections.check_name(name)
    except collections.CollectionError as exc:
        raise RequestValidationError(
            [{"loc": ("query", "collection"), "msg": str(exc), "type": "value_error"}]
        ) from None


def served_collection(request: Request, name: str | None) -> live.Served:
    """The collection ``name`` as served: 503 while the model loads or cannot, 404 when there is
    no such collection."""
    state = request.app.state.khamtop
    if state.model_error or not state.started:
        raise HTTPException(status_code=503, detail=not_ready_reason(request), headers={"Retry-After": "2"})
    name = collection_of(request, name)
    served = state.served(name)
    if served is None:
        raise HTTPException(status_code=404, detail=f"no collection {name!r}")
    return served


def get_retriever(request: Request, collection: str | None = None) -> Retriever:
    """The retriever of ``collection`` (default: the settings'); 503 when it is not served."""
    served = served_collection(request, collection)
    if served.retriever is None and served.empty:
        raise HTTPException(
            status_code=409,
            detail=f"the collection {served.name} has no documents yet: add some "
            f"(POST /v1/documents?collection={served.name})",
        )
    if served.retriever is None:
        if served.error is None:
            detail = "loading model and index; retry shortly"
        else:
            admin = security.key_matches(security.presented_key(request), request.app.state.settings.admin_key)
            detail = f"not ready: {served.error if admin else served.public_error}"
        raise HTTPException(status_code=503, detail=detail, headers={"Retry-After": "2"})
    return served.retriever


# The dependencies are async on purpose: FastAPI runs a plain `def` dependency in a worker
# thread, and these checks are microseconds of work, not worth two thread hops a question.
async def _retriever(request: Request, collection: CollectionQuery = None) -> Retriever:
    name = collection_of(request, collection)
    security.require_search(request, name)
    return get_retriever(request, name)


async def _search_allowed(request: Request) -> None:
    security.require_some_search(request)


async def _admin_allowed(request: Request) -> None:
    """An admin key of some scope; the route checks it is one for its collection."""
    security.require_some_admin(request)


async def _global_admin(request: Request) -> None:
    security.require_admin(request)


RetrieverDep = Annotated[Retriever, Depends(_retriever)]
NOT_READY = {
    503: {"model": ErrorResponse, "description": "Not ready (model or index loading), or overloaded: see Retry-After."}
}
NEEDS_KEY = {401: {"model": ErrorResponse, "description": "A key is needed (or the one sent is wrong)."}}
ADMIN = {**NEEDS_KEY, 403: {"model": ErrorResponse, "description": "The admin API is off (no admin key is set)."}}
SEARCH = [Depends(_search_allowed)]
IN_A_COLLECTION = {
    404: {"model": ErrorResponse, "description": "No such collection (or no such document in it)."},
    409: {"model": ErrorResponse, "description": "The collection has no documents yet."},
}


@router.post(
    "/v1/ask",
    response_model=AskResponse,
    responses={
        **NOT_READY,
        **NEEDS_KEY,
        **BAD_BODY,
        **IN_A_COLLECTION,
        504: {"model": ErrorResponse, "description": "No answer within the request deadline."},
    },
    tags=["ask"],
    dependencies=SEARCH,
)
async def ask(body: AskRequest, request: Request) -> AskResponse:
    """Ranked passages that answer the question, each with its citation."""
    started = time.perf_counter()
    collection = collection_of(request, body.collection)
    security.require_search(request, collection)
    retriever = get_retriever(request, collection)
    settings, metrics = request.app.state.settings, request.app.state.metrics
    if len(body.question) > settings.max_question_chars:
        error = {"loc": ("body", "question"), "msg": too_long(body.question, settings.max_question_chars)}
        raise RequestValidationError([{**error, "type": "string_too_long"}])
    fields = {"question_chars": len(body.question), "top_k": body.top_k, "mode": body.mode or retriever.config.mode}
    if settings.log_questions:
        fields["question"] = body.question
    log.info("ask", extra={"fields": fields})
    try:
        filter_of(body.filter)  # a date that is no date: said before any work is queued
    except FilterError as exc:
        raise _bad_filter(exc) from None
    fixed = key_filter_of(request)
    # Encoding and search are CPU work: off the event loop, a few at a time (service.limits).
    try:
        answered = await request.app.state.admission.run(answer_question, retriever, body, started, fixed)
    except FilterUnsupported as exc:
        raise _bad_filter(exc) from None
    except Overloaded:
        metrics.shed.inc()
        raise HTTPException(
            503, "overloaded: too many questions waiting; retry shortly", {"Retry-After": "1"}
        ) from None
    except DeadlineExceeded:
        metrics.timeouts.inc()
        raise HTTPException(504, f"no answer within {settings.request_timeout_s:g} s; retry later") from None
    response = answered.response
    if security.closed(request, collection):
        keys = request.app.state.keys.current()
        citations = [p.citation for p in response.passages] + ([response.answer.citation] if response.answer else [])
        for citation in citations:
            citation.view_token = security.viewer_token(settings, citation.doc_id, collection, keys)
    update = {"collection": collection}
    questions = request.app.state.questions
    if questions is not None:
        update["feedback_token"] = token = new_token()
        questions.record(
            Asked(
                collection=collection,
                question=body.question,
                mode=response.mode,
                read=response.read,
                no_answer=response.no_answer,
                answer_kind=response.answer.kind if response.answer else None,
                confidence=response.confidence,
                cited=list(dict.fromkeys(p.citation.doc_id for p in response.passages)),
                latency_ms=response.took_ms,
                index_version=response.index_version,
                client=request.client.host if request.client else None,
                token=token,
            )
        )
    return response.model_copy(update=update)


@router.post(
    "/v1/feedback",
    status_code=204,
    responses={404: {"model": ErrorResponse, "description": "The token was never given, or was used already."}},
    tags=["questions"],
)
async def feedback(body: FeedbackRequest, request: Request) -> Response:
    """Helpful or not (and an optional comment) on one answer, with the `feedback_token` it came
    with: once per answer. No key is needed beyond the token, which only the asker was given."""
    questions = _question_log(request)
    if questions is None:
        raise HTTPException(status_code=404, detail="the question log is off: no feedback is kept")
    try:
        await run_in_threadpool(questions.vote, body.token, body.helpful, body.comment)
    except VoteRefused as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    return Response(status_code=204)


@router.get("/v1/log/report", responses={**ADMIN, **IN_A_COLLECTION}, tags=["questions"])
async def log_report(
    request: Request,
    collection: str | None = None,
    since: str | None = None,
    until: str | None = None,
    top: int = Query(default=20, ge=1, le=200),
) -> dict:
    """What the collection's documents fail to answer (service.gap_report): the questions that
    got no answer or a "not helpful", near-duplicates grouped and ranked; the top questions; the
    share answered by day. ``since``/``until``: dates in either era (default: the last 30 days)."""
    name = collection_of(request, collection)
    security.require_admin(request, name)
    questions = _question_log(request)
    if questions is None:
        raise HTTPException(status_code=404, detail="the question log is off (KHAMTOP_QUESTION_LOG)")
    try:
        start, end = gap_report.report_range(since, until)
    except FilterError as exc:
        raise RequestValidationError([{"loc": ("query", "since"), "msg": str(exc), "type": "value_error"}]) from None

    def build() -> dict:  # reading, and the tokenizer's first load, off the event loop
        return gap_report.report(questions.rows(name, start, end), gap_report.question_words(), top)

    found = await run_in_threadpool(build)
    return {"collection": name, "since": since, "until": until, **found}


@router.delete("/v1/log", status_code=204, responses={**ADMIN, **IN_A_COLLECTION}, tags=["questions"])
async def delete_log(request: Request, collection: str | None = None) -> Response:
    """Forget every logged question (and its feedback) of one collection (its admin key)."""
    name = collection_of(request, collection)
    security.require_admin(request, name)
    questions = _question_log(request)
    if questions is not None:
        await run_in_threadpool(questions.delete_collection, name)
    return Response(status_code=204)


def _question_log(request: Request):
    """The question log; None when it is off; 503 when it is on but could not be opened (a
    deletion must never be answered as done when nothing was deleted)."""
    questions = request.app.state.questions
    if questions is None and request.app.state.settings.question_log:
        raise HTTPException(
            status_code=503, detail="the question log is on but could not be opened; see the service's log"
        )
    return questions


@router.get(
    "/v1/documents/{doc_id:path}",
    response_model=DocumentResponse,
    responses={**IN_A_COLLECTION, **NOT_READY, **NEEDS_KEY},
    tags=["documents"],
    dependencies=SEARCH,
)
async def get_document(doc_id: str, retriever: RetrieverDep, request: Request) -> DocumentResponse:
    """The stored text of a document (citations are offsets into ``text``) and its metadata."""
    doc = retriever.document(doc_id)
    if doc is None or not visible(request, doc):
        raise HTTPException(status_code=404, detail=f"no document with id {doc_id!r}")
    return DocumentResponse(
        doc_id=doc.doc_id,
        title=doc.title,
        source_url=doc.source_url,
        date=doc.date,
        language=doc.language,
        tags=dict(doc.tags),
        text=doc.text,
    )


async def _upload(request: Request) -> tuple[str, bytes, str, dict]:
    """(doc_id, bytes, file suffix, metadata) from a JSON body or a multipart upload."""
    settings = request.app.state.settings
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            doc = DocumentIn.model_validate_json(await request.body())
        except ValidationError as exc:
            raise HTTPException(status_code=422, detail=error_message(exc.errors())) from None
        meta = doc.model_dump(include={"title", "source_url", "date", "language", "tags"})
        return doc.doc_id, doc.text.encode(), ".md", meta
    if kind != "multipart/form-data":
        raise HTTPException(
            status_code=415, detail="send a document as application/json {doc_id, text, ...} or multipart/form-data"
        )
    async with request.form(max_files=1, max_fields=8, max_part_size=settings.max_upload_bytes) as form:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise HTTPException(status_code=422, detail="file: attach the document as the form field 'file'")
        name = upload.filename or ""
        data = await upload.read(settings.max_upload_bytes + 1)
        if len(data) > settings.max_upload_bytes:
            raise HTTPException(status_code=413, detail=f"the file is over {settings.max_upload_bytes:,} bytes")
        stem, dot, suffix = name.rpartition(".")
        doc_id = form.get("doc_id") or (stem if dot else name)
        meta = {k: form.get(k) for k in ("title", "source_url", "date", "language") if form.get(k)}
    try:
        doc_id = check_doc_id(str(doc_id))
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=f"doc_id: {exc}") from None
    return str(doc_id), data, f".{suffix}" if dot else "", meta


UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": DocumentIn.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        **{k: {"type": "string"} for k in ("doc_id", "title", "source_url", "date", "language")},
                    },
                }
            },
        },
    }
}


@router.post(
    "/v1/documents",
    response_model=IndexChange,
    status_code=201,
    openapi_extra=UPLOAD_BODY,
    responses={
        **ADMIN,
        **NOT_READY,
        **BAD_BODY,
        200: {"model": IndexChange, "description": "Replaced, or unchanged (no new version)."},
        404: {"model": ErrorResponse, "description": "No such collection."},
        413: {"model": ErrorResponse},
        415: {"model": ErrorResponse},
        422: {"model": ErrorResponse, "description": "The document cannot be read; the reason is given."},
    },
    tags=["admin"],
    dependencies=[Depends(_admin_allowed)],
)
async def put_document(request: Request, response: Response, collection: CollectionQuery = None) -> IndexChange:
    """Add a document, or replace the one with the same id, as a new index version (admin key).

    JSON ``{doc_id, text, title?, source_url?, date?, language?}``, or a multipart upload with the
    file as ``file`` and optional ``doc_id`` (default: the file name without extension), ``title``,
    ``source_url``, ``date``, ``language``. Queries keep being answered by the previous version
    until the new one is complete; the response names the version now served."""
    started = time.perf_counter()
    try:
        name = collection_of(request, collection)
    except RequestValidationError as exc:  # this route's 422 says what is wrong in one line
        raise HTTPException(status_code=422, detail=f"collection: {exc.errors()[0]['msg']}") from None
    security.require_admin(request, name)
    served_collection(request, name)  # one that is there (an empty one takes its first documents)
    doc_id, data, suffix, meta = await _upload(request)
    # Read in a child process with its own memory and time limits (corpus.sandbox): a hostile or
    # broken file costs that process, not the service's loop or memory.
    # At most KHAMTOP_PARSE_CONCURRENCY such processes at once, the next few waiting their turn
    # (service.limits.UploadReaders): a dozen slow uploads must not take every core from questions.
    limits = request.app.state.settings.parse_limits()
    try:
        document = await request.app.state.upload_readers.run(read_untrusted, data, doc_id, suffix, meta, limits)
    except ReadersBusy as exc:
        raise HTTPException(
            status_code=503,
            detail=f"{doc_id}: every upload reader is busy and the queue is full; retry in {exc.retry_after_s} s",
            headers={"Retry-After": str(exc.retry_after_s)},
        ) from None
    except FileRefused as exc:
        raise HTTPException(status_code=exc.status, detail=f"{doc_id}: {exc}") from None
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=f"{doc_id}: {exc}") from None
    result = await _change(request, name, upsert=[document])
    response.status_code = 201 if result.added else 200
    return _change_response(result, started)


@router.delete(
    "/v1/documents/{doc_id:path}",
    response_model=IndexChange,
    responses={**ADMIN, **NOT_READY, **IN_A_COLLECTION},
    tags=["admin"],
    dependencies=[Depends(_admin_allowed)],
)
async def delete_document(
    doc_id: str, request: Request, retriever: RetrieverDep, collection: CollectionQuery = None
) -> IndexChange:
    """Remove a document as a new index version (admin key)."""
    started = time.perf_counter()
    security.require_admin(request, collection_of(request, collection))
    if retriever.document(doc_id) is None:
        raise HTTPException(status_code=404, detail=f"no document with id {doc_id!r}")
    return _change_response(await _change(request, collection, remove=[doc_id]), started)


async def _change(request: Request, collection: str | None, upsert=(), remove=()):
    settings, state = request.app.state.settings, request.app.state.khamtop
    collection = collection_of(request, collection)
    _takes_changes(settings)
    try:
        return await run_in_threadpool(live.apply_update, settings, state, upsert, remove, collection)
    except UpdateError as exc:
        status = 404 if str(exc).startswith(("no document with id", "no collection")) else 422
        raise HTTPException(status_code=status, detail=_without_paths(settings, exc)) from None
    except (IndexLoadError, VersionError) as exc:
        log.error("collection %s not updated: %s", collection, exc)  # the log keeps the paths
        detail = f"the index could not be updated: {_without_paths(settings, exc)}"
        raise HTTPException(status_code=503, detail=detail) from None
    except OSError as exc:
        log.error("collection %s not updated: %s", collection, exc)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise HTTPException(status_code=507, detail="the index could not be updated: the disk is full") from None
        detail = f"the index could not be updated: {_without_paths(settings, exc)}"
        raise HTTPException(status_code=503, detail=detail) from None


def _without_paths(settings, exc: Exception) -> str:
    """An error for a collection's admin, without the server's folders: the index root is said as
    INDEX (a key for one collection learns nothing of where, or what else, the service keeps)."""
    text = str(exc)
    for path in sorted({str(settings.index_root.resolve()), str(settings.index_root)}, key=len, reverse=True):
        text = text.replace(path, "INDEX")
    return text


def _change_response(result, started: float) -> IndexChange:
    return IndexChange(
        index_version=result.version,
        added=result.added,
        replaced=result.replaced,
        unchanged=result.unchanged,
        removed=result.removed,
        took_ms=round((time.perf_counter() - started) * 1000, 2),
    )


def _info(served: live.Served) -> CollectionInfo:
    retriever = served.retriever
    return CollectionInfo(
        name=served.name,
        served=retriever is not None,
        index_version=retriever.index.version if retriever else None,
        documents=len(retriever.index.documents) if retriever else 0,
        problem="no documents yet" if served.empty else served.error,
    )


@router.get(
    "/v1/collections",
    response_model=CollectionList,
    responses={**ADMIN, **NOT_READY},
    tags=["admin"],
    dependencies=[Depends(_global_admin)],
)
async def list_collections(request: Request) -> CollectionList:
    """Every collection, whether it is served, its version and its size (admin key)."""
    state = request.app.state.khamtop
    served_collection(request, None)  # 503 while the model loads
    return CollectionList(collections=[_info(state.collections[name]) for name in sorted(state.collections)])


@router.post(
    "/v1/collections",
    response_model=CollectionInfo,
    status_code=201,
    responses={**ADMIN, **NOT_READY, 409: {"model": ErrorResponse, "description": "It exists already."}},
    tags=["admin"],
    dependencies=[Depends(_global_admin)],
)
async def create_collection(body: CollectionIn, request: Request) -> CollectionInfo:
    """A new, empty collection; documents added to it (``POST /v1/documents?collection=NAME``)
    make its first version (admin key)."""
    settings, state = request.app.state.settings, request.app.state.khamtop
    served_collection(request, None)  # 503 while the model loads
    _takes_changes(settings)
    try:
        await run_in_threadpool(collections.create, settings.index_root, body.name)
    except collections.CollectionError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    # A new entry, never one left in memory by a collection of that name dropped by another process.
    served = state.collections[body.name] = live.Served(body.name).made_empty()
    return _info(served)


@router.delete(
    "/v1/collections/{name}",
    status_code=204,
    responses={**ADMIN, **NOT_READY, 404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}},
    tags=["admin"],
    dependencies=[Depends(_global_admin)],
)
async def drop_collection(name: str, request: Request) -> Response:
    """Remove a collection and every version of it; its questions get 404 from now on (admin
    key). ``default`` cannot be dropped: remove its documents instead."""
    settings, state = request.app.state.settings, request.app.state.khamtop
    served = served_collection(request, name)
    _takes_changes(settings)
    with_lock = served.write_lock
    try:
        await run_in_threadpool(_drop, settings, state, name, with_lock, request.app.state.keys)
    except collections.CollectionError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    except IndexLoadError as exc:  # the backend's server could not remove its part: nothing was dropped
        log.error("collection %s not dropped: %s", name, exc)
        raise HTTPException(
            status_code=503, detail=f"the collection {name} was not dropped: its search server cannot be reached"
        ) from None
    questions = request.app.state.questions
    try:
        if questions is None and settings.question_log:
            raise RuntimeError("the question log could not be opened")
        if questions is not None:  # its questions go with it
            await run_in_threadpool(questions.delete_collection, name)
    except Exception as exc:  # noqa: BLE001 (the log's store's errors): the drop is done; say what is left
        log.error("collection %s dropped, but its questions were not deleted: %s", name, exc)
        raise HTTPException(
            status_code=503,
            detail=f"the collection {name} was dropped, but its logged questions could not be deleted: "
            f"DELETE /v1/log?collection={name} once the question log is reachable",
        ) from None
    return Response(status_code=204)


def _drop(settings, state, name: str, lock, keys) -> None:
    with lock:  # an admin change to it in this process finishes first
        collections.drop(settings.index_root, name, settings.for_collection(name).index_backend().forget)
        state.collections.pop(name, None)
        try:
            keys.forget_collection(name)  # a collection made again later under this name starts afresh
        except KeyRequestError as exc:  # the collection is gone; its keys can open nothing that is there
            log.error("collection %s dropped, but its keys could not be removed: %s", name, exc)


@router.post(
    "/v1/keys",
    response_model=KeyMade,
    status_code=201,
    responses={**ADMIN, 404: {"model": ErrorResponse, "description": "No such collection."}},
    tags=["admin"],
    dependencies=[Depends(_global_admin)],
)
async def make_key(body: KeyIn, request: Request) -> KeyMade:
    """A collection's own search or admin key, usable at once; the response is the only place
    the key is ever shown (global admin key)."""
    try:
        record, key = await run_in_threadpool(request.app.state.keys.make, body.collection, body.role, body.label)
    except KeyRequestError as exc:
        status = 404 if str(exc).startswith("no collection") else 409
        raise HTTPException(status_code=status, detail=str(exc)) from None
    return KeyMade(**record.public(), key=key)


@router.get(
    "/v1/keys",
    response_model=KeyList,
    responses={**ADMIN},
    tags=["admin"],
    dependencies=[Depends(_global_admin)],
)
async def list_keys(request: Request) -> KeyList:
    """Every collection's keys, without the keys themselves (global admin key)."""
    return KeyList(keys=[KeyInfo(**r.public()) for r in request.app.state.keys.current().records])


@router.delete(
    "/v1/keys/{key_id}",
    status_code=204,
    responses={**ADMIN, 404: {"model": ErrorResponse}},
    tags=["admin"],
    dependencies=[Depends(_global_admin)],
)
async def revoke_key(key_id: str, request: Request) -> Response:
    """Revoke a key: the next request that presents it is refused (global admin key)."""
    try:
        await run_in_threadpool(request.app.state.keys.revoke, key_id)
    except KeyRequestError as exc:
        raise HTTPException(status_code=404 if str(exc).startswith("no key") else 409, detail=str(exc)) from None
    return Response(status_code=204)


@router.get(
    "/metrics",
    tags=["health"],
    responses={**NEEDS_KEY, 200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    response_class=Response,
)
async def metrics(request: Request) -> Response:
    """Prometheus metrics: requests, latency, errors, shed and rate-limited requests, the index
    version and size. Needs the admin key when one is set."""
    if request.app.state.settings.admin_key is not None:
        security.require_admin(request)
    body, kind = request.app.state.metrics.render(request.app.state.khamtop, request.app.state.admission)
    return Response(body, media_type=kind)


@router.get("/healthz", tags=["health"])
@router.head("/healthz", include_in_schema=False)
async def healthz() -> dict:
    """The process is alive (says nothing about the model or index)."""
    return {"status": "ok"}


@router.get("/readyz", responses=NOT_READY, tags=["health"])
@router.head("/readyz", include_in_schema=False)
async def readyz(request: Request) -> dict:
    """200 once the model and index are loaded and queries can be answered. The default
    collection's counts are shown only to the global admin key (or when no admin key is set):
    a health check needs none of them, and a key for another collection may not learn them."""
    retriever = get_retriever(request)
    manifest = retriever.index.manifest
    ready = {"status": "ready", "index_version": retriever.index.version, "model": manifest["model"]["id"]}
    admin_key = request.app.state.settings.admin_key
    if admin_key is None or security.key_matches(security.presented_key(request), admin_key):
        ready |= {"documents": manifest["corpus"]["documents"], "chunks": manifest["corpus"]["chunks"]}
    return ready
