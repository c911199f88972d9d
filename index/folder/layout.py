"""The index on disk: a folder of plain files, written all-or-nothing and verified at load.

    index.faiss      FAISS inner-product index over L2-normalised vectors (cosine similarity):
                     proposes candidates (index.folder.ann)
    passages.npy     the passages' L2-normalised vectors, float32, row i for chunk i: the exact
                     scores, and what updates carry over
    chunk_spans.npy  the chunks, one row each: document (its line in documents.jsonl),
                     char_start, char_end, n_tokens; a chunk's text is its document's text there
    sentence_spans.npy  the sentences (for answer highlights), one row each: document,
                     char_start, char_end, in document order
    sentences.npy, sentence_scales.npy  the sentences' vectors, int8 with a scale per row
                     (index.folder.vectors)
    chunks.jsonl     the chunks again, readable: id, doc_id, char_start, char_end, n_tokens, text
                     (for people and tools; the service reads the spans, which load ~10x faster)
    keyword/         BM25 over the chunks' Thai and English words (bm25s's plain-file format)
    documents.jsonl  one document per line: its metadata (id, title, source, date, language)
    texts.npy, text_offsets.npy  the stored (normalised) texts as code points, and where each
                     document's starts (index.folder.doctable)
    manifest.json    model id and weight fingerprint, dimension, prompts, chunker settings,
                     corpus checksum, file checksums, package version, creation time

A build writes a hidden temporary folder beside the target and renames it into place
(``index.store.atomic``), so a crash at any moment leaves the previous index loadable.
"""

from __future__ import annotations

from pathlib import Path

from index.folder.doctable import METADATA_FILE, OFFSETS_FILE, TEXTS_FILE
from index.folder.keyword import KEYWORD_DIR

FAISS_FILE = "index.faiss"
CHUNKS_FILE = "chunks.jsonl"
CHUNK_SPANS_FILE = "chunk_spans.npy"
DOCUMENTS_FILE = METADATA_FILE
SENTENCE_SPANS_FILE = "sentence_spans.npy"
PASSAGE_VECTORS_FILE = "passages.npy"
SENTENCE_VECTORS_FILE = "sentences.npy"
SENTENCE_SCALES_FILE = "sentence_scales.npy"
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


def data_files(folder: Path) -> list[str]:
    """Every file of the folder's own, as paths relative to it (a backend may add its own)."""
    keyword = sorted(p.relative_to(folder).as_posix() for p in (folder / KEYWORD_DIR).iterdir())
    return [*DATA_FILES, *keyword]
