"""Questions asked at the same time share one encoder call.

One encoder call for 8 short questions costs far less than 8 calls (the matrix products get
wider, the fixed cost per call is paid once), so under load the service answers more per second.
There is no timer: a question that finds the encoder idle is encoded at once, alone, so a lone
question never waits. Questions that arrive while the encoder is busy queue up, and the next call
takes all of them (up to ``max_batch``): the batching window is exactly the previous call's
duration, a few milliseconds, and bounded by it.

The calling threads take turns leading: the one that finds the encoder idle runs a batch; when
it is done, it hands the lead to the oldest waiting question's thread, so no thread works for
others past its own answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(eq=False)
class _Job:
    text: str
    done: threading.Event = field(default_factory=threading.Event)
    vector: np.ndarray | None = None
    error: BaseException | None = None
    lead: bool = False


class QueryBatcher:
    """Thread-safe: ``encode(text)`` from any number of threads, one encoder call at a time."""

    def __init__(self, encode: Callable[[Sequence[str]], np.ndarray], max_batch: int = 16) -> None:
        self._encode = encode
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._waiting: list[_Job] = []
        self._busy = False

    def encode(self, text: str) -> np.ndarray:
        """The vector for one text, shape (1, dim)."""
        job = _Job(text)
        with self._lock:
            self._waiting.append(job)
            if not self._busy:
                self._busy = job.lead = True
        if not job.lead:
            job.done.wait()
        if job.lead:  # the encoder was idle, or a finished leader handed over
            self._run_batch()
        if job.error is not None:
            raise job.error
        assert job.vector is not None
        return job.vector[None, :]

    def _run_batch(self) -> None:
        with self._lock:
            batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
        try:
            vectors = self._encode([j.text for j in batch])
            for j, v in zip(batch, vectors, strict=True):
                j.vector = v
        except BaseException as exc:  # every question in the batch gets the error, none hangs
            for j in batch:
                j.error = exc
        with self._lock:
            successor = self._waiting[0] if self._waiting else None
            if successor is None:
                self._busy = False
            else:
                successor.lead = True
        for j in batch:
            j.lead = False
            j.done.set()
        if successor is not None:
            successor.done.set()
