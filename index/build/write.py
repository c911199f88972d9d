"""Writing index versions: a build from scratch or an update of some documents, each a complete
new version beside the old one, made live at once (``index.store.versions``). Documents whose
content hash is unchanged keep their vectors. Where and how a version is written is its
backend's (index.backends.base.Backend); this module knows none of them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from corpus.document import Document
from index.backends.base import Backend, EngineUnavailable, Planned
from index.build.chunking import ChunkerConfig
from index.build.embed import DocumentParts, document_hash, embed_documents
from index.build.version import UpdateError, chunker_record
from index.encoders.base import Embedder
from index.folder.load import resolve
from index.store import versions
from index.store.compat import Wanted, mismatch
from index.store.manifest import IndexLoadError, read_manifest


@dataclass(frozen=True)
class IndexConfig:
    """How a version is written (built from the settings: ``Settings.index_config``)."""

    chunker: ChunkerConfig
    exact_up_to: int  # exact vector search up to this many passages, HNSW above (index.folder.ann)
    backend: Backend  # where the version is written (index.backends.factory)

    def engine_mismatch(self, manifest: dict) -> str | None:
        """Why a version written with ``manifest`` cannot serve this backend (None: it can)."""
        return self.backend.mismatch(manifest)


def commit(
    home: Path,
    build: Callable[[Path | None], Planned | None],
    embedder,
    config: IndexConfig,
    served: str | None = None,
    fresh: bool = False,
):
    """Under the write lock: ``build(base)`` plans the new version (None: nothing to do), which
    is then written by the backend and made live. ``served`` and ``fresh``: see ``versions.writer``."""
    backend = config.backend
    with versions.writer(Path(home), served, fresh) as w:
        backend.prepare(w.base)
        planned = build(w.base)
        if planned is None:
            return None
        manifests = []
        w.commit(
            lambda folder, number: manifests.append(backend.write(folder, planned, embedder, config, number, w.base))
        )
        # Only now, with the folder committed: a replica that follows the server's alias never
        # finds a collection whose version the folder does not have.
        backend.published(manifests[0])
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
    documents already embedded, one entry each (a build on a cluster: ``index.build.ray``)."""
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


def write_parts(home: Path, parts: dict[str, DocumentParts], change: dict, embedder, config: IndexConfig) -> dict:
    """Every document's ``parts``, embedded already, as a new version of the index at ``home``
    that replaces what it held (``change``: what its manifest says of it); returns the manifest."""
    return commit(home, lambda base: Planned(change, parts), embedder, config, fresh=True)


def build_reusing(
    documents: Sequence[Document],
    embedder: Embedder,
    config: IndexConfig,
    home: Path,
    embed: Callable[[list[Document]], dict[str, DocumentParts]],
) -> tuple[dict, list[str], int | None, str | None]:
    """``documents`` as a new version that replaces what the index at ``home`` held, where the
    documents unchanged since the live version keep their vectors (carried over by the backend)
    and only the others are embedded, by ``embed`` (a Ray cluster's: index.build.ray). Returns the
    manifest, the ids of the documents embedded, the version the others were kept from, and why
    none could be kept, if so: only a version of this backend, built with this model and cut
    with these settings, lends its vectors.

    The embedding runs before the write lock is taken (it may take hours, and updates wait on the
    lock). Where the build reuses the live version and another write made a new one meanwhile,
    nothing is written and the build says so; a build that reuses nothing replaces whatever is
    live, as ``build_index`` does."""
    ids = [d.doc_id for d in documents]
    if not documents or len(set(ids)) != len(ids):
        raise ValueError("no documents to index" if not documents else "document ids must be unique")
    change = {"kind": "build", "documents": len(documents)}
    current, note = _reusable(Path(home), embedder, config)
    if current is None:
        planned = Planned(change, embed(list(documents)))
        manifest = commit(home, lambda _: planned, embedder, config, fresh=True)
        return manifest, sorted(ids), None, note
    hashes, live = {d.doc_id: document_hash(d) for d in documents}, current.hashes
    fresh = [d for d in documents if live.get(d.doc_id) != hashes[d.doc_id]]
    ended = [doc_id for doc_id, h in live.items() if hashes.get(doc_id) != h]
    planned = current.plan(change, embed(fresh) if fresh else {}, ended, whole=True)

    def build(_) -> Planned:
        live = _live_version(Path(home))
        if live != current.version:
            raise IndexLoadError(
                f"the index at {home} went from version {current.version} to {live} while this build was "
                "embedding: nothing was written; run the build again"
            )
        return planned

    manifest = commit(home, build, embedder, config, fresh=True)
    kept_from = current.version if len(fresh) < len(documents) else None
    return manifest, sorted(d.doc_id for d in fresh), kept_from, None


def _live_version(home: Path) -> int | None:
    try:
        live = versions.current_path(home)
        return int(read_manifest(live).get("version", 0)) if live is not None else None
    except (versions.VersionError, IndexLoadError):
        return None


def _reusable(home: Path, embedder, config: IndexConfig):
    """The live version to carry unchanged documents over from, or None and why not."""
    try:
        live = versions.current_path(home)
    except versions.VersionError:
        live = None  # a build starts afresh from a home it cannot read
    if live is None:
        return None, "there is no index there yet"
    try:
        manifest = read_manifest(live)
        reason = mismatch(manifest, Wanted.of_embedder(embedder)) or (
            "its passages were cut with other settings"
            if manifest.get("chunker") != chunker_record(config.chunker)
            else None
        )
        # The backend says whether it can carry the version's documents over (a folder's parts,
        # or the points of a collection of its server).
        return (None, reason) if reason is not None else (config.backend.current(live, embedder, rebuild=True), None)
    except EngineUnavailable:
        raise  # a server that cannot be asked now: say so, rather than embed everything again
    except (IndexLoadError, UpdateError) as exc:
        return None, str(exc)


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

    def build(base: Path | None) -> Planned | None:
        if check_base is not None and base is not None:
            check_base(base)
        current = config.backend.current(base, embedder) if base is not None else None
        hashes = current.hashes if current is not None else {}
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
        result.version = current.version if current is not None else None
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
        if current is None:
            return Planned(change, embedded)
        return current.plan(change, embedded, [*result.removed, *result.replaced])

    result.manifest = commit(home, build, embedder, config, served)
    if result.manifest is not None:
        result.version = result.manifest["version"]
    return result
