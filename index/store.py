"""The index on disk: a folder of plain files, written all-or-nothing and verified at load.

    index.faiss      FAISS inner-product index over L2-normalised vectors (cosine similarity):
                     proposes candidates (index.ann)
    passages.npy     the passages' L2-normalised vectors, float32, row i for chunk i: the exact
                     scores, and what updates carry over
    chunk_spans.npy  the chunks, one row each: document (its line in documents.jsonl),
                     char_start, char_end, n_tokens; a chunk's text is its document's text there
    sentence_spans.npy  the sentences (for answer highlights), one row each: document,
                     char_start, char_end, in document order
    sentences.npy, sentence_scales.npy  the sentences' vectors, int8 with a scale per row
                     (index.vectors)
    chunks.jsonl     the chunks again, readable: id, doc_id, char_start, char_end, n_tokens, text
                     (for people and tools; the service reads the spans, which load ~10x faster)
    keyword/         BM25 over the chunks' Thai and English words (bm25s's plain-file format)
    documents.jsonl  one document per line: its metadata (id, title, source, date, language)
    texts.npy, text_offsets.npy  the stored (normalised) texts as code points, and where each
                     document's starts (index.doctable)
    manifest.json    model id and weight fingerprint, dimension, prompts, chunker settings,
                     corpus checksum, file checksums, package version, creation time

A build writes a hidden temporary folder beside the target and renames it into place
(``index.atomic``), so a crash at any moment leaves the previous index loadable.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import faiss
import numpy as np

from corpus.reader import Document
from index import versions
from index.ann import build_faiss, configure
from index.atomic import recover_moved_aside, staged_dir
from index.chunking import ChunkerConfig, chunk_text, split_sentences
from index.doctable import METADATA_FILE, OFFSETS_FILE, TEXTS_FILE, DocumentTable, write_documents
from index.embedding import Embedder
from index.keyword import KEYWORD_DIR, KeywordIndex
from index.text import NORMALIZER_VERSION
from index.vectors import Int8Rows, map_npy

# 2: keyword (BM25) index added; 3: sentence spans and vectors; 4: passages indexed with their title;
# 5: versions (index.versions), the manifest names its version and the change that made it;
# 6: chunks and sentences loaded from span arrays (a 100k-passage index loads in half the time);
# 7: passage vectors in their own file (float32, memory-mapped), sentence vectors in int8 with a
# scale per row, HNSW over SQ8 above the exact-search size, texts as mapped code points apart
# from the documents' metadata (index.vectors, index.ann, index.doctable): memory at 1M passages
FORMAT = "khamtop-index/7"
FAISS_FILE = "index.faiss"
CHUNKS_FILE = "chunks.jsonl"
CHUNK_SPANS_FILE = "chunk_spans.npy"
DOCUMENTS_FILE = METADATA_FILE
SENTENCE_SPANS_FILE = "sentence_spans.npy"
PASSAGE_VECTORS_FILE = "passages.npy"
SENTENCE_VECTORS_FILE = "sentences.npy"
SENTENCE_SCALES_FILE = "sentence_scales.npy"
MANIFEST_FILE = "manifest.json"
DATA_FILES = (
    FAISS_FILE,
    CHUNKS_FILE,
    CHUNK_SPANS_FILE,
    DOCUMENTS_FILE,
    SENTENCE_SPANS_FILE,
    PASSAGE_VECTORS_FILE,
    SENTENCE_VECTORS_FILE,
    SENTENCE_SCALES_FILE,
    TEXTS_FILE,
    OFFSETS_FILE,
)


class IndexLoadError(RuntimeError):
    """The index folder is missing, damaged, or was built with another model."""


@dataclass(frozen=True)
class StoredChunk:
    id: int
    doc_id: str
    char_start: int
    char_end: int
    n_tokens: int
    text: str


@dataclass(frozen=True)
class StoredSentence:
    id: int
    doc_id: str
    char_start: int
    char_end: int


class SpanTable(Sequence):
    """Chunks or sentences as rows of spans into their documents: a ``StoredChunk`` or
    ``StoredSentence`` is made when one is asked for. Loading 100k chunks and 600k sentences
    this way takes a few milliseconds instead of seconds of JSON, and the chunks' text is kept
    once, in the documents."""

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
            return StoredSentence(i, self._doc_ids[d], start, end)
        return StoredChunk(i, self._doc_ids[d], start, end, rest[0], self._text_of(d, start, end))

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
        """The texts of chunks ``ids``, without making their ``StoredChunk``s (a question's
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


@dataclass
class LoadedIndex:
    path: Path
    manifest: dict
    faiss_index: faiss.Index  # proposes candidates (approximate above the exact-search size)
    # The passages' exact float32 vectors (memory-mapped), row i for chunk i: candidates are
    # scored with these, and updates carry them over.
    passage_vectors: np.ndarray
    chunks: SpanTable  # of StoredChunk
    documents: DocumentTable  # doc_id -> Document
    keyword: KeywordIndex
    sentences: SpanTable  # of StoredSentence
    sentence_vectors: Int8Rows | np.ndarray  # rows read as float32
    # For each chunk, the ids of the sentences that overlap it (in document order).
    chunk_sentences: ChunkSentences

    @property
    def version(self) -> int:
        return int(self.manifest.get("version", 0))


def package_version() -> str:
    try:
        return version("khamtop")
    except PackageNotFoundError:  # running from a source tree without installing
        return "0+source"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _sha256_all(folder: Path, names: list[str]) -> list[str]:
    """The files' checksums, two at a time: hashlib lets go of the GIL while it hashes, and at 1M
    passages the files are about 10 GB (about 5 s on one core, 3 on two)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda name: _sha256(folder / name), names))


def corpus_checksum(documents: Sequence[Document]) -> str:
    h = hashlib.sha256()
    for doc in sorted(documents, key=lambda d: d.doc_id):
        h.update(json.dumps(asdict(doc), ensure_ascii=False, sort_keys=True).encode())
        h.update(b"\n")
    return h.hexdigest()


def _write_jsonl(path: Path, rows) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def chunk_documents(
    documents: Sequence[Document],
    embedder: Embedder,
    config: ChunkerConfig,
    on_document: Callable[[], None] | None = None,
    sentences: dict[str, list[tuple[int, int]]] | None = None,
) -> list[StoredChunk]:
    """Every document's chunks; ``sentences``: each document's sentence spans, if already split."""
    chunks: list[StoredChunk] = []
    for doc in documents:
        spans = sentences.get(doc.doc_id) if sentences else None
        for c in chunk_text(doc.text, embedder.count_tokens, config, spans):
            chunks.append(
                StoredChunk(
                    id=len(chunks),
                    doc_id=doc.doc_id,
                    char_start=c.char_start,
                    char_end=c.char_end,
                    n_tokens=c.n_tokens,
                    text=doc.text[c.char_start : c.char_end],
                )
            )
        if on_document:
            on_document()
    return chunks


def indexed_text(title: str, passage: str) -> str:
    """What the encoder and BM25 see for a passage: its document's title, then the passage."""
    return f"{title}\n{passage}" if title else passage


def split_documents(
    documents: Sequence[Document], spans: dict[str, list[tuple[int, int]]] | None = None
) -> list[StoredSentence]:
    """Every sentence of every document, with offsets into the stored text (``spans``: each
    document's sentence spans, if already split)."""
    sentences: list[StoredSentence] = []
    for doc in documents:
        for start, end in spans[doc.doc_id] if spans else split_sentences(doc.text):
            sentences.append(StoredSentence(len(sentences), doc.doc_id, start, end))
    return sentences


def _embed_all(embedder: Embedder, texts: list[str], desc: str, progress: bool) -> np.ndarray:
    from tqdm import tqdm

    # Each distinct text once (a heading or a standard sentence repeated across documents is
    # encoded one time), in order of length, which keeps padding (wasted work) in each batch small.
    distinct = list(dict.fromkeys(texts))
    order = sorted(range(len(distinct)), key=lambda i: len(distinct[i]))
    found = np.empty((len(distinct), embedder.dim), dtype=np.float32)
    batch = 256
    with tqdm(total=len(distinct), desc=desc, unit=desc.split()[-1], disable=not progress) as bar:
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            found[idx] = embedder.embed_passages([distinct[i] for i in idx])
            bar.update(len(idx))
    row = {text: i for i, text in enumerate(distinct)}
    return found[[row[t] for t in texts]] if texts else found


@dataclass
class DocumentParts:
    """One document's share of an index: its passages and sentences with their vectors."""

    document: Document
    chunks: list[StoredChunk]  # ids are renumbered when the index is assembled
    vectors: np.ndarray
    sentences: list[StoredSentence]
    sentence_vectors: np.ndarray | Int8Rows


def document_hash(doc: Document) -> str:
    """What decides whether a document must be indexed again: its text and all its metadata
    (the title is embedded with every passage)."""
    return hashlib.sha256(json.dumps(asdict(doc), ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def embed_documents(
    documents: Sequence[Document], embedder: Embedder, config: ChunkerConfig, progress: bool = False
) -> dict[str, DocumentParts]:
    """Chunk, split and embed ``documents`` (the expensive part of any index write)."""
    from tqdm import tqdm

    documents = sorted(documents, key=lambda d: d.doc_id)
    # Each document is split into sentences once, for its chunks and for the stored sentences
    # (the sentence model, crfcut, was a fifth of an index build when it ran twice).
    spans = {d.doc_id: split_sentences(d.text, config.sentence_engine) for d in documents}
    with tqdm(total=len(documents), desc="chunking", unit="doc", disable=not progress) as bar:
        chunks = chunk_documents(documents, embedder, config, on_document=lambda: bar.update(), sentences=spans)
    # A passage is embedded and keyword-indexed with its document's title in front: a passage
    # from the middle of a document rarely names what the document is about. Measured on 1,000
    # iApp questions: hit@1 0.896 -> 0.906, hit@5 0.953 -> 0.963 (hybrid). The stored passage
    # text and its citation are unchanged.
    titles = {d.doc_id: d.title for d in documents}
    vectors = _embed_all(
        embedder, [indexed_text(titles[c.doc_id], c.text) for c in chunks], "embedding chunk", progress
    )
    # Sentences are embedded too, so that the sentence that answers can be found at query time
    # with one matrix product instead of encoding every returned passage's sentences again.
    texts = {d.doc_id: d.text for d in documents}
    sentences = split_documents(documents, spans)
    sentence_vectors = _embed_all(
        embedder, [texts[s.doc_id][s.char_start : s.char_end] for s in sentences], "embedding sentence", progress
    )
    return _group(documents, chunks, vectors, sentences, sentence_vectors)


def _group(documents, chunks, vectors, sentences, sentence_vectors) -> dict[str, DocumentParts]:
    rows: dict[str, list[int]] = {}
    srows: dict[str, list[int]] = {}
    for i, c in enumerate(chunks):
        rows.setdefault(c.doc_id, []).append(i)
    for i, sentence in enumerate(sentences):
        srows.setdefault(sentence.doc_id, []).append(i)
    parts = {}
    for doc in documents:
        r, sr = rows.get(doc.doc_id, []), srows.get(doc.doc_id, [])
        parts[doc.doc_id] = DocumentParts(
            doc, [chunks[i] for i in r], vectors[r], [sentences[i] for i in sr], sentence_vectors[sr]
        )
    return parts


def parts_of(index: LoadedIndex) -> dict[str, DocumentParts]:
    """An index taken apart by document, vectors included (to carry unchanged documents over)."""
    vectors = index.passage_vectors
    documents = sorted(index.documents.values(), key=lambda d: d.doc_id)
    return _group(documents, index.chunks, vectors, index.sentences, index.sentence_vectors)


def _write_version(
    folder: Path,
    parts: dict[str, DocumentParts],
    embedder: Embedder,
    config: ChunkerConfig,
    number: int,
    change: dict,
    exact_up_to: int | None = None,
) -> dict:
    """Assemble ``parts`` (in document id order, ids renumbered) and write them to ``folder``."""
    documents, chunks, sentences, vectors, codes, scales = [], [], [], [], [], []
    for doc_id in sorted(parts):
        p = parts[doc_id]
        documents.append(p.document)
        chunks += [StoredChunk(len(chunks) + i, *astuple_tail(c)) for i, c in enumerate(p.chunks)]
        sentences += [StoredSentence(len(sentences) + i, *astuple_tail(s)) for i, s in enumerate(p.sentences)]
        vectors.append(p.vectors)
        rows = p.sentence_vectors if isinstance(p.sentence_vectors, Int8Rows) else Int8Rows.of(p.sentence_vectors)
        codes.append(rows.codes)
        scales.append(rows.scales)
    dim = embedder.dim
    vectors = np.ascontiguousarray(np.concatenate(vectors) if vectors else np.zeros((0, dim)), dtype=np.float32)
    sentence_vectors = Int8Rows(
        np.concatenate(codes) if codes else np.zeros((0, dim), np.int8),
        np.concatenate(scales) if scales else np.zeros(0, np.float32),
    )
    # The recall check asks a sample of real sentences (not stored as passages); it samples them.
    faiss_index, faiss_info = build_faiss(vectors, sentence_vectors, exact_up_to)
    titles = {d.doc_id: d.title for d in documents}
    keyword = KeywordIndex.build([indexed_text(titles[c.doc_id], c.text) for c in chunks])

    faiss.write_index(faiss_index, str(folder / FAISS_FILE))
    _write_jsonl(folder / CHUNKS_FILE, (asdict(c) for c in chunks))
    write_documents(folder, documents)
    doc_index = {d.doc_id: i for i, d in enumerate(documents)}
    np.save(folder / CHUNK_SPANS_FILE, spans_of(chunks, doc_index, with_tokens=True), allow_pickle=False)
    np.save(folder / SENTENCE_SPANS_FILE, spans_of(sentences, doc_index, with_tokens=False), allow_pickle=False)
    np.save(folder / PASSAGE_VECTORS_FILE, vectors, allow_pickle=False)
    np.save(folder / SENTENCE_VECTORS_FILE, sentence_vectors.codes, allow_pickle=False)
    np.save(folder / SENTENCE_SCALES_FILE, sentence_vectors.scales, allow_pickle=False)
    keyword.save(folder / KEYWORD_DIR)
    names = _data_files(folder)
    manifest = {
        "format": FORMAT,
        "version": number,
        "change": change,
        "package_version": package_version(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": {
            "id": embedder.model_id,
            "fingerprint": embedder.fingerprint(),
            "dim": dim,
            "query_prompt": embedder.query_prompt,
            "passage_prompt": embedder.passage_prompt,
            "backend": embedder.backend,
            "precision": precision_of(embedder.backend),
        },
        "chunker": {**config.as_dict(), "normalizer": NORMALIZER_VERSION, "passage_text": "title + passage"},
        "corpus": {
            "checksum": corpus_checksum(documents),
            "documents": len(documents),
            "chunks": len(chunks),
            "sentences": len(sentences),
            "characters": sum(len(d.text) for d in documents),
        },
        "faiss": faiss_info,
        "keyword": {"library": "bm25s", "tokenizer": keyword.tokenize.describe()},
        "files": dict(zip(names, _sha256_all(folder, names))),
    }
    with (folder / MANIFEST_FILE).open("w", encoding="utf-8") as f:
        json.dump(manifest, f, ensure_ascii=False, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    return manifest


def astuple_tail(row) -> tuple:
    """A stored chunk's or sentence's fields after its id."""
    values = tuple(getattr(row, f) for f in row.__dataclass_fields__)
    return values[1:]


def _is_flat(home: Path) -> bool:
    """An index of format 4 or older: one folder, no versions."""
    return (Path(home) / MANIFEST_FILE).is_file()


def _commit(
    home: Path,
    build: Callable[[Path | None], tuple[dict[str, DocumentParts], dict] | None],
    embedder,
    config,
    exact_up_to: int | None = None,
):
    """Under the write lock: ``build(base)`` gives the new version's parts (None: nothing to do)."""
    home = Path(home)
    if _is_flat(home):
        # Replace the whole old-format folder at once, its first version inside.
        with staged_dir(home) as tmp:
            return _commit(tmp, build, embedder, config, exact_up_to)
    with versions.writer(home) as w:
        planned = build(w.base)
        if planned is None:
            return None
        parts, change = planned
        manifests = []
        w.commit(
            lambda folder, number: manifests.append(
                _write_version(folder, parts, embedder, config, number, change, exact_up_to)
            )
        )
        return manifests[0]


def build_index(
    documents: Sequence[Document],
    embedder: Embedder,
    config: ChunkerConfig,
    out_dir: Path,
    progress: bool = False,
    exact_up_to: int | None = None,
) -> dict:
    """Index ``documents`` from scratch as a new version of the index at ``out_dir``; returns the
    manifest. Readers keep the previous version until this one is complete."""
    if not documents:
        raise ValueError("no documents to index")
    ids = [d.doc_id for d in documents]
    if len(set(ids)) != len(ids):
        raise ValueError("document ids must be unique")
    parts = embed_documents(documents, embedder, config, progress)
    change = {"kind": "build", "documents": len(parts)}
    return _commit(out_dir, lambda base: (parts, change), embedder, config, exact_up_to)


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
            model = json.loads((resolve(home) / MANIFEST_FILE).read_text("utf-8"))["model"]
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
    config: ChunkerConfig,
    upsert: Sequence[Document] = (),
    remove: Sequence[str] = (),
    progress: bool = False,
    exact_up_to: int | None = None,
) -> UpdateResult:
    """Add or replace ``upsert`` and delete ``remove`` (by id) as one new version. Documents whose
    content hash is unchanged keep their vectors; only new or changed ones are embedded."""
    ids = [d.doc_id for d in upsert]
    if len(set(ids)) != len(ids):
        raise UpdateError("document ids must be unique within one update")
    if set(ids) & set(remove):
        raise UpdateError(f"documents both added and removed: {sorted(set(ids) & set(remove))}")
    result = UpdateResult(None, [], [], [], sorted(set(remove)), None)

    if _is_flat(home):
        raise UpdateError(f"the index at {home} has an older format; rebuild it with `khamtop index build`")

    def build(base: Path | None):
        current = _load_folder(base, embedder) if base is not None else None
        parts = parts_of(current) if current is not None else {}
        missing = [doc_id for doc_id in result.removed if doc_id not in parts]
        if missing:
            raise UpdateError(f"no document with id {missing[0]!r} to remove")
        hashes = {doc_id: document_hash(p.document) for doc_id, p in parts.items()}
        fresh = []
        for doc in upsert:
            if doc.doc_id not in parts:
                result.added.append(doc.doc_id)
                fresh.append(doc)
            elif hashes[doc.doc_id] != document_hash(doc):
                result.replaced.append(doc.doc_id)
                fresh.append(doc)
            else:
                result.unchanged.append(doc.doc_id)
        result.version = current.manifest.get("version") if current is not None else None
        if not result.changed:
            return None
        for doc_id in result.removed:
            del parts[doc_id]
        parts.update(embed_documents(fresh, embedder, config, progress) if fresh else {})
        if not parts:
            raise UpdateError("this would leave the index with no documents; remove fewer")
        change = {
            "kind": "update",
            "parent": result.version,
            **{k: getattr(result, k) for k in ("added", "replaced", "removed")},
        }
        return parts, change

    result.manifest = _commit(home, build, embedder, config, exact_up_to)
    if result.manifest is not None:
        result.version = result.manifest["version"]
    return result


def _data_files(folder: Path) -> list[str]:
    """Every file the manifest covers, as paths relative to the index folder."""
    keyword = sorted(p.relative_to(folder).as_posix() for p in (folder / KEYWORD_DIR).iterdir())
    return [*DATA_FILES, *keyword]


def stale_reason(path: Path, settings) -> str | None:
    """Why the index at ``path`` must be rebuilt for ``settings`` (None: it need not be).

    Cheap (no model is loaded): format, model id, prompts and chunker settings from the manifest.
    The weight fingerprint and file checksums are checked when the index is loaded.
    """
    try:
        manifest = json.loads((resolve(path) / MANIFEST_FILE).read_text("utf-8"))
    except IndexLoadError as exc:
        return str(exc)
    except OSError:
        return "there is none"
    except ValueError:
        return "its manifest is damaged"
    model, chunker = manifest.get("model", {}), manifest.get("chunker", {})
    if manifest.get("format") != FORMAT:
        return f"it has format {manifest.get('format')!r}, this version writes {FORMAT!r}"
    if (model.get("id"), model.get("query_prompt"), model.get("passage_prompt")) != (
        settings.model,
        settings.query_prompt,
        settings.passage_prompt,
    ):
        return f"it was built with model {model.get('id')!r} or other prompts"
    if model.get("precision", "fp32") != precision_of(settings.embedding_backend):
        return (
            f"its vectors are {model.get('precision', 'fp32')} and the {settings.embedding_backend} backend "
            f"makes {precision_of(settings.embedding_backend)} ones"
        )
    if (chunker.get("chunk_tokens"), chunker.get("overlap_tokens")) != (
        settings.chunk_tokens,
        settings.chunk_overlap_tokens,
    ):
        return "it was built with other chunk settings"
    if chunker.get("normalizer") != NORMALIZER_VERSION:
        return f"its text was normalised by {chunker.get('normalizer')!r}, this version uses {NORMALIZER_VERSION!r}"
    return None


def precision_of(backend: str) -> str:
    """The stored vectors' precision: int8 ones differ a little from fp32 ones; torch, ONNX fp32
    and onnx-int8-query (whose int8 is only for questions) store the same fp32 vectors."""
    return "int8" if backend == "onnx-int8" else "fp32"


def resolve(home: Path) -> Path:
    """The folder of the live version of the index at ``home`` (``home`` itself for an old flat
    index, which loading then refuses by its format)."""
    home = Path(home)
    recover_moved_aside(home, versions.CURRENT_FILE)
    try:
        return versions.current_path(home) or home
    except versions.VersionError as exc:
        raise IndexLoadError(f"index at {home} is damaged: {exc}") from exc


def index_exists(home: Path) -> bool:
    home = Path(home)
    return (home / versions.CURRENT_FILE).is_file() or (home / MANIFEST_FILE).is_file()


def load_index(home: Path, embedder: Embedder | None = None) -> LoadedIndex:
    """Load and verify the live version of an index; with ``embedder``, also check it was built
    with that model."""
    return _load_folder(resolve(home), embedder)


def _load_folder(path: Path, embedder: Embedder | None = None) -> LoadedIndex:
    path = Path(path)
    manifest_path = path / MANIFEST_FILE
    if not manifest_path.is_file():
        raise IndexLoadError(f"no index at {path} (no {MANIFEST_FILE}); build one with `khamtop index build`")
    try:
        manifest = json.loads(manifest_path.read_text("utf-8"))
        files = manifest["files"]
        model = manifest["model"]
    except (ValueError, KeyError, TypeError) as exc:
        raise IndexLoadError(f"index at {path} has a damaged {MANIFEST_FILE}: {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise IndexLoadError(
            f"index at {path} has format {manifest.get('format')!r}, this version reads {FORMAT!r}; "
            "rebuild it with `khamtop index build`"
        )
    names = sorted(set(DATA_FILES) | set(files))
    missing = next((name for name in names if not (path / name).is_file()), None)
    if missing:
        raise IndexLoadError(f"index at {path} is damaged: {missing} is missing")
    for name, digest in zip(names, _sha256_all(path, names)):
        if digest != files.get(name):
            raise IndexLoadError(
                f"index at {path} is damaged: {name} does not match its checksum in the manifest; "
                "rebuild it with `khamtop index build`"
            )
    if embedder is not None and (
        model.get("id") != embedder.model_id or model.get("fingerprint") != embedder.fingerprint()
    ):
        raise IndexLoadError(
            f"index at {path} was built with model {model.get('id')!r} "
            f"(weights {model.get('fingerprint')}), but the service uses {embedder.model_id!r} "
            f"(weights {embedder.fingerprint()}); rebuild the index with `khamtop index build`"
        )
    if embedder is not None and (
        model.get("query_prompt") != embedder.query_prompt or model.get("passage_prompt") != embedder.passage_prompt
    ):
        raise IndexLoadError(
            f"index at {path} was built with prompts {model.get('query_prompt')!r}/"
            f"{model.get('passage_prompt')!r}, the service uses {embedder.query_prompt!r}/"
            f"{embedder.passage_prompt!r}; rebuild the index"
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
