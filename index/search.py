"""Answering a question from a loaded index: normalise, embed, search, cite."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from corpus.reader import Document
from index.embedding import Embedder
from index.store import LoadedIndex, StoredChunk
from index.text import normalize_text


@dataclass(frozen=True)
class Hit:
    rank: int
    score: float
    chunk: StoredChunk
    document: Document


class Retriever:
    """Holds the model and the index; one instance per process, shared by all requests."""

    def __init__(self, embedder: Embedder, index: LoadedIndex) -> None:
        self.embedder = embedder
        self.index = index
        # One encoder call at a time: on two cores, concurrent torch calls only fight over the
        # same cores and make every request slower.
        self._encode_lock = threading.Lock()

    def search(self, question: str, top_k: int = 5) -> list[Hit]:
        query = normalize_text(question).strip()
        if not query:
            raise ValueError("question is blank")
        with self._encode_lock:
            vector = self.embedder.embed_queries([query])
        k = min(top_k, len(self.index.chunks))
        scores, ids = self.index.faiss_index.search(vector, k)
        hits = []
        for score, chunk_id in zip(scores[0], ids[0]):
            if chunk_id < 0:  # FAISS pads with -1 when it has fewer than k results
                continue
            chunk = self.index.chunks[chunk_id]
            hits.append(Hit(len(hits) + 1, float(score), chunk, self.index.documents[chunk.doc_id]))
        return hits

    def document(self, doc_id: str) -> Document | None:
        return self.index.documents.get(doc_id)
