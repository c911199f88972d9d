"""Threads that fit two cores: a question's encoder on one, its keyword search on the other.

One question is one vector. FAISS's OpenMP threads and OpenBLAS's threads (numpy's matrix
products over a question's candidate sentences) cannot share such small work, but they do spin
and fight the encoder's threads and the other requests for the cores: on two cores, one thread
each is faster for both (docs/decisions/007-question-threads.md). Concurrent requests are what
use both cores (``KHAMTOP_SEARCH_CONCURRENCY``).

A question's encoder call runs on the encoder's own thread (index/search/batching.py) and on one ONNX
Runtime thread (``KHAMTOP_QUERY_ENCODER_THREADS``): a second thread, which may not spin, only
waits to be woken for a short question, and the other core is busy meanwhile with the
question's keyword search (compiled, without the GIL: index/folder/postings.py).
Passages come in batches of 32 and use every core (``KHAMTOP_ENCODER_THREADS``).
"""

from __future__ import annotations

import threading


_this_thread = threading.local()


def one_thread_per_search() -> None:
    """FAISS and numpy's BLAS on one thread each: call it in every thread that searches.

    OpenMP's thread count is kept per calling thread (a limit set at start-up does not reach
    the request threads), so the retriever calls this at the start of each search; after the
    first call in a thread it costs an attribute lookup. OpenBLAS's limit is process-wide.
    """
    if getattr(_this_thread, "limited", False):
        return
    import faiss
    from threadpoolctl import threadpool_limits

    faiss.omp_set_num_threads(1)
    # Only BLAS: torch's own OpenMP pool is the encoder's and keeps its threads.
    threadpool_limits(limits=1, user_api="blas")
    _this_thread.limited = True
