"""A document as the service stores it: its normalised text (what citations point into) and metadata."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Document:
    doc_id: str
    text: str
    title: str
    source_url: str | None = None
    date: str | None = None
    language: str | None = None
