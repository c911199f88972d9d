"""The index's documents: metadata in memory, texts memory-mapped as code points.

At a million passages the stored texts are hundreds of millions of characters: gigabytes as
Python strings held by the service, and a JSON file of that size to parse at every start
(docs/decisions/013-memory-at-1m-passages.md). Here each text is stored once
as UTF-32 code points (``texts.npy``, uint32) with each document's start (``text_offsets.npy``),
and only the metadata is read into memory (``documents.jsonl``, without the texts). A text, or a
span of it, is decoded when asked for: a passage in about a microsecond, a whole document of
10,000 characters in about ten. Code points, not UTF-8 or UTF-16, so that a character offset is
an array index: citations stay exact for any character, emoji included.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from corpus.document import Document
from index.folder.vectors import map_npy

METADATA_FILE = "documents.jsonl"
TEXTS_FILE = "texts.npy"
OFFSETS_FILE = "text_offsets.npy"


def write_documents(folder: Path, documents: Sequence[Document]) -> None:
    """The three files for ``documents`` (in the order given: row i is document i). Not flushed
    to disk here: the version writer (index.store.versions) syncs every file before it commits."""
    with (folder / METADATA_FILE).open("w", encoding="utf-8") as f:
        for d in documents:
            f.write(json.dumps({k: v for k, v in asdict(d).items() if k != "text"}, ensure_ascii=False) + "\n")
    lengths = np.array([len(d.text) for d in documents], dtype=np.int64)
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    codes = np.empty(int(offsets[-1]), dtype=np.uint32)
    for d, start, end in zip(documents, offsets[:-1], offsets[1:]):
        codes[start:end] = np.frombuffer(d.text.encode("utf-32-le"), dtype=np.uint32)
    np.save(folder / TEXTS_FILE, codes, allow_pickle=False)
    np.save(folder / OFFSETS_FILE, offsets, allow_pickle=False)


class DocumentTable(Mapping):
    """doc_id -> ``Document``, with the text decoded from the mapped file on each lookup."""

    def __init__(self, metadata: list[dict], codes: np.ndarray, offsets: np.ndarray) -> None:
        if offsets.shape != (len(metadata) + 1,) or (len(metadata) and offsets[-1] != len(codes)):
            raise ValueError(f"{len(metadata)} documents with {offsets.shape} text offsets")
        if (np.diff(offsets) < 0).any():
            raise ValueError("text offsets go backwards")
        self._metadata = metadata
        self.doc_ids = [m["doc_id"] for m in metadata]
        self._row = {doc_id: i for i, doc_id in enumerate(self.doc_ids)}
        self._codes, self._offsets = codes, offsets
        self.lengths = np.diff(offsets)
        # The same as Python ints: a question's candidates look up a few hundred spans, and a
        # numpy scalar's conversion costs more than the lookup (61k documents at 1M passages).
        self._starts, self._lengths = offsets[:-1].tolist(), self.lengths.tolist()

    @classmethod
    def load(cls, folder: Path) -> DocumentTable:
        # Lines end at "\n" only: json.dumps leaves U+2028, U+2029 and U+0085 unescaped in
        # strings (ensure_ascii=False), and text-mode line splitting would break there.
        with (folder / METADATA_FILE).open("rb") as f:
            metadata = [json.loads(line) for line in f if line.strip()]
        offsets = np.load(folder / OFFSETS_FILE, allow_pickle=False)
        return cls(metadata, map_npy(folder / TEXTS_FILE), offsets)

    def __len__(self) -> int:
        return len(self.doc_ids)

    def __iter__(self) -> Iterator[str]:
        return iter(self.doc_ids)

    def __contains__(self, doc_id) -> bool:
        return doc_id in self._row

    def __getitem__(self, doc_id: str) -> Document:
        row = self._row[doc_id]
        return Document(**{**self._metadata[row], "text": self.span(row, 0, int(self.lengths[row]))})

    def span(self, row: int, start: int, end: int) -> str:
        """Characters ``start:end`` of document ``row`` (its place in the table)."""
        base = self._starts[row]
        start, end = max(start, 0), min(end, self._lengths[row])  # never into a neighbour's text
        return self._codes[base + start : base + end].tobytes().decode("utf-32-le") if end > start else ""

    def metadata_rows(self) -> list[dict]:
        """Every document's metadata (no text), in the table's order."""
        return self._metadata

    def text_span(self, doc_id: str, start: int, end: int) -> str:
        return self.span(self._row[doc_id], start, end)
