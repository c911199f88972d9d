"""The HTTP API's request and response shapes (also the CLI's ``--json`` output)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from corpus.document import MAX_DOC_ID_CHARS, normal_doc_id
from corpus.text import has_visible_text, lone_surrogate
from index.search.results import Mode

# No question is longer, whatever the setting says (KHAMTOP_MAX_QUESTION_CHARS, checked by the route).
QUESTION_CHARS_CEILING = 100_000
MAX_TOP_K = 50
COLLECTION_PATTERN = r"^[a-z][a-z0-9-]{0,39}$"  # index.store.collections.NAME


class FilterIn(BaseModel):
    """Which documents a question reads: all that match every part given."""

    model_config = ConfigDict(extra="forbid", strict=True)

    tags: dict[
        str,
        Annotated[str, Field(max_length=200)]
        | Annotated[list[Annotated[str, Field(max_length=200)]], Field(max_length=64)],
    ] = Field(
        default_factory=dict,
        max_length=32,
        description='Tag name → a value, or a list of values any of which matches (`{"department": "budget"}`).',
    )
    date_from: str | None = Field(
        default=None,
        max_length=40,
        description="Documents dated on or after: a year, year-month or year-month-day, Buddhist or Common Era, "
        "Thai or Arabic digits (`2565-01-01`, `๒๕๖๕`, `2022-03`). Undated documents match no date filter.",
    )
    date_to: str | None = Field(
        default=None, max_length=40, description="Documents dated on or before (as `date_from`)."
    )
    language: (
        Annotated[str, Field(max_length=35)]
        | Annotated[list[Annotated[str, Field(max_length=35)]], Field(max_length=64)]
        | None
    ) = Field(default=None, description="The document's language, or any of several (at most 64).")


class AskRequest(BaseModel):
    # strict: a JSON 0 is not a boolean nor 5.0 an integer; what the schema says is what passes.
    model_config = ConfigDict(extra="forbid", strict=True)

    question: str = Field(
        # In the schema; enforced by the validator below, whose messages say more.
        json_schema_extra={"minLength": 1, "maxLength": QUESTION_CHARS_CEILING},
        description="The question, in Thai or English: up to `KHAMTOP_MAX_QUESTION_CHARS` characters (8,000 by "
        "default). The encoder reads its first 512 tokens; the keyword search reads all of it.",
        examples=["ประเทศไทยได้รับรางวัล ASEAN ICT Award กี่รางวัล"],
    )
    top_k: int = Field(default=5, ge=1, le=MAX_TOP_K, description="How many passages to return.")
    mode: Mode | None = Field(
        default=None,
        description="dense (embeddings), keyword (BM25 over Thai words) or hybrid (both); default: the setting.",
    )
    expand: bool = Field(
        default=True,
        description="Expand the question with equivalent names (ครม. = คณะรัฐมนตรี) and other-era years.",
    )
    read: bool = Field(
        default=True,
        description="Read the top passages with the reader: the answer is its exact words and the passages are "
        "reordered. False (or the reader turned off by `KHAMTOP_READER`): the answer is the best sentence.",
    )
    collection: str | None = Field(
        default=None,
        pattern=COLLECTION_PATTERN,
        description="The collection to search (default: the key's collection, else `KHAMTOP_COLLECTION`).",
    )
    filter: FilterIn | None = Field(
        default=None,
        description="Only documents that match: tags, a date range, a language. One that matches nothing answers "
        "with no passages and `no_answer`.",
    )

    @field_validator("question")
    @classmethod
    def _question_has_text(cls, v: str) -> str:
        if (at := lone_surrogate(v)) is not None:
            raise ValueError(f"question holds a lone surrogate at character {at}, which is not text")
        if len(v) > QUESTION_CHARS_CEILING:
            raise ValueError(too_long(v, QUESTION_CHARS_CEILING))
        # Not normalised here: this runs on the event loop, before the route's length check (the
        # search normalises). A question of zero-width spaces, controls or bidi marks is as blank
        # as an empty one, normalised or not.
        if not has_visible_text(v):
            raise ValueError("question must not be empty or blank")
        return v


def too_long(question: str, limit: int) -> str:
    return f"question is {len(question):,} characters long; the limit is {limit:,}"


class Citation(BaseModel):
    doc_id: str
    title: str
    source_url: str | None
    char_start: int = Field(description="Offset of the passage's first character in the document text.")
    char_end: int = Field(description="Offset just past the passage's last character (exclusive).")
    view_token: str | None = Field(
        default=None, description="Opens this document in the viewer (`&token=`) when the service needs a search key."
    )


class TextSpan(BaseModel):
    char_start: int = Field(description="Offset of the first character in the document text.")
    char_end: int = Field(description="Offset just past the last character (exclusive).")
    text: str = Field(description="Exactly the document's characters `char_start` to `char_end`.")


class Highlight(BaseModel):
    char_start: int = Field(description="Offset of the sentence's first character in the document text.")
    char_end: int = Field(description="Offset just past the sentence (exclusive).")
    text: str
    score: float = Field(description="Cosine similarity to the question plus 0.3 x the share of its words present.")
    span: TextSpan | None = Field(
        default=None, description="Read: the reader's best answer in this passage, inside this sentence."
    )


class Passage(BaseModel):
    rank: int
    score: float = Field(description="Cosine similarity (dense), BM25 (keyword) or fused rank score (hybrid).")
    text: str
    citation: Citation
    highlight: Highlight | None = Field(description="The passage's sentence most likely to answer the question.")
    reader_score: float | None = Field(
        default=None,
        description="Read: the reader's best span's score over its no-answer score (null: not read).",
    )


class Answer(BaseModel):
    kind: Literal["words", "sentence"] = Field(
        description="How sure the answer is (the confidence ladder): `words`, the reader's exact words, confident "
        "and of the kind the question asks for; `sentence`, the sentence that most likely holds the answer, when "
        "the passage looks right but no span is sure enough to be shown alone (and whenever the passages are not "
        "read). The third rung, nothing answers, is `answer: null` with `no_answer: true`."
    )
    text: str = Field(
        description="The answer, exactly as in the document (extractive; nothing is generated): the reader's "
        "words (`kind` `words`), else the sentence."
    )
    char_start: int = Field(description="Offset of the answer's first character in the document text.")
    char_end: int = Field(description="Offset just past the answer (exclusive): `text` is the characters between.")
    sentence: TextSpan = Field(description="The sentence around the answer (the answer itself for `kind` `sentence`).")
    passage_rank: int = Field(description="The rank of the passage it comes from.")
    score: float = Field(description="Read: the reader's score over its no-answer score; else the sentence's score.")
    citation: Citation = Field(description="The passage the answer comes from.")


class AskResponse(BaseModel):
    question: str
    mode: str
    answer: Answer | None = Field(description="The answer; null when nothing answers.")
    no_answer: bool = Field(
        description="True when the documents probably do not answer the question: no sentence is similar enough "
        "(`KHAMTOP_ANSWER_THRESHOLD`), or, read, the reader's best span falls short of its no-answer score by more "
        "than `KHAMTOP_NO_ANSWER_MARGIN` allows; or the question has fewer than two letters or digits."
    )
    confidence: float = Field(
        description="What is compared to the no-answer threshold: read, the best span's margin over no answer; "
        "else the best sentence's score."
    )
    read: bool = Field(description="Whether the reader read the top passages.")
    expanded_with: list[str] = Field(description="Equivalent names and years added to the keyword search.")
    passages: list[Passage]
    index_version: int = Field(description="The index version that answered; every passage comes from it.")
    collection: str = Field(default="default", description="The collection that answered.")
    took_ms: float
    feedback_token: str | None = Field(
        default=None,
        description="With the question log on: a one-time token for `POST /v1/feedback` on this answer.",
    )


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=16, max_length=64, description="The answer's `feedback_token`.")
    helpful: bool
    comment: str | None = Field(default=None, max_length=500, description="Optional, up to 500 characters.")


_BAD_ID_CHARS = set('\\?#%"<>|*:') | {chr(c) for c in range(32)} | {"\x7f"}


def check_doc_id(doc_id: str) -> str:
    """A document id is a relative path (laws/pdpa): no empty, dot or dot-dot segments, no
    characters that break URLs or file names, no invisible ones. Returns it normalised as stored
    (``corpus.document.normal_doc_id``)."""
    segments = doc_id.split("/")
    if not doc_id or len(doc_id) > MAX_DOC_ID_CHARS:
        raise ValueError(f"doc_id must be 1-{MAX_DOC_ID_CHARS} characters")
    if any(s in ("", ".", "..") or s != s.strip() for s in segments):
        raise ValueError("doc_id must be a relative path like laws/pdpa: no empty, '.' or '..' parts, no edge spaces")
    if bad := sorted(set(doc_id) & _BAD_ID_CHARS):
        raise ValueError(f"doc_id must not contain {''.join(bad)!r}")
    return normal_doc_id(doc_id)


class DocumentIn(BaseModel):
    """A document sent as JSON to ``POST /v1/documents`` (files go as multipart uploads)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    doc_id: str = Field(description="The id: a new one adds the document, an existing one replaces it.")
    text: str = Field(description="The document's text (Markdown front matter is read as metadata).")
    title: str | None = None
    source_url: str | None = None
    date: str | None = None
    language: str | None = None
    tags: dict[str, str] | None = Field(
        default=None, description='Name → value pairs a question can filter on (`{"department": "budget"}`).'
    )

    @field_validator("doc_id")
    @classmethod
    def _doc_id(cls, v: str) -> str:
        return check_doc_id(v)


class IndexChange(BaseModel):
    index_version: int | None = Field(description="The version now served (unchanged when nothing changed).")
    added: list[str]
    replaced: list[str]
    unchanged: list[str]
    removed: list[str]
    took_ms: float


class DocumentResponse(BaseModel):
    doc_id: str
    title: str
    source_url: str | None
    date: str | None
    language: str | None
    tags: dict[str, str] = Field(default_factory=dict)
    text: str


class ErrorResponse(BaseModel):
    detail: str
    message: str | None = Field(default=None, description="What is wrong (a 422 always has it).")


class CollectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(
        pattern=COLLECTION_PATTERN,
        description="1-40 lower-case letters, digits and hyphens, from a letter.",
        examples=["dept-budget"],
    )


class CollectionInfo(BaseModel):
    name: str
    served: bool = Field(description="Whether questions are answered from it now.")
    index_version: int | None = Field(description="The version served (None: not served).")
    documents: int = Field(description="Documents in the version served (0: none yet, or not served).")
    problem: str | None = Field(default=None, description="Why it is not served, if it is not.")


class CollectionList(BaseModel):
    collections: list[CollectionInfo]


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    collection: str = Field(pattern=COLLECTION_PATTERN, description="The collection the key is for.")
    role: Literal["search", "admin"] = Field(
        description="`search`: ask and read that collection; `admin`: also add and remove its documents."
    )
    label: str = Field(default="", max_length=200, description="Whose key it is, for the list.")


class KeyInfo(BaseModel):
    id: str = Field(description="Names the key in lists and revocations; not the key.")
    collection: str
    role: Literal["search", "admin"]
    label: str
    created_at: str


class KeyMade(KeyInfo):
    key: str = Field(description="The key: shown this once, kept only as a hash.")


class KeyList(BaseModel):
    keys: list[KeyInfo]
