"""Loading an index version: its files checked against the manifest's checksums, the model it
was built with checked (``index.store.compat``), its spans checked against its documents."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from index.store import versions
from index.folder.ann import configure
from index.store.atomic import recover_moved_aside
from index.store.compat import Wanted, mismatch
from index.folder.doctable import DocumentTable
from index.folder.engine import FolderEngine
from index.encoders.base import Embedder
from index.folder.keyword import KeywordIndex
from index.store.manifest import IndexLoadError, checksums, layout_owner, read_manifest
from index.folder.layout import (
    CHUNK_SPANS_FILE,
    DATA_FILES,
    FAISS_FILE,
    KEYWORD_DIR,
    PASSAGE_VECTORS_FILE,
    SENTENCE_SCALES_FILE,
    SENTENCE_SPANS_FILE,
    SENTENCE_VECTORS_FILE,
)
from index.folder.spans import ChunkSentences, SpanTable
from index.folder.vectors import Int8Rows, map_npy


@dataclass
class LoadedIndex:
    path: Path
    manifest: dict
    faiss_index: faiss.Index  # proposes candidates (approximate above the exact-search size)
    # The passages' exact float32 vectors (memory-mapped), row i for chunk i: candidates are
    # scored with these, and updates carry them over.
    passage_vectors: np.ndarray
    chunks: SpanTable  # of Passage
    documents: DocumentTable  # doc_id -> Document
    keyword: KeywordIndex
    sentences: SpanTable  # of Sentence
    sentence_vectors: Int8Rows | np.ndarray  # rows read as float32
    # For each chunk, the ids of the sentences that overlap it (in document order).
    chunk_sentences: ChunkSentences

    @property
    def version(self) -> int:
        return int(self.manifest.get("version", 0))

    def engine(self) -> FolderEngine:
        """FAISS, BM25 and the stored vectors of this folder (the embedded backend's engine)."""
        return FolderEngine(self)


def resolve(home: Path) -> Path:
    """The folder of the live version of the index at ``home`` (``home`` itself when it has no
    versions, which loading then refuses: there is no manifest there)."""
    home = Path(home)
    recover_moved_aside(home, versions.CURRENT_FILE)
    try:
        return versions.current_path(home) or home
    except versions.VersionError as exc:
        raise IndexLoadError(f"index at {home} is damaged: {exc}") from exc


def index_exists(home: Path) -> bool:
    return (Path(home) / versions.CURRENT_FILE).is_file()


def stale_reason(home: Path, wanted: Wanted) -> str | None:
    """Why the index at ``home`` must be rebuilt for ``wanted`` (None: it need not be). Cheap: the
    manifest only; the weights' fingerprint and the files' checksums are checked at load."""
    try:
        manifest = read_manifest(resolve(home))
    except IndexLoadError as exc:
        return "there is none" if not index_exists(home) else str(exc)
    return mismatch(manifest, wanted)


def load_index(home: Path, embedder: Embedder | None = None) -> LoadedIndex:
    """Load and verify the live version of an index; with ``embedder``, also check it was built
    with that model."""
    return load_folder(resolve(home), embedder)


def load_folder(path: Path, embedder: Embedder | None = None) -> LoadedIndex:
    """Load and verify the index version in ``path`` (see ``load_index``)."""
    path = Path(path)
    manifest = read_manifest(path)
    engine = layout_owner(manifest)
    if engine is not None:
        raise IndexLoadError(
            f"index at {path} was written for the {engine} backend (its engine holds the passages): "
            f"serve it with KHAMTOP_BACKEND={engine}, or build it again for this backend"
        )
    files, model = manifest.get("files"), manifest.get("model")
    if not isinstance(files, dict) or not isinstance(model, dict):
        raise IndexLoadError(f"index at {path} has a damaged manifest: no files or model")
    reason = mismatch(manifest, Wanted.of_embedder(embedder) if embedder is not None else None)
    if reason is not None:
        raise IndexLoadError(f"index at {path} cannot be served: {reason}; rebuild it with `khamtop index build`")
    # The files of a backend's own subfolder (the qdrant-edge shards) are checked by its engine as
    # it opens them: read once, and only where they are served.
    own = {name for name in files if "/" not in name or name.startswith(KEYWORD_DIR + "/")}
    names = sorted(set(DATA_FILES) | own)
    missing = next((name for name in names if not (path / name).is_file()), None)
    if missing:
        raise IndexLoadError(f"index at {path} is damaged: {missing} is missing")
    for name, digest in zip(names, checksums(path, names)):
        if digest != files.get(name):
            raise IndexLoadError(
                f"index at {path} is damaged: {name} does not match its checksum in the manifest; "
                "rebuild it with `khamtop index build`"
            )
    try:
        faiss_index = configure(faiss.read_index(str(path / FAISS_FILE)), manifest.get("faiss", {}))
        documents = DocumentTable.load(path)
        chunk_spans = np.load(path / CHUNK_SPANS_FILE, allow_pickle=False)
        sentence_spans = np.load(path / SENTENCE_SPANS_FILE, allow_pickle=False)
        _check_spans(chunk_spans, 4, documents.lengths)
        _check_spans(sentence_spans, 3, documents.lengths)
        chunks = SpanTable(chunk_spans, documents.doc_ids, documents.span)
        sentences = SpanTable(sentence_spans, documents.doc_ids)
        keyword = KeywordIndex.load(path / KEYWORD_DIR)
        passage_vectors = map_npy(path / PASSAGE_VECTORS_FILE)
        # The scales are read in (24 MB at 1M passages): mapped, each question would touch
        # hundreds of their pages at random on top of the vectors' own.
        scales = np.load(path / SENTENCE_SCALES_FILE, allow_pickle=False)
        sentence_vectors = Int8Rows(map_npy(path / SENTENCE_VECTORS_FILE), scales)
    except (RuntimeError, ValueError, KeyError, TypeError, OSError) as exc:
        raise IndexLoadError(f"index at {path} is damaged: {exc}") from exc
    dims = (len(chunks), faiss_index.d)
    if faiss_index.ntotal != len(chunks) or passage_vectors.shape != dims or faiss_index.d != model.get("dim"):
        raise IndexLoadError(
            f"index at {path} is inconsistent: {faiss_index.ntotal} vectors of dimension "
            f"{faiss_index.d} and passage vectors of shape {passage_vectors.shape} for {len(chunks)} chunks "
            f"of dimension {model.get('dim')}"
        )
    if sentence_vectors.shape != (len(sentences), faiss_index.d):
        raise IndexLoadError(
            f"index at {path} is inconsistent: sentence vectors of shape {sentence_vectors.shape} "
            f"for {len(sentences)} sentences"
        )
    return LoadedIndex(
        path,
        manifest,
        faiss_index,
        passage_vectors,
        chunks,
        documents,
        keyword,
        sentences,
        sentence_vectors,
        ChunkSentences(chunk_spans, sentence_spans),
    )


def _check_spans(spans: np.ndarray, width: int, lengths: np.ndarray) -> None:
    """Spans that point outside their documents would give wrong citations: refuse them."""
    if spans.ndim != 2 or spans.shape[1] != width or spans.dtype.kind != "i":
        raise ValueError(f"span array of shape {spans.shape} and type {spans.dtype}")
    if len(spans) == 0:
        return
    docs = spans[:, 0]
    if docs.min() < 0 or docs.max() >= len(lengths):
        raise ValueError("a span names a document that is not there")
    if (spans[:, 1] < 0).any() or (spans[:, 1] > spans[:, 2]).any() or (spans[:, 2] > lengths[docs]).any():
        raise ValueError("a span lies outside its document's text")
