"""BM25's best k passages from its postings, compiled (numba): one pass to add, one to choose.

bm25s keeps, for each word, the passages that have it and their precomputed BM25 share (a CSC
matrix: ``indptr``, ``indices``, ``data``). A question's score for a passage is the sum of its
words' shares. In numpy that sum is a gather, an add and a scatter per word, and choosing the k
best means a partition of every passage's score, which at a million passages costs more than the
encoder (docs/decisions/008-keyword-search-compiled.md). Here both are plain loops: the add
writes each posting once, and the choice is one pass over the scores in id order, keeping the k
best in a heap.

The sums are the same float32 additions in the same order (word by word) as the numpy version,
so the scores are identical to the bit (tests/test_postings.py), and ties keep the lower id first.
"""

from __future__ import annotations

import threading

import numpy as np
from numba import njit


def _compiled(function):
    """Compiled without the GIL (the encoder's thread runs meanwhile), cached on disk where numba
    finds a writable place (beside this file, or the user's cache folder, or NUMBA_CACHE_DIR);
    where there is none, compiled at each start instead (about a second)."""
    try:
        return njit(nogil=True, cache=True)(function)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return njit(nogil=True)(function)


@_compiled
def _worse(score_a, id_a, score_b, id_b):
    """Whether (score_a, id_a) ranks below (score_b, id_b): lower score, or the same and a higher id."""
    return score_a < score_b or (score_a == score_b and id_a > id_b)


@_compiled
def _sift_down(heap_scores, heap_ids, size, at):
    # A min-heap by rank: the root is the worst of the k kept.
    while True:
        child = 2 * at + 1
        if child >= size:
            return
        right = child + 1
        if right < size and _worse(heap_scores[right], heap_ids[right], heap_scores[child], heap_ids[child]):
            child = right
        if not _worse(heap_scores[child], heap_ids[child], heap_scores[at], heap_ids[at]):
            return
        heap_scores[at], heap_scores[child] = heap_scores[child], heap_scores[at]
        heap_ids[at], heap_ids[child] = heap_ids[child], heap_ids[at]
        at = child


@_compiled
def _top_k(data, indices, indptr, columns, scores, k, allowed, filtered):
    """``filtered``: only passages whose ``allowed`` is true are chosen (a question's filter)."""
    num_docs = len(scores)
    scores[:] = 0.0
    for c in columns:
        for j in range(indptr[c], indptr[c + 1]):
            scores[indices[j]] += data[j]
    heap_scores = np.empty(k, dtype=np.float32)
    heap_ids = np.empty(k, dtype=np.int64)
    size = 0
    # In id order, so a passage that only ties the worst kept one never displaces it (it has the
    # higher id): once the heap is full, one comparison per passage.
    for doc in range(num_docs):
        score = scores[doc]
        if score <= 0.0 or (filtered and not allowed[doc]):
            continue
        if size < k:
            # Sift up the new leaf.
            at = size
            heap_scores[at], heap_ids[at] = score, doc
            size += 1
            while at > 0:
                parent = (at - 1) // 2
                if not _worse(heap_scores[at], heap_ids[at], heap_scores[parent], heap_ids[parent]):
                    break
                heap_scores[at], heap_scores[parent] = heap_scores[parent], heap_scores[at]
                heap_ids[at], heap_ids[parent] = heap_ids[parent], heap_ids[at]
                at = parent
        elif score > heap_scores[0]:
            heap_scores[0], heap_ids[0] = score, doc
            _sift_down(heap_scores, heap_ids, size, 0)
    return heap_ids[:size].copy(), heap_scores[:size].copy()


_EVERY = np.ones(1, dtype=bool)  # the mask an unfiltered search passes (never read)
_EVERY.flags.writeable = False


class Postings:
    """bm25s's word-to-passage matrix, answering "which k passages have the highest sums"."""

    def __init__(self, data, indices, indptr, num_docs: int) -> None:
        # np.asarray: a memory-mapped array as a plain view of the same memory (no copy).
        self._arrays = np.asarray(data), np.asarray(indices), np.asarray(indptr)
        self.num_docs = num_docs
        # Score buffers for the searches under way, kept for the next ones: a fresh array the size
        # of the corpus for each question costs its page faults again (docs/performance.md).
        self._free: list[np.ndarray] = []
        self._lock = threading.Lock()

    def top_k(self, columns, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores) of the ``k`` passages with the highest sums over ``columns`` (word columns,
        a repeated word counting again), best first, the lower id first among equals; only
        passages with a score above 0 (and, given ``allowed``, only those it allows)."""
        k = min(k, self.num_docs)
        if k <= 0 or len(columns) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        with self._lock:
            scores = self._free.pop() if self._free else np.empty(self.num_docs, dtype=np.float32)
        try:
            mask = _EVERY if allowed is None else allowed
            ids, best = _top_k(*self._arrays, np.asarray(columns, dtype=np.int64), scores, k, mask, allowed is not None)
        finally:
            with self._lock:
                self._free.append(scores)
        order = np.lexsort((ids, -best))
        return ids[order], best[order]


def warm_up() -> None:
    """Compile (or load the compiled code from numba's cache) now, not at the first question:
    for read-only postings, as a loaded index maps them (numba compiles writable and read-only
    arrays apart)."""
    arrays = [np.ones(1, dtype=np.float32), np.zeros(1, dtype=np.int32), np.array([0, 1], dtype=np.int64)]
    for array in arrays:
        array.flags.writeable = False
    postings = Postings(*arrays, 1)
    postings.top_k([0], 1)
    shared = np.ones(1, dtype=bool)
    shared.flags.writeable = False  # a filter's mask is shared, read-only (index.search.filters)
    postings.top_k([0], 1, shared)
