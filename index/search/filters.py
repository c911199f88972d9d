"""A question's filter (corpus.filters) as the passages of one version that it allows: the
documents' fields read once into arrays, then a mask over the passages (index.backends.base.Engine
takes it)."""

from __future__ import annotations

import threading

import numpy as np

from corpus.filters import Filter, document_day


class Selection:
    """A version's documents' filterable fields as arrays, made at the first filtered question,
    and the passages a filter allows."""

    def __init__(self, documents, chunk_documents: np.ndarray) -> None:
        self._documents, self._chunk_documents = documents, chunk_documents
        self._lock = threading.Lock()
        self._arrays = None

    def _fields(self):
        with self._lock:
            if self._arrays is None:
                rows = self._documents.metadata_rows()
                days = np.array([document_day(m.get("date")) or -1 for m in rows], dtype=np.int64)
                languages = np.array([m.get("language") or "" for m in rows], dtype=object)
                tags: dict[str, np.ndarray] = {}
                for i, m in enumerate(rows):
                    for name, value in m.get("tags") or ():
                        tags.setdefault(name, np.full(len(rows), None, dtype=object))[i] = value
                self._arrays = (days, languages, tags, len(rows))
            return self._arrays

    def allowed(self, chosen: Filter) -> np.ndarray | None:
        """Each passage's place in the filter (True: it may be proposed); None: no filter."""
        if chosen.empty:
            return None
        days, languages, tags, n = self._fields()
        if chosen.nothing:
            return np.zeros(len(self._chunk_documents), dtype=bool)
        keep = np.ones(n, dtype=bool)
        for name, values in chosen.tags:
            column = tags.get(name)
            wanted = set(values)  # a set lookup per document: the values' count costs nothing
            keep &= np.fromiter((v in wanted for v in column), bool, n) if column is not None else False
        if chosen.languages:
            wanted = set(chosen.languages)
            keep &= np.fromiter((v in wanted for v in languages), bool, n)
        if chosen.date_from is not None:
            keep &= days >= chosen.date_from.toordinal()
        if chosen.date_to is not None:
            keep &= (days >= 0) & (days <= chosen.date_to.toordinal())
        return keep[self._chunk_documents]
