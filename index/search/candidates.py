"""A question's ranking from the engine that holds the version (index.backends.base.Engine):
the dense list, the keyword list, or both fused. Whatever the backend, the same blend."""

from __future__ import annotations

import numpy as np

from index.backends.base import Allowed, Engine
from index.search.results import Fusion, Mode

# How many candidates each list contributes before rescoring and fusing.
CANDIDATES = 100


def fuse(
    rankings: list[list[tuple[int, float]]], k: int, weights: list[float] | None = None
) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: list i gives weights[i]/(k + rank); ties keep the lower chunk id first."""
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights or [1.0] * len(rankings)):
        for rank, (chunk_id, _) in enumerate(ranking, start=1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (k + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def by_score(scores: dict[int, float]) -> list[tuple[int, float]]:
    """Best first; among equal scores, the lower chunk id first."""
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def prefetches(mode: Mode, fusion: Fusion) -> bool:
    """Whether the keyword candidates' stored vectors are read while the question's vector is
    computed: only the weighted hybrid scores every keyword candidate densely."""
    return mode == "hybrid" and fusion == "weighted"


class Ranking:
    """Ranks a question's candidates with ``engine``, as ``config`` (index.search.results.SearchConfig) says."""

    def __init__(self, engine: Engine, config, size: int) -> None:
        self.engine, self.config, self.size = engine, config, size  # size: the version's passages

    def nearest(self, vector: np.ndarray, k: int, allowed: Allowed = None) -> list[int]:
        return self.engine.nearest(vector, min(k, self.size), allowed)

    def dense(self, vector: np.ndarray, depth: int, allowed: Allowed = None) -> list[tuple[int, float]]:
        nearest = self.nearest(vector, depth, allowed)
        return by_score(self.engine.dense_scores(vector, nearest, self.config.sentence_weight))

    def hybrid(
        self,
        vector: np.ndarray,
        keyword: list[tuple[int, float]],
        prefetched: object | None = None,
        allowed: Allowed = None,
    ) -> list[tuple[int, float]]:
        nearest = self.nearest(vector, CANDIDATES, allowed)
        if self.config.fusion == "rrf":
            return fuse(
                [by_score(self.engine.dense_scores(vector, nearest, self.config.sentence_weight)), keyword],
                self.config.rrf_k,
                [1.0, self.config.keyword_weight],
            )
        # Weighted sum: BM25 scaled by the question's best BM25, so the weight means the same for
        # every question. It beat reciprocal rank fusion on both sets
        # (docs/decisions/002-search-mode-and-fusion.md).
        candidates = list(dict.fromkeys([*(c for c, _ in keyword), *nearest]))
        scores = self.engine.dense_scores(vector, candidates, self.config.sentence_weight, prefetched)
        top = keyword[0][1] if keyword and keyword[0][1] > 0 else 1.0
        for chunk_id, bm25 in keyword:
            scores[chunk_id] += self.config.keyword_weight * bm25 / top
        return by_score(scores)
