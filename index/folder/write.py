"""Writing a version folder's files (index.folder.layout) from its assembled tables: what every
backend but the qdrant one serves from, and what the qdrant-edge backend adds its shards to."""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import faiss
import numpy as np

from index.build.embed import DocumentParts, corpus_checksum
from index.build.version import Assembled, write_manifest
from index.folder.ann import build_faiss
from index.folder.doctable import write_documents
from index.folder.keyword import KeywordIndex
from index.folder.layout import (
    CHUNK_SPANS_FILE,
    CHUNKS_FILE,
    FAISS_FILE,
    KEYWORD_DIR,
    PASSAGE_VECTORS_FILE,
    SENTENCE_SCALES_FILE,
    SENTENCE_SPANS_FILE,
    SENTENCE_VECTORS_FILE,
    data_files,
)

# What a backend adds to a version folder once its files are written: given the folder, the
# version's tables and its BM25 index, it writes its own files and returns what the manifest
# says of them and their names (relative to the folder, for the checksums).
Extension = Callable[[Path, Assembled, KeywordIndex], tuple[dict, list[str]]]


def _write_jsonl(path: Path, rows) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def write_folder(
    folder: Path,
    parts: dict[str, DocumentParts],
    embedder,
    config,
    number: int,
    change: dict,
    extend: Extension | None = None,
) -> dict:
    """Version ``number`` of ``parts`` written whole to ``folder``; returns its manifest.
    ``config``: index.build.write.IndexConfig; ``extend``: a backend's own files, if any."""
    version = Assembled.of(parts, embedder.dim)
    documents, chunks, vectors, sentence_vectors = (
        version.documents,
        version.chunks,
        version.vectors,
        version.sentence_vectors,
    )
    # The recall check asks a sample of real sentences (not stored as passages); it samples them.
    faiss_index, faiss_info = build_faiss(vectors, sentence_vectors, config.exact_up_to)
    keyword = KeywordIndex.build(version.passage_texts())

    try:
        faiss.write_index(faiss_index, str(folder / FAISS_FILE))
    except RuntimeError as exc:  # FAISS's C++ I/O error: say what it was, as the other files' writes do
        full = shutil.disk_usage(folder).free < 1 << 20
        raise OSError(errno.ENOSPC if full else errno.EIO, f"cannot write {FAISS_FILE}: {exc}") from exc
    _write_jsonl(folder / CHUNKS_FILE, (asdict(c) for c in chunks))
    write_documents(folder, documents)
    chunk_spans, sentence_spans = version.spans()
    np.save(folder / CHUNK_SPANS_FILE, chunk_spans, allow_pickle=False)
    np.save(folder / SENTENCE_SPANS_FILE, sentence_spans, allow_pickle=False)
    np.save(folder / PASSAGE_VECTORS_FILE, vectors, allow_pickle=False)
    np.save(folder / SENTENCE_VECTORS_FILE, sentence_vectors.codes, allow_pickle=False)
    np.save(folder / SENTENCE_SCALES_FILE, sentence_vectors.scales, allow_pickle=False)
    keyword.save(folder / KEYWORD_DIR)
    extra, extra_files = extend(folder, version, keyword) if extend is not None else ({}, [])
    corpus = {
        "checksum": corpus_checksum(documents),
        "documents": len(documents),
        "chunks": len(chunks),
        "sentences": len(version.sentences),
        "characters": sum(len(d.text) for d in documents),
    }
    extra["faiss"] = faiss_info
    extra["keyword"] = {"library": "bm25s", "tokenizer": keyword.tokenize.describe()}
    # Every file a version serves is checked, a backend's own too.
    names = [*data_files(folder), *extra_files]
    return write_manifest(folder, names, number, change, embedder, config.chunker, corpus, extra)
