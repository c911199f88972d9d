"""A version folder of the ``qdrant`` backend: a ledger, not a copy of the index.

With a Qdrant server the collection is the only full copy of a version (its vectors, texts and
BM25 weights: index.backends.qdrant.server). What the writer keeps on disk per version is what the next
write needs to know without reading the whole collection back:

    manifest.json      as every version's (``"layout": "ledger"``), with the collection's name
    ledger.jsonl       per document, in id order: its content hash, its passages' point ids, each
                       passage's BM25 length, its sentence and character counts
    word-ids.json      each BM25 word's stable id (index.backends.qdrant.sparse.WordIds)
    word-counts.json   how many of the version's passages hold each word

So an update compares content hashes, weighs only its new passages (``Corpus``: the counts, the
passage count and the total length), and lowers the counts by what the removed passages held.
A ledger is about 100 bytes a passage, where the embedded folder holds about 10 KB.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from index.store.manifest import IndexLoadError, checksums, read_manifest
from index.backends.qdrant.sparse import WORD_IDS_FILE, Corpus, WordIds

LAYOUT = "ledger"
LEDGER_FILE = "ledger.jsonl"
WORD_COUNTS_FILE = "word-counts.json"
FILES = (LEDGER_FILE, WORD_IDS_FILE, WORD_COUNTS_FILE)


def is_ledger(manifest: dict) -> bool:
    return manifest.get("layout") == LAYOUT


def verify(folder: Path, manifest: dict) -> None:
    """The ledger at ``folder`` checked against ``manifest``'s checksums (at load, as a version's
    files are, and before a write reads it); raises IndexLoadError."""
    if not is_ledger(manifest):
        raise IndexLoadError(f"index at {folder} is not a ledger of the qdrant backend")
    missing = next((name for name in FILES if not (Path(folder) / name).is_file()), None)
    if missing:
        raise IndexLoadError(f"index at {folder} is damaged: {missing} is missing")
    files = manifest.get("files") if isinstance(manifest.get("files"), dict) else {}
    for name, digest in zip(FILES, checksums(Path(folder), list(FILES))):
        if digest != files.get(name):
            raise IndexLoadError(
                f"index at {folder} is damaged: {name} does not match its checksum in the manifest; "
                "rebuild it with KHAMTOP_BACKEND=qdrant khamtop index build"
            )


@dataclass(frozen=True)
class Entry:
    """One document of a version, as the ledger keeps it."""

    doc_id: str
    hash: str  # index.build.embed.document_hash: unchanged hash, unchanged passages
    points: list[int]  # its passages' point ids, in order
    lengths: list[int]  # each passage's BM25 length (its words, repeats counted)
    sentences: int
    characters: int


@dataclass(frozen=True)
class Ledger:
    entries: dict[str, Entry]  # by document id
    words: WordIds
    df: dict[str, int]  # every word of ``words``: the passages that hold it (0: none any more)

    @property
    def passages(self) -> int:
        return sum(len(e.points) for e in self.entries.values())

    def corpus(self) -> Corpus:
        return Corpus(self.df, self.passages, sum(sum(e.lengths) for e in self.entries.values()))

    def totals(self) -> dict:
        """The manifest's ``corpus`` counts (its checksum aside)."""
        entries = self.entries.values()
        return {
            "documents": len(self.entries),
            "chunks": self.passages,
            "sentences": sum(e.sentences for e in entries),
            "characters": sum(e.characters for e in entries),
            "words": sum(sum(e.lengths) for e in entries),
        }

    def save(self, folder: Path) -> None:
        """Written into a version's staged folder, which is renamed into place whole (index.store.atomic)."""
        folder = Path(folder)
        with (folder / LEDGER_FILE).open("w", encoding="utf-8") as f:
            for doc_id in sorted(self.entries):
                f.write(json.dumps(asdict(self.entries[doc_id]), ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.words.save(folder)
        body = json.dumps({"df": self.df}, ensure_ascii=False, sort_keys=True)
        (folder / WORD_COUNTS_FILE).write_text(body, "utf-8")

    @classmethod
    def load(cls, folder: Path) -> Ledger:
        """The ledger of the version at ``folder``, checked against its manifest's checksums;
        raises IndexLoadError."""
        folder = Path(folder)
        verify(folder, read_manifest(folder))
        try:
            entries = {}
            with (folder / LEDGER_FILE).open(encoding="utf-8") as f:
                for line in f:
                    entry = Entry(**json.loads(line))
                    entries[entry.doc_id] = entry
            df = {str(w): int(n) for w, n in json.loads((folder / WORD_COUNTS_FILE).read_text("utf-8"))["df"].items()}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexLoadError(f"index at {folder} is damaged: {exc}") from exc
        words = WordIds.load(folder, required=True)
        if df.keys() != words.ids.keys():
            raise IndexLoadError(f"index at {folder} is damaged: its word counts are not those of its words")
        return cls(entries, words, df)
