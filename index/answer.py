"""The answering sentence: which sentence of a passage most likely answers the question.

Extractive only: the answer is a span of the stored document text, never generated text. Every
sentence's vector is computed when the index is built, so choosing one costs a small matrix
product per passage at query time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from index.store import LoadedIndex, StoredChunk


@dataclass(frozen=True)
class Highlight:
    char_start: int  # document coordinates, like the passage's citation
    char_end: int
    score: float  # cosine similarity of the sentence and the question


def best_sentence(index: LoadedIndex, chunk: StoredChunk, query_vector: np.ndarray) -> Highlight | None:
    """The chunk's sentence closest to the question, clipped to the chunk (a chunk may start or
    end inside a long sentence)."""
    ids = index.chunk_sentences[chunk.id]
    if not ids:
        return None
    scores = index.sentence_vectors[ids] @ query_vector
    best = int(np.argmax(scores))
    sentence = index.sentences[ids[best]]
    return Highlight(
        max(sentence.char_start, chunk.char_start), min(sentence.char_end, chunk.char_end), float(scores[best])
    )
