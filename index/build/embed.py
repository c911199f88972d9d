"""Embedding a corpus: each document split into sentences once, cut into passages, and both
encoded; the expensive part of any index write, kept apart from the storage code."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from corpus.document import Document
from index.build.chunking import ChunkerConfig, chunk_text, split_sentences
from index.encoders.base import Embedder
from index.folder.spans import Passage, Sentence
from index.folder.vectors import Int8Rows


@dataclass
class DocumentParts:
    """One document's share of an index: its passages and sentences with their vectors."""

    document: Document
    chunks: list[Passage]  # ids are renumbered when the index is assembled
    vectors: np.ndarray
    sentences: list[Sentence]
    sentence_vectors: np.ndarray | Int8Rows


def indexed_text(title: str, passage: str) -> str:
    """What the encoder and BM25 see for a passage: its document's title, then the passage."""
    return f"{title}\n{passage}" if title else passage


def chunk_documents(
    documents: Sequence[Document],
    embedder: Embedder,
    config: ChunkerConfig,
    on_document: Callable[[], None] | None = None,
    sentences: dict[str, list[tuple[int, int]]] | None = None,
) -> list[Passage]:
    """Every document's chunks; ``sentences``: each document's sentence spans, if already split."""
    chunks: list[Passage] = []
    for doc in documents:
        spans = sentences.get(doc.doc_id) if sentences else None
        for c in chunk_text(doc.text, embedder.count_tokens, config, spans):
            chunks.append(
                Passage(
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


def split_documents(
    documents: Sequence[Document], spans: dict[str, list[tuple[int, int]]] | None = None
) -> list[Sentence]:
    """Every sentence of every document, with offsets into the stored text (``spans``: each
    document's sentence spans, if already split)."""
    sentences: list[Sentence] = []
    for doc in documents:
        for start, end in spans[doc.doc_id] if spans else split_sentences(doc.text):
            sentences.append(Sentence(len(sentences), doc.doc_id, start, end))
    return sentences


def embed_texts(embedder: Embedder, texts: list[str], desc: str, progress: bool) -> np.ndarray:
    """Vectors for ``texts`` in their order, each distinct text encoded once."""
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


def embed_documents(
    documents: Sequence[Document], embedder: Embedder, config: ChunkerConfig, progress: bool = False
) -> dict[str, DocumentParts]:
    """Chunk, split and embed ``documents`` (the expensive part of any index write)."""
    from tqdm import tqdm

    documents = sorted(documents, key=lambda d: d.doc_id)
    # Each document is split into sentences once, for its chunks and for the stored sentences:
    # the sentence model, crfcut, is a large part of a build (docs/decisions/012-build-throughput.md).
    spans = {d.doc_id: split_sentences(d.text, config.sentence_engine, config.max_run) for d in documents}
    with tqdm(total=len(documents), desc="chunking", unit="doc", disable=not progress) as bar:
        chunks = chunk_documents(documents, embedder, config, on_document=lambda: bar.update(), sentences=spans)
    # A passage is embedded and keyword-indexed with its document's title in front: a passage
    # from the middle of a document rarely names what the document is about
    # (docs/decisions/003-title-in-passages.md). The stored passage text and its citation are
    # unchanged.
    titles = {d.doc_id: d.title for d in documents}
    vectors = embed_texts(
        embedder, [indexed_text(titles[c.doc_id], c.text) for c in chunks], "embedding chunk", progress
    )
    # Sentences are embedded too, so that the sentence that answers can be found at query time
    # with one matrix product instead of encoding every returned passage's sentences again.
    texts = {d.doc_id: d.text for d in documents}
    sentences = split_documents(documents, spans)
    sentence_vectors = embed_texts(
        embedder, [texts[s.doc_id][s.char_start : s.char_end] for s in sentences], "embedding sentence", progress
    )
    return group_parts(documents, chunks, vectors, sentences, sentence_vectors)


def group_parts(documents, chunks, vectors, sentences, sentence_vectors) -> dict[str, DocumentParts]:
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


def record(doc: Document) -> dict:
    """A document as its hashes see it: a document without tags as it was before tags existed
    (so that an index written then keeps every vector at its next update)."""
    fields = asdict(doc)
    if not fields["tags"]:
        del fields["tags"]
    return fields


def document_hash(doc: Document) -> str:
    """What decides whether a document must be indexed again: its text and all its metadata
    (the title is embedded with every passage)."""
    return hashlib.sha256(json.dumps(record(doc), ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def corpus_checksum(documents: Sequence[Document]) -> str:
    h = hashlib.sha256()
    for doc in sorted(documents, key=lambda d: d.doc_id):
        h.update(json.dumps(record(doc), ensure_ascii=False, sort_keys=True).encode())
        h.update(b"\n")
    return h.hexdigest()


def checksum_of_hashes(hashes: dict[str, str]) -> str:
    """One checksum of the documents' ids and content hashes (``document_hash``), in id order:
    what a ledger can say of its corpus (index.backends.qdrant.ledger keeps no texts)."""
    h = hashlib.sha256()
    for doc_id in sorted(hashes):
        h.update(f"{doc_id}\t{hashes[doc_id]}\n".encode())
    return h.hexdigest()
