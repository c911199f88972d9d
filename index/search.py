"""Answering a question from a loaded index: normalise, search (dense, keyword or both), cite."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

from corpus.reader import Document
from index.embedding import Embedder
from index.store import LoadedIndex, StoredChunk
from index.text import normalize_text

Mode = Literal["dense", "keyword", "hybrid"]
MODES: tuple[Mode, ...] = ("dense", "keyword", "hybrid")
# Reciprocal rank fusion: the usual constant, and how deep each list is read before fusing.
RRF_K = 60
FUSION_DEPTH = 50


@dataclass(frozen=True)
class Hit:
    rank: int
    # dense: cosine similarity; keyword: BM25; hybrid: reciprocal-rank-fusion score.
    score: float
    chunk: StoredChunk
    document: Document


def fuse(
    rankings: list[list[tuple[int, float]]], k: int = RRF_K, weights: list[float] | None = None
) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: list i gives weights[i]/(k + rank); ties keep the lower chunk id first."""
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights or [1.0] * len(rankings)):
        for rank, (chunk_id, _) in enumerate(ranking, start=1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (k + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


class Retriever:
    """Holds the model and the index; one instance per process, shared by all requests."""

    def __init__(
        self,
        embedder: Embedder,
        index: LoadedIndex,
        rrf_k: int = RRF_K,
        keyword_weight: float = 1.0,
        mode: Mode = "hybrid",
    ) -> None:
        self.embedder = embedder
        self.index = index
        self.mode = mode
        self.rrf_k = rrf_k
        self.keyword_weight = keyword_weight
        # One encoder call at a time: on two cores, concurrent torch calls only fight over the
        # same cores and make every request slower.
        self._encode_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings, embedder: Embedder, index: LoadedIndex) -> Retriever:
        return cls(embedder, index, settings.hybrid_rrf_k, settings.hybrid_keyword_weight, settings.search_mode)

    def _dense(self, query: str, k: int) -> list[tuple[int, float]]:
        with self._encode_lock:
            vector = self.embedder.embed_queries([query])
        scores, ids = self.index.faiss_index.search(vector, min(k, len(self.index.chunks)))
        # FAISS pads with -1 when it has fewer than k results.
        return [(int(i), float(s)) for s, i in zip(scores[0], ids[0]) if i >= 0]

    def search(self, question: str, top_k: int = 5, mode: Mode | None = None) -> list[Hit]:
        mode = mode or self.mode
        query = normalize_text(question).strip()
        if not query:
            raise ValueError("question is blank")
        if mode == "dense":
            ranked = self._dense(query, top_k)
        elif mode == "keyword":
            ranked = self.index.keyword.search(query, top_k)
        elif mode == "hybrid":
            depth = max(FUSION_DEPTH, top_k)
            rankings = [self._dense(query, depth), self.index.keyword.search(query, depth)]
            ranked = fuse(rankings, self.rrf_k, [1.0, self.keyword_weight])[:top_k]
        else:
            raise ValueError(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")
        hits = []
        for chunk_id, score in ranked:
            chunk = self.index.chunks[chunk_id]
            hits.append(Hit(len(hits) + 1, score, chunk, self.index.documents[chunk.doc_id]))
        return hits

    def document(self, doc_id: str) -> Document | None:
        return self.index.documents.get(doc_id)
