"""Text and metadata out of the file types owners have: .txt, .md, .html, .pdf, .docx.

Chosen by measurement on Thai samples (tests/fixtures/formats;
docs/decisions/010-file-format-readers.md):
- HTML: trafilatura: the article only (no menus, banners, scripts), tables kept, and the page's
  own title, date and canonical URL;
- PDF: pypdf, the text layer: no error on plain and PUA-glyph Thai, and, unlike pdfium, it keeps
  tone marks on their words in shaped text; pdfminer's layout analysis split Thai words apart;
- DOCX: python-docx, paragraphs and tables in document order, and the core properties.
The text is normalised by the caller (corpus.text), which also maps PDF Private Use Area glyphs
back to Thai and composes a split Sara Am.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime

SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf", ".docx")
_SPACES = re.compile(r"[ \t]{2,}")
_BLANKS = re.compile(r"\n{3,}")


@dataclass
class Extracted:
    text: str
    meta: dict = field(default_factory=dict)  # title, source_url, date (ISO), where the file has them


def extract(data: bytes, suffix: str) -> Extracted:
    """The text of a file of type ``suffix``; ValueError with a reason a person can act on."""
    suffix = suffix.lower()
    if suffix in (".txt", ".md"):
        try:
            return Extracted(data.decode("utf-8-sig"))
        except UnicodeDecodeError as exc:
            raise ValueError(f"not UTF-8 text (byte {exc.start}): save it as UTF-8") from exc
    if suffix in (".html", ".htm"):
        return _tidy(_html(data))
    if suffix == ".pdf":
        return _tidy(_pdf(data))
    if suffix == ".docx":
        return _tidy(_docx(data))
    raise ValueError(f"unsupported file type {suffix or '(none)'!r}; khamtop reads {', '.join(SUFFIXES)}")


def _tidy(extracted: Extracted) -> Extracted:
    # Justified PDF text and HTML indentation leave runs of spaces; one is enough.
    text = _BLANKS.sub("\n\n", "\n".join(_SPACES.sub(" ", line).strip() for line in extracted.text.splitlines()))
    return Extracted(text.strip(), {k: v for k, v in extracted.meta.items() if v})


def _iso(value) -> str | None:
    if isinstance(value, datetime | date):
        return value.date().isoformat() if isinstance(value, datetime) else value.isoformat()
    return str(value)[:10] if value else None


def _html(data: bytes) -> Extracted:
    import trafilatura

    logging.getLogger("trafilatura").setLevel(logging.ERROR)  # it warns about every short page
    text = trafilatura.extract(
        data, include_tables=True, include_comments=False, favor_recall=True, output_format="txt"
    )
    if not text or not text.strip():
        raise ValueError("no article text found in this HTML page")
    meta = trafilatura.extract_metadata(data)
    return Extracted(
        text,
        {"title": meta.title, "date": meta.date, "source_url": meta.url} if meta is not None else {},
    )


def _pdf(data: bytes) -> Extracted:
    import pypdf
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ValueError("the PDF is encrypted; save an unprotected copy")
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
    except PdfReadError as exc:
        raise ValueError(f"not a readable PDF: {exc}") from exc
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise ValueError("the PDF has no text layer (a scanned document?): run OCR on it first")
    meta = {}
    if info is not None:
        meta = {"title": info.title, "date": _iso(_safe(lambda: info.creation_date))}
    return Extracted(text, meta)


def _safe(get):
    try:
        return get()
    except (ValueError, TypeError):  # a malformed date in the PDF's info
        return None


def _docx(data: bytes) -> Extracted:
    import zipfile

    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ValueError(f"not a readable .docx file: {exc}") from exc
    lines = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            # A row on one line, cells apart: a passage keeps a table row's facts together.
            lines += [" | ".join(cell.text.strip() for cell in row.cells) for row in block.rows]
        elif block.text.strip():
            lines.append(block.text)
    props = document.core_properties
    return Extracted("\n\n".join(lines), {"title": props.title, "date": _iso(props.created)})
