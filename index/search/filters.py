"""A question's filter (corpus.filters) as the passages of one version that it allows: the
documents' fields read once into arrays, then a mask over the passages (index.backends.base.Engine
takes it)."""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from corpus.filters import Filter, document_day


KEPT_MASKS = 32  # the latest filters' masks: a byte a passage each (1 MB at 1M passages)


class Selection:
    """A version's documents' filterable fields as arrays, made at the first filtered question,
    and the passages a filter allows."""

    def __init__(self, documents, chunk_documents: np.ndarray) -> None:
        self._documents, self._chunk_documents = documents, chunk_documents
        self._lock = threading.Lock()
        self._arrays = None
        # A scoped key's filter is the same for every question it asks: its mask is kept.
        self._masks: OrderedDict[Filter, np.ndarray] = OrderedDict()

    def _fields(self):
        """Each field as a column over the documents: days, and for languages and each tag a code
        per document (-1: none) with the codes of its values, so that a question's filter is a few
        vectorised comparisons, not a loop over the documents."""
        with self._lock:
            if self._arrays is None:
                rows = self._documents.metadata_rows()
                days = np.array([document_day(m.get("date")) or -1 for m in rows], dtype=np.int64)
                languages = _coded([m.get("language") or "" for m in rows])
                values: dict[str, list] = {}
                for i, m in enumerate(rows):
                    for name, value in m.get("tags") or ():
                        values.setdefault(name, [None] * len(rows))[i] = value
                tags = {name: _coded(column) for name, column in values.items()}
                self._arrays = (days, languages, tags, len(rows))
            return self._arrays

    def allowed(self, chosen: Filter) -> np.ndarray | None:
        """Each passage's place in the filter (True: it may be proposed; read-only, shared by the
        questions that ask with the same filter); None: no filter."""
        if chosen.empty:
            return None
        with self._lock:
            kept = self._masks.get(chosen)
            if kept is not None:
                self._masks.move_to_end(chosen)
                return kept
        mask = self._mask(chosen)
        mask.flags.writeable = False
        with self._lock:
            self._masks[chosen] = mask
            while len(self._masks) > KEPT_MASKS:
                self._masks.popitem(last=False)
        return mask

    def _mask(self, chosen: Filter) -> np.ndarray:
        days, languages, tags, n = self._fields()
        if chosen.nothing:
            return np.zeros(len(self._chunk_documents), dtype=bool)
        keep = np.ones(n, dtype=bool)
        for name, values in chosen.tags:
            keep &= tags[name].matches(values) if name in tags else False
        if chosen.languages:
            keep &= languages.matches(chosen.languages)
        if chosen.date_from is not None:
            keep &= days >= chosen.date_from.toordinal()
        if chosen.date_to is not None:
            keep &= (days >= 0) & (days <= chosen.date_to.toordinal())
        return keep[self._chunk_documents]


class _Coded:
    """A column of values as a code per row (-1: no value) and each value's code."""

    def __init__(self, codes: np.ndarray, index: dict[str, int]) -> None:
        self.codes, self.index = codes, index

    def matches(self, values) -> np.ndarray:
        wanted = [self.index[v] for v in values if v in self.index]
        return np.isin(self.codes, wanted) if wanted else np.zeros(len(self.codes), dtype=bool)


def _coded(column: list) -> _Coded:
    index: dict[str, int] = {}
    codes = np.fromiter(
        (-1 if v is None else index.setdefault(v, len(index)) for v in column), dtype=np.int32, count=len(column)
    )
    return _Coded(codes, index)
