"""Pages for people: the embeddable widget's script, its demo page, and the document viewer."""

from __future__ import annotations

from html import escape
from pathlib import Path
from string import Template

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from service import security, viewer

STATIC = Path(__file__).resolve().parent / "static"
WIDGET_JS = STATIC / "widget.js"
DEMO_HTML = STATIC / "demo.html"
DEMO_CSS = STATIC / "demo.css"

router = APIRouter(include_in_schema=False)


@router.get("/widget.js")
async def widget_js() -> FileResponse:
    # Short cache with revalidation (ETag): sites pick up a new version within minutes.
    return FileResponse(
        WIDGET_JS,
        media_type="text/javascript; charset=utf-8",
        headers={
            "Cache-Control": "public, max-age=300",
            "X-Content-Type-Options": "nosniff",
            "Cross-Origin-Resource-Policy": "cross-origin",
        },
    )


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
    ``sentence_end`` inside it); ``lang=en`` for English labels."""
    lang = viewer.language_of(request.query_params.get("lang"))

    def error(status: int, message: str) -> HTMLResponse:
        return HTMLResponse(viewer.render_error(message, lang), status_code=status, headers=viewer.HEADERS)

    state = request.app.state.khamtop
    if state.retriever is None:
        reason = f"not ready: {state.error}" if state.error else "the service is still loading; retry shortly"
        return error(503, reason)
    settings = request.app.state.settings
    token = request.query_params.get("token")
    if not (
        security.viewer_allowed(settings, doc_id, token)
        or security.key_matches(security.presented_key(request), settings.search_key)
    ):
        return error(401, "this document needs the link from a search result (its token is missing or wrong)")
    doc = state.retriever.document(doc_id)
    if doc is None:
        return error(404, f"no document with id {doc_id!r}")
    try:
        cited = viewer.span_from(_offset(request, "start"), _offset(request, "end"), len(doc.text), "start/end")
        sentence = viewer.span_from(
            _offset(request, "sentence_start"), _offset(request, "sentence_end"), len(doc.text), "sentence"
        )
    except viewer.RangeError as exc:
        return error(400, str(exc))
    return HTMLResponse(viewer.render_document(doc, cited, sentence, lang), headers=viewer.HEADERS)
