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
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from index.doctable import METADATA_FILE, OFFSETS_FILE, TEXTS_FILE
from index.keyword import KEYWORD_DIR

# 2: keyword (BM25) index added; 3: sentence spans and vectors; 4: passages indexed with their title;
# 5: versions (index.versions), the manifest names its version and the change that made it;
# 6: chunks and sentences loaded from span arrays (a 100k-passage index loads in half the time);
# 7: passage vectors in their own file (float32, memory-mapped), sentence vectors in int8 with a
# scale per row, HNSW over SQ8 above the exact-search size, texts as mapped code points apart
# from the documents' metadata (index.vectors, index.ann, index.doctable): memory at 1M passages.
# Old formats are not read: the set-up rebuilds them (index.compat).
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


def package_version() -> str:
    try:
        return version("khamtop")
    except PackageNotFoundError:  # running from a source tree without installing
        return "0+source"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def checksums(folder: Path, names: list[str]) -> list[str]:
    """The files' checksums, two at a time: hashlib lets go of the GIL while it hashes, and a
    large index holds gigabytes of files."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda name: sha256(folder / name), names))


# Written for the Qdrant backends only (index.sparse, index.ledger): covered by the checksums
# where it is there.
WORD_IDS_FILE = "word-ids.json"
OPTIONAL_FILES = (WORD_IDS_FILE,)


def data_files(folder: Path) -> list[str]:
    """Every file the manifest covers, as paths relative to the index folder."""
    keyword = sorted(p.relative_to(folder).as_posix() for p in (folder / KEYWORD_DIR).iterdir())
    optional = [name for name in OPTIONAL_FILES if (folder / name).is_file()]
    return [*DATA_FILES, *keyword, *optional]


def read_manifest(folder: Path) -> dict:
    """The manifest of the index version at ``folder``; raises ``IndexLoadError``."""
    path = Path(folder) / MANIFEST_FILE
    if not path.is_file():
        raise IndexLoadError(f"no index at {folder} (no {MANIFEST_FILE}); build one with `khamtop index build`")
    try:
        manifest = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexLoadError(f"index at {folder} has a damaged {MANIFEST_FILE}: {exc}") from exc
    if not isinstance(manifest, dict):
        raise IndexLoadError(f"index at {folder} has a damaged {MANIFEST_FILE}: not an object")
    return manifest
