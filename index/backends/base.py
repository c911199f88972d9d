"""The seam between the index's core and the backends that hold a version's search part.

A backend says where a version is written, how it is updated and opened, and which engine
proposes and scores a question's candidates. Everything else is the core's, whatever the backend:
the versions and their manifests (``index.store``), the passages' tables (``index.folder``),
embedding (``index.build``), and the search after the ranking (``index.search``: duplicates,
sentences, the reader, the answer). Each backend is a package of ``index.backends``; only
``index.backends.factory`` names them (tests/test_layers.py holds every other module to that).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from corpus.filters import Filter
from index.build.embed import DocumentParts
from index.store.manifest import IndexLoadError

# How a passage's BM25 weights are weighed by Qdrant: with the whole build's idf in the stored
# weights, or by the engine from each shard's own counts.
IdfMode = Literal["full", "engine"]
IDF_MODES: tuple[IdfMode, ...] = ("full", "engine")


class EngineUnavailable(IndexLoadError):
    """The engine that holds a version cannot be asked now (a Qdrant server down or refusing):
    503 for a question, a one-line error for a command."""


class FilterUnsupported(ValueError):
    """A question's filter that its backend cannot apply (yet): 422 for a question."""


@dataclass(frozen=True)
class BackendOptions:
    """Which backend, and its settings (built from the settings: ``Settings.backend_options``)."""

    name: str = "embedded"
    exact_up_to: int = 20_000  # exact vector search up to this many passages, HNSW above
    shards: int = 1  # qdrant-edge: shards a version is written as
    idf: IdfMode = "full"  # the Qdrant backends
    url: str | None = None  # qdrant: the server (or a folder, for qdrant-client's local mode)
    api_key: str | None = None
    alias: str = "khamtop"
    rewrite_after: float = 0.01  # qdrant: updates in place while they change at most this share
    replica: bool = False  # qdrant: serve from the server alone, with no index folder


@dataclass(frozen=True)
class Planned:
    """A version to write: every document's ``parts`` (a build, or an update of a version whose
    parts the core carries over); or, where the backend carries the unchanged documents over
    itself, the ``fresh`` documents' parts, the ``base`` record it starts from (the backend's own)
    and the ids of the base's documents this version ``ended`` (removed or replaced)."""

    change: dict  # what the manifest says of the change
    parts: dict[str, DocumentParts] | None = None
    fresh: dict[str, DocumentParts] | None = None
    base: object | None = None
    ended: tuple[str, ...] = ()
    whole: bool = False  # written whole (a new collection) even where an update could go in place


class Current(Protocol):
    """The live version an update or a build starts from, as its backend reads it."""

    version: int
    hashes: dict[str, str]  # doc id -> document_hash

    def plan(self, change: dict, fresh: dict[str, DocumentParts], ended: list[str], whole: bool = False) -> Planned:
        """This version with ``ended`` documents dropped and ``fresh`` ones added."""


# What a filtered question may read, as an engine is given it: a mask over the version's chunks
# (True: it may be proposed), or, for an engine whose ``filters_documents`` is true (a server that
# filters by the documents' fields itself), the question's filter; None: no filter.
Allowed = np.ndarray | Filter | None


class Engine(Protocol):
    """What the search (index.search.candidates) asks of the engine that holds a version's search
    part: the keyword list, the nearest passages, and the exact dense scores of candidates.
    An engine may say ``filters_documents = True`` to be given filters rather than masks."""

    def keyword(self, words: list[str], k: int, allowed: Allowed = None) -> list[tuple[int, float]]:
        """BM25's best ``k`` (chunk id, score) for the question's words, best first; ``allowed``:
        what the question's filter lets it propose (None: no filter)."""

    def nearest(self, vector: np.ndarray, k: int, allowed: Allowed = None) -> list[int]:
        """The ``k`` allowed chunks whose passage vectors are nearest ``vector``, nearest first."""

    def prefetch(self, chunk_ids: list[int]) -> object | None:
        """What ``dense_scores`` will need of ``chunk_ids``, read while the question's vector is
        being computed (None: nothing to read ahead)."""

    def dense_scores(
        self, vector: np.ndarray, chunk_ids: list[int], sentence_weight: float, prefetched: object | None = None
    ) -> dict[int, float]:
        """Each chunk's (1 - w) x passage cosine + w x best sentence cosine."""


class Version(Protocol):
    """A version as the search reads it (index.folder.load.LoadedIndex, or a backend's own)."""

    path: Path
    manifest: dict
    chunks: object  # chunk id -> Passage; .texts(ids)
    documents: object  # doc id -> Document; .text_span(doc_id, start, end)
    sentences: object  # sentence id -> Sentence
    sentence_vectors: object
    chunk_sentences: object  # chunk id -> its sentences' ids
    keyword: object  # .tokenize, .idf, .coverage

    @property
    def version(self) -> int: ...

    def engine(self) -> Engine:
        """The engine that searches this version by default."""


class Backend(Protocol):
    """Where versions are written, updated and opened, and what searches them."""

    name: str

    def refuses_changes(self) -> str | None:
        """Why this process takes no changes to the index (None: it takes them)."""

    def shares_its_store(self) -> bool:
        """Whether what it writes is served by other processes (a server's alias): evaluations
        and benchmarks, which build indexes of their own, must not write there."""

    def mismatch(self, manifest: dict) -> str | None:
        """Why the version written with ``manifest`` cannot be served by this backend (None: it can)."""

    def live_name(self, home: Path) -> str | None:
        """What names the live version (a version folder's name, or a collection's)."""

    def open(self, home: Path, embedder, name: str | None = None) -> Version:
        """The live version (``name``: as ``live_name`` gave it); raises IndexLoadError."""

    def engine(self, version: Version) -> Engine:
        """The engine that searches ``version`` for this backend; raises IndexLoadError."""

    def prepare(self, base: Path | None) -> None:
        """Under the write lock, before a version is planned from ``base`` (the live one)."""

    def current(self, base: Path, embedder, rebuild: bool = False) -> Current:
        """The live version at ``base`` as a write starts from it (``rebuild``: a build that
        replaces every document and reuses what it can of this one: index.build.write.build_reusing);
        raises IndexLoadError or index.build.version.UpdateError."""

    def write(self, folder: Path, planned: Planned, embedder, config, number: int, base: Path | None) -> dict:
        """Write version ``number`` into ``folder`` (staged, renamed into place by the core);
        returns its manifest. ``config``: index.build.write.IndexConfig."""

    def published(self, manifest: dict) -> None:
        """Called once the version's folder is committed and live."""

    def forget(self, home: Path) -> None:
        """Remove what it holds of the index at ``home`` outside that folder (a server's
        collections), before the folder itself is removed; raises IndexLoadError when it cannot."""
