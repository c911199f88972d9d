"""What a search is asked with and what it returns: the settings of a search, a ranked passage,
and the result with its answer's rung on the confidence ladder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from corpus.document import Document
from index.folder.spans import Passage
from index.search.answer_choice import AnswerKind
from index.search.sentences import Highlight

Mode = Literal["dense", "keyword", "hybrid"]
MODES: tuple[Mode, ...] = ("dense", "keyword", "hybrid")
Fusion = Literal["weighted", "rrf"]
# The confidence of a read search in which the reader found no span at all: below any margin,
# and finite, so that it can be compared, averaged and written as JSON.
NOTHING_READ = -1e6


@dataclass(frozen=True)
class SearchConfig:
    """How questions are searched and answered (built from the settings: ``Settings.search_config``)."""

    mode: Mode
    sentence_weight: float  # dense score = (1 - w) x passage cosine + w x best sentence cosine
    fusion: Fusion
    keyword_weight: float  # hybrid: the keyword list's weight against dense's 1
    rrf_k: int  # the "rrf" fusion's constant
    expansion_file: Path | None  # equivalent-name groups (index.search.expansion); None: no query expansion
    answer_threshold: float  # the best sentence's score below which nothing answers
    dedup: bool  # drop a passage that repeats a higher-ranked one
    batch_max: int  # questions encoded together at most (index.search.batching)
    read_candidates: int  # the reader reads this many of the top passages (docs/decisions/017-reader.md)
    read_weight: float  # new order = w x reader z-score + (1 - w) x retrieval z-score
    no_answer_margin: float  # read: the best span's margin over "no answer" below which nothing answers
    # How the answer is chosen among the reader's spans, and the ladder (index.search.answer_choice).
    answer_weight: float = 0.5
    span_candidates: int = 1
    kind_bonus: float = 0.0
    kind_penalty: float = 0.0
    copy_penalty: float = 0.0
    words_margin: float = -100.0


@dataclass(frozen=True)
class RankedPassage:
    rank: int
    # dense: passage/sentence cosine blend; keyword: BM25; hybrid: the blend + weight x BM25/best BM25
    # (or a reciprocal-rank-fusion score with the "rrf" fusion).
    score: float
    passage: Passage
    document: Document
    highlight: Highlight | None = None
    # Read: the reader's best span's margin over "no answer" (its span is ``highlight.span``).
    reader_score: float | None = None


@dataclass(frozen=True)
class SearchResult:
    passages: list[RankedPassage]
    # The answer's passage whether or not it reaches the threshold. Read: the passage whose best
    # span the answer choice took (index.search.answer_choice); else the hit whose sentence scores best.
    candidate: RankedPassage | None
    # Read: the best span's margin over "no answer" among the passages read; else the candidate
    # sentence's score (similarity plus word share).
    confidence: float
    threshold: float
    expanded_with: tuple[str, ...] = ()
    index_version: int = 0  # the index version that answered (every hit comes from it)
    read: bool = False  # whether the reader read the top passages
    # Read: the confidence ladder's rung (index.search.answer_choice): the reader's exact words, the
    # sentence that holds them, or nothing. Unread: the best sentence or nothing.
    answer_kind: AnswerKind | None = None

    @property
    def kind(self) -> AnswerKind:
        if self.read and self.answer_kind is not None:
            return self.answer_kind
        return "none" if self.candidate is None or self.confidence < self.threshold else "sentence"

    @property
    def best(self) -> RankedPassage | None:
        """The answer; None when the ladder says nothing answers (the documents probably do not
        answer the question)."""
        return None if self.kind == "none" else self.candidate
