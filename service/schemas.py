"""The HTTP API's request and response shapes (also the CLI's ``--json`` output)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from index.search import Hit, Mode
from index.text import normalize_text

MAX_QUESTION_CHARS = 2000
MAX_TOP_K = 50


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(
        description="The question, in Thai or English.",
        examples=["ประเทศไทยได้รับรางวัล ASEAN ICT Award กี่รางวัล"],
    )
    top_k: int = Field(default=5, ge=1, le=MAX_TOP_K, description="How many passages to return.")
    mode: Mode | None = Field(
        default=None,
        description="dense (embeddings), keyword (BM25 over Thai words) or hybrid (both); default: the setting.",
    )

    @field_validator("question")
    @classmethod
    def _question_has_text(cls, v: str) -> str:
        # Normalised first: a question of zero-width spaces is as blank as an empty one.
        if not normalize_text(v).strip():
            raise ValueError("question must not be empty or blank")
        if len(v) > MAX_QUESTION_CHARS:
            raise ValueError(f"question is {len(v)} characters long; the limit is {MAX_QUESTION_CHARS}")
        return v


class Citation(BaseModel):
    doc_id: str
    title: str
    source_url: str | None
    char_start: int = Field(description="Offset of the passage's first character in the document text.")
    char_end: int = Field(description="Offset just past the passage's last character (exclusive).")


class Passage(BaseModel):
    rank: int
    score: float = Field(description="Cosine similarity (dense), BM25 (keyword) or fused rank score (hybrid).")
    text: str
    citation: Citation


class AskResponse(BaseModel):
    question: str
    mode: str
    passages: list[Passage]
    took_ms: float


class DocumentResponse(BaseModel):
    doc_id: str
    title: str
    source_url: str | None
    date: str | None
    language: str | None
    text: str


class ErrorResponse(BaseModel):
    detail: str


def passage_from_hit(hit: Hit) -> Passage:
    return Passage(
        rank=hit.rank,
        score=round(hit.score, 6),
        text=hit.chunk.text,
        citation=Citation(
            doc_id=hit.document.doc_id,
            title=hit.document.title,
            source_url=hit.document.source_url,
            char_start=hit.chunk.char_start,
            char_end=hit.chunk.char_end,
        ),
    )
