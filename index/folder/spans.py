"""Passages and sentences as spans into their documents' stored text.

A ``Passage`` (what the chunker cut, as stored) and a ``Sentence`` are rows of a ``SpanTable``:
made when one is asked for, so loading a large index reads a few arrays instead of seconds of
JSON, and a passage's text is kept once, in its document."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Passage:
    id: int
    doc_id: str
    char_start: int
    char_end: int
    n_tokens: int
    text: str


@dataclass(frozen=True)
class Sentence:
    id: int
    doc_id: str
    char_start: int
    char_end: int


class SpanTable(Sequence):
    """Passages or sentences as rows of spans into their documents: a ``Passage`` or ``Sentence``
    is made when one is asked for."""

    def __init__(
        self, spans: np.ndarray, doc_ids: list[str], text_of: Callable[[int, int, int], str] | None = None
    ) -> None:
        self.spans = spans  # (n, 3 or 4) ints: document index, char_start, char_end[, n_tokens]
        self._doc_ids = doc_ids
        self._text_of = text_of  # given for chunks, whose rows carry their text: (document, start, end)

    def __len__(self) -> int:
        return len(self.spans)

    def _row(self, i: int, row: list[int]):
        d, start, end, *rest = row
        if self._text_of is None:
            return Sentence(i, self._doc_ids[d], start, end)
        return Passage(i, self._doc_ids[d], start, end, rest[0], self._text_of(d, start, end))

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        return self._row(i, self.spans[i].tolist())

    def __iter__(self):
        for i, row in enumerate(self.spans.tolist()):
            yield self._row(i, row)

    def texts(self, ids: Sequence[int]) -> list[str]:
        """The texts of chunks ``ids``, without making their ``Passage``s (a question's
        duplicate check reads a few hundred)."""
        if self._text_of is None:
            raise TypeError("these rows have no text of their own")
        rows = self.spans[np.asarray(ids, dtype=np.int64), :3].tolist() if len(ids) else []
        return [self._text_of(d, start, end) for d, start, end in rows]


def spans_of(rows: Sequence, doc_index: dict[str, int], with_tokens: bool) -> np.ndarray:
    """The span rows of chunks (``with_tokens``) or sentences, for ``SpanTable``."""
    if with_tokens:
        table = [(doc_index[r.doc_id], r.char_start, r.char_end, r.n_tokens) for r in rows]
    else:
        table = [(doc_index[r.doc_id], r.char_start, r.char_end) for r in rows]
    spans = np.array(table, dtype=np.int64).reshape(len(rows), 4 if with_tokens else 3)
    # int32 where the values fit (any document under 2**31 characters): half the memory, 75 MB
    # less for the sentences at 1M passages.
    return spans.astype(np.int32) if spans.size == 0 or spans.max() < 2**31 else spans


class ChunkSentences:
    """For each chunk, the ids of the sentences that overlap it: a range, as sentences are
    stored in document order and do not overlap each other."""

    def __init__(self, chunk_spans: np.ndarray, sentence_spans: np.ndarray) -> None:
        # One sorted key per position: the document in the high bits, the character in the low.
        def key(doc, char):
            return (doc.astype(np.int64) << 32) | char.astype(np.int64)

        ends = key(sentence_spans[:, 0], sentence_spans[:, 2])
        starts = key(sentence_spans[:, 0], sentence_spans[:, 1])
        # The first sentence that ends after the chunk starts, up to the first that starts at
        # or after the chunk's end (both within the chunk's document, by the keys).
        self.first = np.searchsorted(ends, key(chunk_spans[:, 0], chunk_spans[:, 1]), side="right")
        self.last = np.searchsorted(starts, key(chunk_spans[:, 0], chunk_spans[:, 2]), side="left")

    def __len__(self) -> int:
        return len(self.first)

    def __getitem__(self, chunk_id: int) -> range:
        return range(int(self.first[chunk_id]), max(int(self.first[chunk_id]), int(self.last[chunk_id])))


def astuple_tail(row) -> tuple:
    """A stored chunk's or sentence's fields after its id."""
    values = tuple(getattr(row, f) for f in row.__dataclass_fields__)
    return values[1:]
