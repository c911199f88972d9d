"""A document as the service stores it: its normalised text (what citations point into) and metadata."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from corpus.text import normalize_text

MAX_DOC_ID_CHARS = 200
# The most characters each metadata field may have, wherever it comes from (front matter, a
# sidecar, an upload's fields, the file itself). A title is put before every passage of its
# document: one of megabytes (a few lines of YAML aliases) cost gigabytes.
MAX_METADATA_CHARS = {"title": 1_000, "source_url": 2_048, "date": 100, "language": 35}
# Tags: name=value pairs a question can filter on (a department, a document type).
MAX_TAGS = 32
MAX_TAG_VALUE_CHARS = 200
TAG_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
Tags = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Document:
    doc_id: str
    text: str
    title: str
    source_url: str | None = None
    date: str | None = None
    language: str | None = None
    tags: Tags = ()

    def __post_init__(self) -> None:
        # Read back from JSON as lists (or given as a mapping): always sorted (name, value) pairs.
        object.__setattr__(self, "tags", as_tags(self.tags))


def as_tags(tags) -> Tags:
    """``tags`` (a mapping or pairs) as sorted (name, value) pairs, checked: ValueError naming
    the problem."""
    pairs = list(tags.items()) if isinstance(tags, Mapping) else [tuple(p) for p in tags or ()]
    if len(pairs) > MAX_TAGS:
        raise ValueError(f"tags: {len(pairs)} of them; the limit is {MAX_TAGS}")
    checked = {}
    for pair in pairs:
        if len(pair) != 2 or not all(isinstance(x, str) for x in pair):
            raise ValueError("tags: each is a name and a text value")
        name, value = pair
        if not TAG_NAME.fullmatch(name):
            raise ValueError(
                f"tags: {name[:50]!r} is not a tag name (lower-case letters, digits, _ and -, from a letter)"
            )
        if not value.strip() or len(value) > MAX_TAG_VALUE_CHARS:
            raise ValueError(f"tags: {name}'s value must have 1-{MAX_TAG_VALUE_CHARS} characters")
        checked[name] = normalize_text(value).strip()
    return tuple(sorted(checked.items()))


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
