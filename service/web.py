"""Pages for people: the embeddable widget's script, its demo page, and the document viewer."""

from __future__ import annotations

import functools
import hashlib
from html import escape
from pathlib import Path
from string import Template

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from index.store import collections
from service import routes, security, viewer

STATIC = Path(__file__).resolve().parent / "static"
WIDGET_JS = STATIC / "widget.js"
DEMO_HTML = STATIC / "demo.html"
DEMO_CSS = STATIC / "demo.css"

router = APIRouter(include_in_schema=False)


@functools.cache
def _widget() -> tuple[bytes, str]:
    """The script and its ETag, read once (on the first request, not at import)."""
    body = WIDGET_JS.read_bytes()
    return body, f'"{hashlib.sha256(body).hexdigest()[:20]}"'


@router.api_route("/widget.js", methods=["GET", "HEAD"])
async def widget_js(request: Request) -> Response:
    # Short cache with revalidation: sites pick up a new version within minutes, and a browser
    # that has this one gets a 304 without the body.
    body, etag = _widget()
    headers = {
        "Cache-Control": "public, max-age=300",
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    wanted = {tag.strip().removeprefix("W/") for tag in request.headers.get("if-none-match", "").split(",")}
    if etag in wanted or "*" in wanted:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)


@router.get("/widget/demo")
async def widget_demo(request: Request) -> HTMLResponse:
    origin = str(request.base_url).rstrip("/")
    page = Template(DEMO_HTML.read_text(encoding="utf-8")).substitute(origin=escape(origin))
    return HTMLResponse(
        page,
        headers={
            # The widget needs nothing more than this: it runs under a strict policy.
            "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
            "img-src 'self' data:; base-uri 'none'; form-action 'none'",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/widget/demo.css")
async def widget_demo_css() -> FileResponse:
    return FileResponse(DEMO_CSS, media_type="text/css; charset=utf-8")


def _offset(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise viewer.RangeError(f"{name} must be a character offset (a whole number ≥ 0); got {raw[:40]!r}")
    return int(raw)


@router.get("/documents/{doc_id:path}")
async def document_page(doc_id: str, request: Request) -> HTMLResponse:
    """The stored text of ``doc_id`` with ``start``–``end`` highlighted (and ``sentence_start``–
    ``sentence_end`` inside it, and ``span_start``–``span_end``, the answer, inside that);
    ``lang=en`` for English labels."""
    lang = viewer.language_of(request.query_params.get("lang"))

    def error(status: int, message: str) -> HTMLResponse:
        return HTMLResponse(viewer.render_error(message, lang), status_code=status, headers=viewer.HEADERS)

    state = request.app.state.khamtop
    if state.model_error or not state.started:
        return error(503, routes.not_ready_reason(request))
    settings = request.app.state.settings
    collection = request.query_params.get("collection") or settings.collection
    if not collections.NAME.fullmatch(collection):
        return error(400, "collection: not a collection name")
    token = request.query_params.get("token")
    # The token is checked before the collection is looked up: without one, nothing tells
    # whether a collection or a document of that name is there.
    if not security.viewer_allowed(request, doc_id, token, collection):
        return error(401, "this document needs the link from a search result (its token is missing or wrong)")
    try:
        retriever = routes.get_retriever(request, collection)
    except HTTPException as exc:
        return error(exc.status_code, exc.detail)
    doc = retriever.document(doc_id)
    if doc is None or not routes.visible(request, doc):
        return error(404, f"no document with id {doc_id!r}")
    try:
        cited = viewer.span_from(_offset(request, "start"), _offset(request, "end"), len(doc.text), "start/end")
        sentence = viewer.span_from(
            _offset(request, "sentence_start"), _offset(request, "sentence_end"), len(doc.text), "sentence"
        )
        answer = viewer.span_from(_offset(request, "span_start"), _offset(request, "span_end"), len(doc.text), "span")
    except viewer.RangeError as exc:
        return error(400, str(exc))
    return HTMLResponse(viewer.render_document(doc, cited, sentence, lang, answer), headers=viewer.HEADERS)
