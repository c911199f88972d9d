"""A document as the service stores it: its normalised text (what citations point into) and metadata."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from corpus.text import normalize_text

MAX_DOC_ID_CHARS = 200
# The most characters each metadata field may have, wherever it comes from (front matter, a
# sidecar, an upload's fields, the file itself). A title is put before every passage of its
# document: one of megabytes (a few lines of YAML aliases) cost gigabytes.
MAX_METADATA_CHARS = {"title": 1_000, "source_url": 2_048, "date": 100, "language": 35}


@dataclass(frozen=True)
class Document:
    doc_id: str
    text: str
    title: str
    source_url: str | None = None
    date: str | None = None
    language: str | None = None


def normal_doc_id(doc_id: str) -> str:
    """``doc_id`` as it is stored: normalised as text is (NFC, Thai vowels and tone marks in one
    order, Sara Am composed), so that ids that look alike are one id. Refused (ValueError) when it
    is too long or holds an invisible character (zero-width, a bidi control, another format or
    control character), which would make an id that looks like another."""
    if not doc_id or len(doc_id) > MAX_DOC_ID_CHARS:
        raise ValueError(f"doc_id must be 1-{MAX_DOC_ID_CHARS} characters")
    for c in doc_id:
        if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp"):
            name = unicodedata.name(c, "a control character")
            raise ValueError(f"doc_id must not contain invisible characters: it has U+{ord(c):04X} ({name})")
    return normalize_text(doc_id)


def check_metadata(fields: dict[str, str | None]) -> None:
    """ValueError naming the first field over its limit (``MAX_METADATA_CHARS``)."""
    for field, limit in MAX_METADATA_CHARS.items():
        value = fields.get(field)
        if value is not None and len(value) > limit:
            raise ValueError(f"{field} is {len(value):,} characters long; the limit is {limit:,}")
