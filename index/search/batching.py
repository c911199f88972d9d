"""Questions asked at the same time share one encoder call, made on the encoder's own thread.

One encoder call for 8 short questions costs far less than 8 calls (the matrix products get
wider, the fixed cost per call is paid once), so under load the service answers more per second.
There is no timer: a question that finds the encoder idle is encoded at once, alone, so a lone
question never waits. Questions that arrive while the encoder is busy queue up, and the next call
takes all of them (up to ``max_batch``): the batching window is exactly the previous call's
duration, a few milliseconds, and bounded by it.

The encoder runs on a thread of its own, so that a question's keyword search (index.folder.keyword)
runs on the other core while its vector is computed: ``submit`` returns at once, ``result``
waits. The thread is started by the first question and ends after a minute without one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

# An idle encoder thread ends after this long; the next question starts another (cheap).
IDLE_S = 60.0


@dataclass(eq=False)
class Pending:
    """A question on its way through the encoder."""

    text: str
    done: threading.Event = field(default_factory=threading.Event)
    vector: np.ndarray | None = None
    error: BaseException | None = None

    def result(self) -> np.ndarray:
        """The question's vector, shape (1, dim), once encoded; the encoder's error if it failed."""
        self.done.wait()
        if self.error is not None:
            raise self.error
        assert self.vector is not None
        return self.vector[None, :]


class QueryBatcher:
    """Thread-safe: ``submit(text)`` from any number of threads; one encoder call at a time, of at
    most ``max_batch`` questions (the setting ``query_batch_max``)."""

    def __init__(self, encode: Callable[[Sequence[str]], np.ndarray], max_batch: int) -> None:
        self._encode = encode
        self.max_batch = max_batch
        self._ready = threading.Condition()
        self._waiting: list[Pending] = []
        self._worker: threading.Thread | None = None

    def submit(self, text: str) -> Pending:
        """Queue ``text`` for the encoder and return at once."""
        job = Pending(text)
        with self._ready:
            self._waiting.append(job)
            if self._worker is None:
                worker = threading.Thread(target=self._work, name="khamtop-encoder", daemon=True)
                try:
                    worker.start()
                except BaseException:  # no thread (a thread limit): this question fails, later ones retry
                    self._waiting.remove(job)
                    raise
                self._worker = worker
            self._ready.notify()
        return job

    def _work(self) -> None:
        while True:
            with self._ready:
                if not self._waiting and not self._ready.wait_for(lambda: self._waiting, timeout=IDLE_S):
                    self._worker = None  # under the lock: a question that comes now starts another
                    return
                batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
            try:
                vectors = self._encode([j.text for j in batch])
                for j, v in zip(batch, vectors, strict=True):
                    j.vector = v
            except BaseException as exc:  # every question in the batch gets the error, none hangs
                for j in batch:
                    j.error = exc
            for j in batch:
                j.done.set()
