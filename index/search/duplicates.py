"""Dropping a passage that repeats a higher-ranked one: the same text in another document, or
character 4-grams that overlap this much (a copied announcement, a standard clause)."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from index.folder.keyword import match_form

# Two passages whose character 4-grams overlap this much (Jaccard) are the same passage.
DUPLICATE_JACCARD = 0.8


def shingles(text: str) -> frozenset[str]:
    folded = " ".join(match_form(text).split())
    return frozenset(folded[i : i + 4] for i in range(max(1, len(folded) - 3)))


def near_duplicate(a: frozenset[str], b: frozenset[str]) -> bool:
    small, large = sorted((len(a), len(b)))
    # Jaccard is at most small/large: most pairs are ruled out without a set operation.
    return small >= DUPLICATE_JACCARD * large and len(a & b) >= DUPLICATE_JACCARD * len(a | b)


class Distinct:
    """The first passages of a ranking that repeat none ranked above them."""

    def __init__(self, texts: Callable[[list[int]], list[str]]) -> None:
        self.texts = texts  # chunk ids -> their texts
        # Kept for the passages that keep coming back (thread-safe: lru_cache guards its own
        # state). Sized by memory (a passage's shingles take tens of KB), not by count: a
        # long-running service must not grow without bound
        # (docs/decisions/013-memory-at-1m-passages.md). Keyed by the text, not the chunk: a
        # passage repeated in other documents is cut into shingles once.
        self._shingles = lru_cache(maxsize=1_024)(shingles)

    def first(
        self, ranked: list[tuple[int, float]], top_k: int, known: dict[int, str] | None = None
    ) -> list[tuple[int, float]]:
        """The first ``top_k`` of ``ranked``, skipping passages that repeat a higher-ranked one.
        ``known``: texts of some chunks, read already."""
        kept: list[tuple[int, float]] = []
        seen: list[frozenset[str]] = []
        texts: set[str] = set()
        known = known or {}

        def texts_of(batch: list[tuple[int, float]]) -> list[str]:
            missing = [c for c, _ in batch if c not in known]
            known.update(zip(missing, self.texts(missing)))
            return [known[c] for c, _ in batch]

        # Texts read a batch at a time: on a corpus with many copies most of the list is walked.
        batches = (ranked[i : i + 32] for i in range(0, len(ranked), 32))
        candidates = ((c, score, text) for batch in batches for (c, score), text in zip(batch, texts_of(batch)))
        for chunk_id, score, text in candidates:
            if text in texts:  # the same passage in another document: no need to compare shingles
                continue
            texts.add(text)
            found = self._shingles(text)
            if any(near_duplicate(found, other) for other in seen):
                continue
            kept.append((chunk_id, score))
            seen.append(found)
            if len(kept) == top_k:
                break
        return kept
