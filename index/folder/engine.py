"""The version folder's own engine: FAISS proposes the nearest passages, BM25 (bm25s's files)
the keyword list, and the stored vectors score candidates exactly. The embedded backend's, and
the default of every version loaded from its folder."""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

from index.folder.keyword import top_k_of
from index.folder.vectors import dot_stored, stored_rows


@dataclass(frozen=True)
class Rows:
    """Candidates' stored vectors, read from the mapped files: each passage's, then all their
    sentences' in candidate order (``sizes``: how many each), int8 codes with ``scales``."""

    ids: list[int]
    passages: np.ndarray
    sentences: np.ndarray
    scales: np.ndarray | None
    sizes: np.ndarray


# A filter that keeps this many passages or fewer is searched by reading its passages' vectors
# (exact); one that keeps more, by HNSW skipping the others (decision 023). Exact indexes always
# let FAISS skip them.
SCAN_UP_TO = 50_000


class FolderEngine:
    """Searches a loaded version folder (index.folder.load.LoadedIndex)."""

    scan_up_to = SCAN_UP_TO

    def __init__(self, index) -> None:
        self.index = index

    def keyword(self, words: list[str], k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        return self.index.keyword.search("", k, words, allowed)

    def nearest(self, vector: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[int]:
        if allowed is None:
            _, ids = self.index.faiss_index.search(vector, k)
            # FAISS pads with -1 when it has fewer than k results.
            return [int(i) for i in ids[0] if i >= 0]
        faiss_index = self.index.faiss_index
        hnsw = getattr(faiss_index, "hnsw", None)
        if hnsw is not None and int(np.count_nonzero(allowed)) <= self.scan_up_to:
            return self._scan(vector, k, np.flatnonzero(allowed))
        # FAISS skips the passages outside the filter as it searches. A bitmap, not a list of ids:
        # made in a fraction of a millisecond at 1M passages, whatever share the filter keeps.
        bits = np.packbits(allowed, bitorder="little")
        selector = faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))  # its size in bytes
        params = (
            faiss.SearchParametersHNSW(sel=selector, efSearch=max(hnsw.efSearch, k))
            if hnsw is not None
            else faiss.SearchParameters(sel=selector)
        )
        _, ids = faiss_index.search(vector, k, params=params)
        del bits  # FAISS read it through a pointer: it lived until here
        return [int(i) for i in ids[0] if i >= 0]

    def _scan(self, vector: np.ndarray, k: int, ids: np.ndarray) -> list[int]:
        """The ``k`` nearest of ``ids`` by their stored vectors, exactly: a filter that keeps few
        passages makes HNSW walk past many it may not return (decision 023)."""
        if not len(ids):
            return []
        # ``ids`` ascend, so top_k_of's lower position among equals is the lower chunk id.
        best, _ = top_k_of(self.index.passage_vectors[ids] @ vector[0], k, positive=False)
        return ids[best].tolist()

    def prefetch(self, chunk_ids: list[int]) -> Rows:
        """The candidates' stored vectors: their passages' and their sentences'. None of it
        depends on the question's vector, so the keyword candidates' are read while it is
        being computed."""
        groups = [self.index.chunk_sentences[c] for c in chunk_ids]
        sizes = np.array([len(g) for g in groups], dtype=np.int64)
        rows = np.concatenate([g for g in groups if g]) if sizes.sum() else np.zeros(0, dtype=np.int64)
        # int8 rows as they are stored: a quarter of the bytes to copy and join.
        sentences, scales = stored_rows(self.index.sentence_vectors, rows)
        return Rows(list(chunk_ids), self.index.passage_vectors[chunk_ids], sentences, scales, sizes)

    def dense_scores(
        self, vector: np.ndarray, chunk_ids: list[int], sentence_weight: float, prefetched: Rows | None = None
    ) -> dict[int, float]:
        """Blend each candidate's passage cosine with its best sentence's cosine. ``prefetched``:
        the stored vectors of the first candidates, read already (``prefetch``).

        The passage cosines come from the exact float32 vectors, whichever index proposed the
        candidate (an approximate index's scores are approximate; a keyword candidate has none).

        A passage of 200 tokens covers several topics, and its single vector matches none of
        them sharply; the best sentence does (docs/decisions/004-sentence-blend.md).
        """
        if not chunk_ids:
            return {}
        q = vector[0]
        parts = [prefetched] if prefetched is not None else []
        done = len(prefetched.ids) if prefetched is not None else 0
        if done < len(chunk_ids):
            parts.append(self.prefetch(chunk_ids[done:]))
        # One matrix product over all the rows, as before they were read in two parts: BLAS
        # computes a row differently depending on its place in a block of rows, so products
        # per part would move scores in the last bits and could reorder exact ties.
        passages = parts[0].passages if len(parts) == 1 else np.concatenate([p.passages for p in parts])
        sentences = parts[0].sentences if len(parts) == 1 else np.concatenate([p.sentences for p in parts])
        # float64, as the scores always were: float32 sums could reorder near-ties.
        cosines = (passages @ q).astype(np.float64)
        scales = None if parts[0].scales is None else np.concatenate([p.scales for p in parts])
        sims = dot_stored(sentences, scales, q)
        sizes = np.concatenate([p.sizes for p in parts])
        # Each candidate's best sentence: one maximum per group of consecutive rows.
        best = cosines.copy()
        has = sizes > 0
        if has.any():
            best[has] = np.maximum.reduceat(sims, np.concatenate(([0], np.cumsum(sizes[has])[:-1])))
        blended = (1 - sentence_weight) * cosines + sentence_weight * best
        return dict(zip(chunk_ids, blended.tolist()))
