"""Writing index versions: a build from scratch or an update of some documents, each a complete
new version beside the old one, made live at once (``index.versions``). Documents whose content
hash is unchanged keep their vectors."""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import faiss
import numpy as np

from corpus.document import Document
from corpus.text import NORMALIZER_VERSION
from index import versions
from index.ann import build_faiss
from index.chunking import ChunkerConfig
from index.doctable import write_documents
from index.embed import (
    DocumentParts,
    checksum_of_hashes,
    corpus_checksum,
    document_hash,
    embed_documents,
    group_parts,
    indexed_text,
)
from index.encoders.base import Embedder, precision_of
from index.keyword import KeywordIndex, Tokenizer
from index.layout import (
    CHUNK_SPANS_FILE,
    CHUNKS_FILE,
    FAISS_FILE,
    KEYWORD_DIR,
    MANIFEST_FILE,
    PASSAGE_VECTORS_FILE,
    SENTENCE_SCALES_FILE,
    SENTENCE_SPANS_FILE,
    SENTENCE_VECTORS_FILE,
    FORMAT,
    IndexLoadError,
    checksums,
    data_files,
    package_version,
    read_manifest,
)
from index.compat import Wanted, mismatch
from index.load import LoadedIndex, load_folder, resolve
from index.qdrant_edge import EdgeLayout, edge_files, layout_mismatch, write_edge
from index.qdrant_points import SearchPart, previous_words
from index.qdrant_server import ServerTarget, move_alias, reconcile, target_mismatch
from index.qdrant_updates import Base, write_build, write_update
from index.ledger import FILES as LEDGER_FILES
from index.ledger import LAYOUT as LEDGER_LAYOUT
from index.ledger import Ledger, is_ledger
from index.sparse import WordIds, passage_words
from index.spans import ChunkSentences, Passage, Sentence, astuple_tail, spans_of
from index.vectors import Int8Rows


@dataclass(frozen=True)
class IndexConfig:
    """How a version is written (built from the settings: ``Settings.index_config``)."""

    chunker: ChunkerConfig
    exact_up_to: int  # exact vector search up to this many passages, HNSW above (index.ann)
    # The backend qdrant-edge: the version's search part also written as Qdrant shards
    # (index.qdrant_edge); None: the embedded files only.
    edge: EdgeLayout | None = None
    # The backend qdrant: the version's search part also published as a collection of a Qdrant
    # server (index.qdrant_server), made live when the version is.
    server: ServerTarget | None = None

    def engine_mismatch(self, manifest: dict) -> str | None:
        """Why a version written with ``manifest`` cannot serve this backend (None: it can; the
        embedded backend serves any version that has its files: all but the qdrant backend's)."""
        if self.server is not None:
            return target_mismatch(manifest, self.server)
        if is_ledger(manifest):
            return "it was written for the qdrant backend: its passages are in a Qdrant collection"
        if self.edge is not None:
            return layout_mismatch(manifest, self.edge)
        return None


def _write_jsonl(path: Path, rows) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def parts_of(index: LoadedIndex) -> dict[str, DocumentParts]:
    """An index taken apart by document, vectors included (to carry unchanged documents over)."""
    vectors = index.passage_vectors
    documents = sorted(index.documents.values(), key=lambda d: d.doc_id)
    return group_parts(documents, index.chunks, vectors, index.sentences, index.sentence_vectors)


def chunker_record(chunker: ChunkerConfig) -> dict:
    """What a manifest records of how its passages were cut: equal records, equal passages."""
    return {**chunker.as_dict(), "normalizer": NORMALIZER_VERSION, "passage_text": "title + passage"}


@dataclass(frozen=True)
class _Assembled:
    """Documents' parts put together as one version's tables (chunk and sentence ids renumbered
    in document id order)."""

    documents: list[Document]
    chunks: list[Passage]
    sentences: list[Sentence]
    vectors: np.ndarray
    sentence_vectors: Int8Rows

    @classmethod
    def of(cls, parts: dict[str, DocumentParts], dim: int) -> _Assembled:
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
        """The chunks' and the sentences' span tables (index.spans)."""
        doc_index = {d.doc_id: i for i, d in enumerate(self.documents)}
        return spans_of(self.chunks, doc_index, with_tokens=True), spans_of(
            self.sentences, doc_index, with_tokens=False
        )

    def passage_texts(self) -> list[str]:
        """What BM25 sees of each passage: its document's title, then its text."""
        titles = {d.doc_id: d.title for d in self.documents}
        return [indexed_text(titles[c.doc_id], c.text) for c in self.chunks]

    def search_part(self, number: int, keyword: KeywordIndex | None) -> SearchPart:
        chunk_spans, sentence_spans = self.spans()
        return SearchPart(
            number,
            self.vectors,
            self.sentence_vectors,
            ChunkSentences(chunk_spans, sentence_spans),
            [d.doc_id for d in self.documents],
            chunk_spans,
            keyword,
            self.documents,
            sentence_spans,
        )


def _write_version(
    folder: Path,
    parts: dict[str, DocumentParts],
    embedder: Embedder,
    config: IndexConfig,
    number: int,
    change: dict,
    base: Path | None = None,
) -> dict:
    """The embedded (and qdrant-edge) backend's version: ``parts`` written whole to ``folder``
    (``base``: the version they were made from, if any)."""
    version = _Assembled.of(parts, embedder.dim)
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
    extra = {}
    if config.edge is not None:
        # The word ids of the version this one is made from (a build: of the live one), kept.
        words = WordIds.load(base) if base is not None else previous_words(folder.parent)
        extra["engine"] = write_edge(folder, version.search_part(number, keyword), config.edge, words)
    corpus = {
        "checksum": corpus_checksum(documents),
        "documents": len(documents),
        "chunks": len(chunks),
        "sentences": len(version.sentences),
        "characters": sum(len(d.text) for d in documents),
    }
    extra["faiss"] = faiss_info
    extra["keyword"] = {"library": "bm25s", "tokenizer": keyword.tokenize.describe()}
    # The shards' files too: every file a version serves is checked (index.qdrant_edge copies them).
    names = [*data_files(folder), *edge_files(folder)]
    return _write_manifest(folder, names, number, change, embedder, config, corpus, extra)


@dataclass(frozen=True)
class _Planned:
    """A version to write: every document's parts (a build, or a version of another layout), or
    for a ledger (the qdrant backend) the new and changed documents' parts and the base's
    documents they end."""

    change: dict
    parts: dict[str, DocumentParts] | None = None
    fresh: dict[str, DocumentParts] | None = None
    base: Base | None = None
    ended: tuple[str, ...] = ()
    whole: bool = False  # a new collection even where the update could go into the live one


def _write_ledger(folder: Path, planned: _Planned, embedder: Embedder, config: IndexConfig, number: int, base) -> dict:
    """The qdrant backend's version: the points into a Qdrant collection, the ledger to ``folder``."""
    tokenize = Tokenizer()
    version = _Assembled.of(planned.fresh if planned.base is not None else planned.parts, embedder.dim)
    part = version.search_part(number, None)
    tokens = passage_words(tokenize, version.passage_texts())
    if planned.base is None:
        # The word ids of the version this one replaces (a build: of the live one), kept.
        words = WordIds.load(base) if base is not None else previous_words(folder.parent)
        engine, ledger = write_build(part, tokens, config.server, words)
    else:
        engine, ledger = write_update(part, tokens, config.server, planned.base, list(planned.ended), planned.whole)
    ledger.save(folder)
    corpus = {"hashes": checksum_of_hashes({d: e.hash for d, e in ledger.entries.items()}), **ledger.totals()}
    extra = {
        "layout": LEDGER_LAYOUT,
        "engine": engine,
        "keyword": {"library": "khamtop (bm25s's lucene formula)", "tokenizer": tokenize.describe()},
    }
    return _write_manifest(folder, list(LEDGER_FILES), number, planned.change, embedder, config, corpus, extra)


def _write_manifest(folder, names, number, change, embedder, config: IndexConfig, corpus: dict, extra: dict) -> dict:
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
        "chunker": chunker_record(config.chunker),
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


def commit(
    home: Path,
    build: Callable[[Path | None], _Planned | None],
    embedder,
    config: IndexConfig,
    served: str | None = None,
    fresh: bool = False,
):
    """Under the write lock: ``build(base)`` plans the new version (None: nothing to do), which
    is then written and made live. ``served`` and ``fresh``: see ``versions.writer``."""
    with versions.writer(Path(home), served, fresh) as w:
        if config.server is not None and w.base is not None:
            reconcile(config.server, read_manifest(w.base))
        planned = build(w.base)
        if planned is None:
            return None
        manifests = []

        def write(folder: Path, number: int) -> None:
            if config.server is None:
                manifests.append(
                    _write_version(folder, planned.parts, embedder, config, number, planned.change, w.base)
                )
            else:
                manifests.append(_write_ledger(folder, planned, embedder, config, number, w.base))

        w.commit(write)
        if config.server is not None:
            # Only now, with the folder committed: a replica that follows the alias never finds a
            # collection whose version the folder does not have.
            move_alias(config.server, manifests[0]["engine"]["collection"], manifests[0])
        return manifests[0]


def build_index(
    documents: Sequence[Document],
    embedder: Embedder,
    config: IndexConfig,
    out_dir: Path,
    progress: bool = False,
    parts: dict[str, DocumentParts] | None = None,
) -> dict:
    """Index ``documents`` from scratch as a new version of the index at ``out_dir``; returns the
    manifest. Readers keep the previous version until this one is complete. ``parts``: the
    documents already embedded, one entry each (a build on a cluster: ``index.ray_build``)."""
    if not documents:
        raise ValueError("no documents to index")
    ids = [d.doc_id for d in documents]
    if len(set(ids)) != len(ids):
        raise ValueError("document ids must be unique")
    if parts is None:
        parts = embed_documents(documents, embedder, config.chunker, progress)
    elif set(parts) != set(ids):
        raise ValueError("the embedded parts are not those of the documents to index")
    return write_parts(out_dir, parts, {"kind": "build", "documents": len(parts)}, embedder, config)


def build_reusing(
    documents: Sequence[Document],
    embedder: Embedder,
    config: IndexConfig,
    home: Path,
    embed: Callable[[list[Document]], dict[str, DocumentParts]],
) -> tuple[dict, list[str], str | None]:
    """With the qdrant backend, ``documents`` as a new version written whole as a new
    collection, where the documents unchanged since the live version keep their vectors (read
    back from its collection) and only the others are embedded, by ``embed`` (a Ray cluster's:
    index.ray_build); returns the manifest, the ids of the documents embedded, and why none
    could be kept, if so (as index.ray_build.reusable_parts: the same model and chunk settings)."""
    if config.server is None:
        raise ValueError("build_reusing writes the qdrant backend's versions")
    ids = [d.doc_id for d in documents]
    if not documents or len(set(ids)) != len(ids):
        raise ValueError("no documents to index" if not documents else "document ids must be unique")
    embedded: list[str] = []
    note: list[str] = []
    change = {"kind": "build", "documents": len(documents)}

    def build(_) -> _Planned:
        try:
            live = versions.current_path(Path(home))
        except versions.VersionError:
            live = None  # a build starts afresh from a home it cannot read
        manifest = read_manifest(live) if live is not None else {}
        reason = (
            "there is no index there yet"
            if live is None
            else "it is not a ledger of the qdrant backend"
            if not is_ledger(manifest)
            else mismatch(manifest, Wanted.of_embedder(embedder))
            or target_mismatch(manifest, config.server)
            or (
                "its passages were cut with other settings"
                if manifest.get("chunker") != chunker_record(config.chunker)
                else None
            )
        )
        if reason is not None:
            note.append(reason)
            embedded.extend(ids)
            return _Planned(change, embed(list(documents)))
        ledger = Ledger.load(live)
        hashes = {d.doc_id: document_hash(d) for d in documents}
        fresh = [
            d for d in documents if d.doc_id not in ledger.entries or ledger.entries[d.doc_id].hash != hashes[d.doc_id]
        ]
        ended = [doc_id for doc_id, e in ledger.entries.items() if hashes.get(doc_id) != e.hash]
        embedded.extend(d.doc_id for d in fresh)
        base = Base(int(manifest["version"]), ledger, manifest["engine"])
        return _Planned(change, fresh=embed(fresh) if fresh else {}, base=base, ended=tuple(ended), whole=True)

    manifest = commit(home, build, embedder, config, fresh=True)
    return manifest, sorted(embedded), (note[0] if note else None)


def write_parts(home: Path, parts: dict[str, DocumentParts], change: dict, embedder, config: IndexConfig) -> dict:
    """Every document's ``parts``, embedded already, as a new version of the index at ``home``
    that replaces what it held (``change``: what its manifest says of it); returns the manifest."""
    return commit(home, lambda base: _Planned(change, parts), embedder, config, fresh=True)


@dataclass(frozen=True)
class RecordedModel:
    """The model an index was built with, as its manifest records it: enough to write a new
    version that only removes documents, without loading the model (it cannot embed)."""

    model_id: str
    dim: int
    query_prompt: str
    passage_prompt: str
    weights: str
    backend: str = "torch"

    @classmethod
    def of(cls, home: Path) -> RecordedModel:
        try:
            model = read_manifest(resolve(home))["model"]
            return cls(
                model["id"],
                model["dim"],
                model["query_prompt"],
                model["passage_prompt"],
                model["fingerprint"],
                model.get("backend", "torch"),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexLoadError(f"cannot read the index at {home}: {exc}") from exc

    def fingerprint(self) -> str:
        return self.weights

    def embed_passages(self, texts):
        raise RuntimeError("a recorded model cannot embed; load the real one")

    embed_queries = embed_passages
    count_tokens = embed_passages


@dataclass
class UpdateResult:
    version: int | None  # the new version, or the unchanged live one
    added: list[str]
    replaced: list[str]
    unchanged: list[str]
    removed: list[str]
    manifest: dict | None  # the new version's, or None when nothing changed

    @property
    def changed(self) -> bool:
        return bool(self.added or self.replaced or self.removed)


class UpdateError(ValueError):
    """An update that cannot be applied (an unknown id to remove, nothing left, another model)."""


def update_index(
    home: Path,
    embedder: Embedder,
    config: IndexConfig,
    upsert: Sequence[Document] = (),
    remove: Sequence[str] = (),
    progress: bool = False,
    served: str | None = None,
    check_base: Callable[[Path], None] | None = None,
) -> UpdateResult:
    """Add or replace ``upsert`` and delete ``remove`` (by id) as one new version, made from the
    live one (``served``: the version a service answers from, used when CURRENT cannot say).
    Documents whose content hash is unchanged keep their vectors; only new or changed ones are
    embedded. ``check_base(folder)``, under the write lock, may refuse the version the update
    would start from by raising (a service: one it cannot serve)."""
    ids = [d.doc_id for d in upsert]
    if len(set(ids)) != len(ids):
        raise UpdateError("document ids must be unique within one update")
    if set(ids) & set(remove):
        raise UpdateError(f"documents both added and removed: {sorted(set(ids) & set(remove))}")
    result = UpdateResult(None, [], [], [], sorted(set(remove)), None)

    def build(base: Path | None) -> _Planned | None:
        if check_base is not None and base is not None:
            check_base(base)
        manifest = read_manifest(base) if base is not None else None
        ledger = Ledger.load(base) if manifest is not None and is_ledger(manifest) else None
        if ledger is not None and config.server is None:
            raise UpdateError(
                f"the live version at {base} was written for the qdrant backend: set KHAMTOP_BACKEND=qdrant "
                "to update it, or build the index again for this backend"
            )
        if ledger is not None:
            reason = mismatch(manifest, Wanted.of_embedder(embedder))
            if reason is not None:  # as load_folder refuses another model's files
                raise IndexLoadError(
                    f"index at {base} cannot be updated: {reason}; rebuild it with `khamtop index build`"
                )
            parts, hashes = None, {doc_id: e.hash for doc_id, e in ledger.entries.items()}
        else:
            current = load_folder(base, embedder) if base is not None else None
            parts = parts_of(current) if current is not None else {}
            hashes = {doc_id: document_hash(p.document) for doc_id, p in parts.items()}
        missing = [doc_id for doc_id in result.removed if doc_id not in hashes]
        if missing:
            raise UpdateError(f"no document with id {missing[0]!r} to remove")
        fresh = []
        for doc in upsert:
            if doc.doc_id not in hashes:
                result.added.append(doc.doc_id)
                fresh.append(doc)
            elif hashes[doc.doc_id] != document_hash(doc):
                result.replaced.append(doc.doc_id)
                fresh.append(doc)
            else:
                result.unchanged.append(doc.doc_id)
        result.version = manifest.get("version") if manifest is not None else None
        if not result.changed:
            return None
        if len(hashes) - len(result.removed) + len(result.added) <= 0:
            raise UpdateError("this would leave the index with no documents; remove fewer")
        embedded = embed_documents(fresh, embedder, config.chunker, progress) if fresh else {}
        change = {
            "kind": "update",
            "parent": result.version,
            **{k: getattr(result, k) for k in ("added", "replaced", "removed")},
        }
        if ledger is not None:
            base_record = Base(int(manifest["version"]), ledger, manifest["engine"])
            return _Planned(change, fresh=embedded, base=base_record, ended=(*result.removed, *result.replaced))
        for doc_id in result.removed:
            del parts[doc_id]
        parts.update(embedded)
        return _Planned(change, parts)

    result.manifest = commit(home, build, embedder, config, served)
    if result.manifest is not None:
        result.version = result.manifest["version"]
    return result
