"""A version's contents, whatever its backend writes them to: documents' parts put together as
one version's tables, its manifest, and the live version's parts that a write carries over."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from corpus.document import Document
from corpus.text import NORMALIZER_VERSION
from index.backends.base import Planned
from index.build.chunking import ChunkerConfig
from index.build.embed import DocumentParts, document_hash, group_parts, indexed_text
from index.encoders.base import precision_of
from index.folder.load import LoadedIndex, load_folder
from index.folder.spans import Passage, Sentence, astuple_tail, spans_of
from index.folder.vectors import Int8Rows
from index.store.manifest import FORMAT, MANIFEST_FILE, checksums, layout_owner, package_version, read_manifest


class UpdateError(ValueError):
    """An update that cannot be applied (an unknown id to remove, nothing left, another model)."""


def chunker_record(chunker: ChunkerConfig) -> dict:
    """What a manifest records of how its passages were cut: equal records, equal passages."""
    return {**chunker.as_dict(), "normalizer": NORMALIZER_VERSION, "passage_text": "title + passage"}


def parts_of(index: LoadedIndex) -> dict[str, DocumentParts]:
    """An index taken apart by document, vectors included (to carry unchanged documents over)."""
    vectors = index.passage_vectors
    documents = sorted(index.documents.values(), key=lambda d: d.doc_id)
    return group_parts(documents, index.chunks, vectors, index.sentences, index.sentence_vectors)


@dataclass(frozen=True)
class Assembled:
    """Documents' parts put together as one version's tables (chunk and sentence ids renumbered
    in document id order)."""

    documents: list[Document]
    chunks: list[Passage]
    sentences: list[Sentence]
    vectors: np.ndarray
    sentence_vectors: Int8Rows

    @classmethod
    def of(cls, parts: dict[str, DocumentParts], dim: int) -> Assembled:
        documents, chunks, sentences, vectors, codes, scales = [], [], [], [], [], []
        for doc_id in sorted(parts):
            p = parts[doc_id]
            documents.append(p.document)
            chunks += [Passage(len(chunks) + i, *astuple_tail(c)) for i, c in enumerate(p.chunks)]
            sentences += [Sentence(len(sentences) + i, *astuple_tail(s)) for i, s in enumerate(p.sentences)]
            vectors.append(p.vectors)
            rows = p.sentence_vectors if isinstance(p.sentence_vectors, Int8Rows) else Int8Rows.of(p.sentence_vectors)
            codes.append(rows.codes)
            scales.append(rows.scales)
        return cls(
            documents,
            chunks,
            sentences,
            np.ascontiguousarray(np.concatenate(vectors) if vectors else np.zeros((0, dim)), dtype=np.float32),
            Int8Rows(
                np.concatenate(codes) if codes else np.zeros((0, dim), np.int8),
                np.concatenate(scales) if scales else np.zeros(0, np.float32),
            ),
        )

    def spans(self) -> tuple[np.ndarray, np.ndarray]:
        """The chunks' and the sentences' span tables (index.folder.spans)."""
        doc_index = {d.doc_id: i for i, d in enumerate(self.documents)}
        return spans_of(self.chunks, doc_index, with_tokens=True), spans_of(
            self.sentences, doc_index, with_tokens=False
        )

    def passage_texts(self) -> list[str]:
        """What BM25 sees of each passage: its document's title, then its text."""
        titles = {d.doc_id: d.title for d in self.documents}
        return [indexed_text(titles[c.doc_id], c.text) for c in self.chunks]


def write_manifest(
    folder: Path, names, number: int, change: dict, embedder, chunker, corpus: dict, extra: dict
) -> dict:
    """The version's manifest: what it was written with, and the checksums of ``names`` (every
    file it serves, relative to ``folder``)."""
    manifest = {
        "format": FORMAT,
        "version": number,
        "change": change,
        "package_version": package_version(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": {
            "id": embedder.model_id,
            "fingerprint": embedder.fingerprint(),
            "dim": embedder.dim,
            "query_prompt": embedder.query_prompt,
            "passage_prompt": embedder.passage_prompt,
            "backend": embedder.backend,
            "precision": precision_of(embedder.backend),
        },
        "chunker": chunker_record(chunker),
        "corpus": corpus,
        **extra,
        "files": dict(zip(names, checksums(folder, names))),
    }
    with (folder / MANIFEST_FILE).open("w", encoding="utf-8") as f:
        json.dump(manifest, f, ensure_ascii=False, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    return manifest


@dataclass(frozen=True)
class FolderCurrent:
    """The live version as a version folder holds it: every document's parts, which a new
    version carries over whole (the embedded and qdrant-edge backends)."""

    version: int
    parts: dict[str, DocumentParts]

    @cached_property
    def hashes(self) -> dict[str, str]:
        return {doc_id: document_hash(p.document) for doc_id, p in self.parts.items()}

    @classmethod
    def load(cls, base: Path, embedder) -> FolderCurrent:
        """The version folder at ``base``, checked as for serving; raises IndexLoadError, or
        UpdateError when its passages are not in its folder (another backend's)."""
        engine = layout_owner(read_manifest(base))
        if engine is not None:
            raise UpdateError(
                f"the live version at {base} was written for the {engine} backend: set KHAMTOP_BACKEND={engine} "
                "to update it, or build the index again for this backend"
            )
        index = load_folder(base, embedder)
        return cls(index.version, parts_of(index))

    def plan(self, change: dict, fresh: dict[str, DocumentParts], ended: list[str], whole: bool = False) -> Planned:
        gone = set(ended)
        parts = {doc_id: p for doc_id, p in self.parts.items() if doc_id not in gone}
        parts.update(fresh)
        return Planned(change, parts)
