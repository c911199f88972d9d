"""Which FAISS index a version gets: exact search while it is cheap, HNSW above that.

Exact (flat) inner-product search costs time in proportion to the passages, so up to the
setting ``exact_search_up_to`` it stays near a millisecond and is exact. Above that, HNSW (M=32)
over 8-bit scalar-quantised vectors (SQ8) answers in under a millisecond at 100k and 1M passages
(docs/decisions, "exact against approximate search"). SQ8 holds a vector in a quarter of the
bytes of float32. Its scores are approximate, but it only proposes candidates: the
retriever scores every candidate again with the exact float32 vectors (``passages.npy``, memory-
mapped), and updates rebuild from those, so the quantisation never accumulates. IVF was faster
still but lost recall (0.92 at 100k).

An approximate index's recall against exact search is measured when it is built, on a sample of
the version's own sentence vectors used as questions (real text, not stored as passages), and
written to the manifest, so an owner can see what the approximation costs on their corpus.
"""

from __future__ import annotations

import time

import faiss
import numpy as np

HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
# The dense search asks for 100 candidates (index.search.candidates.CANDIDATES); efSearch must exceed that.
HNSW_EF_SEARCH = 160
RECALL_SAMPLE = 300


def build_faiss(vectors: np.ndarray, probes: np.ndarray, exact_up_to: int) -> tuple[faiss.Index, dict]:
    """The index for ``vectors`` and what the manifest says of it (``probes``: sample questions):
    exact search up to ``exact_up_to`` passages, HNSW above."""
    limit = exact_up_to
    dim = vectors.shape[1]
    if len(vectors) <= limit:
        index = faiss.IndexFlatIP(dim)
        index.add(vectors)
        return index, {"type": "IndexFlatIP", "metric": "inner_product", "exact": True}
    started = time.perf_counter()
    index = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.train(vectors)  # SQ8: each dimension's range
    index.add(vectors)  # FAISS builds with all cores (OpenMP), then searching uses one
    index.hnsw.efSearch = HNSW_EF_SEARCH
    info = {
        "type": "IndexHNSWSQ",
        "storage": "SQ8",
        "metric": "inner_product",
        "exact": False,
        "M": HNSW_M,
        "efConstruction": HNSW_EF_CONSTRUCTION,
        "efSearch": HNSW_EF_SEARCH,
        "build_s": round(time.perf_counter() - started, 1),
        **recall(index, vectors, probes),
    }
    return index, info


def recall(index: faiss.Index, vectors: np.ndarray, probes: np.ndarray, seed: int = 0) -> dict:
    """recall@10 and @100 of ``index`` against exact search, on up to RECALL_SAMPLE probes."""
    if len(probes) == 0:
        return {}
    rng = np.random.default_rng(seed)
    sample = probes[rng.choice(len(probes), min(RECALL_SAMPLE, len(probes)), replace=False)]
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    out = {"recall_probes": len(sample)}
    for k in (10, 100):
        want = min(k, len(vectors))
        _, truth = exact.search(sample, want)
        _, found = index.search(sample, want)
        hits = sum(len(set(t) & set(f) - {-1}) for t, f in zip(truth.tolist(), found.tolist()))
        out[f"recall@{k}"] = round(hits / (want * len(sample)), 4)
    return out


def configure(index: faiss.Index, info: dict) -> faiss.Index:
    """Search settings that a saved index does not keep."""
    if isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = int(info.get("efSearch", HNSW_EF_SEARCH))
    return index
