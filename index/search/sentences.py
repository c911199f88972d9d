"""The answering sentence: which sentence of a passage most likely answers the question.

Extractive only: the answer is a span of the stored document text, never generated text. Every
sentence's vector is computed when the index is built, so choosing one costs a small matrix
product and a word match per passage at query time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from index.backends.base import Version
from index.reader.features import Span
from index.folder.spans import Passage
from index.folder.vectors import dot_rows

# A sentence's score: cosine similarity to the question plus this times the share of the
# question's words (idf-weighted) it contains: the word share finds the sentence that holds the
# evidence more often than the cosine alone (docs/decisions/011-answer-threshold.md).
WORD_SHARE_WEIGHT = 0.3


@dataclass(frozen=True)
class Highlight:
    char_start: int  # document coordinates, like the passage's citation
    char_end: int
    score: float
    # The reader's answer inside this sentence (document coordinates), when the passage was read.
    span: Span | None = None


WordsOf = Callable[[str, int, int], frozenset[str]]


def sentence_highlights(
    index: Version,
    chunk: Passage,
    query_vector: np.ndarray,
    query_words: set[str],
    words_of: WordsOf,
) -> list[Highlight]:
    """Every sentence of the chunk with its score for the question, in text order, clipped to the
    chunk (a chunk may start or end inside a long sentence). ``words_of(doc_id, start, end)`` gives
    a span's keyword words (the retriever's cache)."""
    ids = index.chunk_sentences[chunk.id]
    if not ids:
        return []
    cosines = dot_rows(index.sentence_vectors, ids, query_vector)
    found = []
    for sentence_id, cosine in zip(ids, cosines):
        s = index.sentences[sentence_id]
        start, end = max(s.char_start, chunk.char_start), min(s.char_end, chunk.char_end)
        words = words_of(chunk.doc_id, start, end)
        score = float(cosine) + WORD_SHARE_WEIGHT * index.keyword.coverage(query_words, words)
        found.append(Highlight(start, end, score))
    return found


def best_sentence(highlights: list[Highlight]) -> Highlight | None:
    """The best-scoring sentence (the first of equals)."""
    best: Highlight | None = None
    for h in highlights:
        if best is None or h.score > best.score:
            best = h
    return best
