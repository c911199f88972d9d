"""The qdrant backend: a version's passages are points of a collection on a Qdrant server,
behind an alias that replicas follow (index.backends.qdrant.server); its folder is a ledger of
what the collection holds (index.backends.qdrant.ledger), and an update writes only its
documents' points (index.backends.qdrant.updates)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from index.backends.base import Planned
from index.backends.qdrant.ledger import FILES as LEDGER_FILES
from index.backends.qdrant.ledger import LAYOUT as LEDGER_LAYOUT
from index.backends.qdrant.ledger import Ledger, is_ledger
from index.backends.qdrant.points import SearchPart, guarded, previous_words
from index.backends.qdrant.remote import RemoteIndex, open_ledger, open_replica
from index.backends.qdrant.server import (
    ServerTarget,
    connect,
    forget,
    live_version,
    move_alias,
    reconcile,
    target_mismatch,
)
from index.backends.qdrant.sparse import WordIds, passage_words
from index.backends.qdrant.updates import Base, write_build, write_update
from index.build.embed import DocumentParts, checksum_of_hashes
from index.build.version import Assembled, FolderCurrent, write_manifest
from index.folder.keyword import Tokenizer
from index.folder.load import resolve
from index.store import versions
from index.store.compat import Wanted, mismatch
from index.store.manifest import IndexLoadError, read_manifest


@dataclass(frozen=True)
class LedgerCurrent:
    """The live version as its ledger records it: the collection carries the unchanged
    documents' points over, so a new version is only its new documents and those it ends."""

    base: Base

    @property
    def version(self) -> int:
        return self.base.version

    @cached_property
    def hashes(self) -> dict[str, str]:
        return {doc_id: e.hash for doc_id, e in self.base.ledger.entries.items()}

    def plan(self, change: dict, fresh: dict[str, DocumentParts], ended: list[str], whole: bool = False) -> Planned:
        return Planned(change, fresh=fresh, base=self.base, ended=tuple(ended), whole=whole)


class ServerBackend:
    name = "qdrant"

    def __init__(self, target: ServerTarget, replica: bool = False) -> None:
        self.target, self.replica = target, replica

    def _client(self):
        return connect(self.target.url, self.target.api_key)

    def refuses_changes(self) -> str | None:
        if self.replica:
            return (
                "a replica (KHAMTOP_QDRANT_REPLICA) takes no changes: send them to the service that "
                "writes the index folder"
            )
        return None

    def shares_its_store(self) -> bool:
        return True

    def mismatch(self, manifest: dict) -> str | None:
        return target_mismatch(manifest, self.target)

    def live_name(self, home: Path) -> str | None:
        """CURRENT; on a replica, the collection the alias names and its live version."""
        if self.replica:
            return guarded(live_version, self._client(), self.target.alias)
        return versions.read_current(home)

    def open(self, home: Path, embedder, name: str | None = None) -> RemoteIndex:
        """The live version's collection, which the folder's ledger names; on a replica, from the
        server alone (``name``: the collection the alias named when it was resolved)."""
        if self.replica:
            name = name if name is not None else self.live_name(home)
            index = open_replica(self._client(), self.target.alias, name)
            reason = mismatch(index.manifest, Wanted.of_embedder(embedder))
            if reason is not None:
                raise IndexLoadError(f"the Qdrant collection {index.collection} cannot be served: {reason}")
            return index
        folder = resolve(home)
        manifest = read_manifest(folder)
        try:
            reason = mismatch(manifest, Wanted.of_embedder(embedder)) or target_mismatch(manifest, self.target)
            if reason is not None:
                raise IndexLoadError(
                    f"index at {folder} cannot be served: {reason}; "
                    "rebuild it with KHAMTOP_BACKEND=qdrant khamtop index build"
                )
            return open_ledger(self._client(), folder, manifest)
        except (KeyError, TypeError, ValueError) as exc:  # a manifest that lacks what a ledger's holds
            raise IndexLoadError(f"index at {folder} has a damaged manifest: {exc!r}") from exc

    def engine(self, version) -> object:
        if not isinstance(version, RemoteIndex):
            raise IndexLoadError(f"index at {version.path} is not a version of the qdrant backend")
        return version.engine()

    def prepare(self, base: Path | None) -> None:
        if base is not None:
            reconcile(self.target, read_manifest(base))

    def current(self, base: Path, embedder, rebuild: bool = False):
        """A ledger's documents. An update carries a version folder's (another backend's) over
        whole, as a build would write them; a rebuild reuses only this server's points."""
        manifest = read_manifest(base)
        if not is_ledger(manifest):
            if rebuild:
                raise IndexLoadError("it is not a ledger of the qdrant backend")
            return FolderCurrent.load(base, embedder)
        reason = mismatch(manifest, Wanted.of_embedder(embedder))
        if reason is not None:  # as a version folder of another model is refused
            raise IndexLoadError(f"index at {base} cannot be updated: {reason}; rebuild it with `khamtop index build`")
        if rebuild:
            reason = target_mismatch(manifest, self.target)
            if reason is not None:
                raise IndexLoadError(reason)
        return LedgerCurrent(Base(int(manifest["version"]), Ledger.load(base), manifest["engine"]))

    def write(self, folder: Path, planned: Planned, embedder, config, number: int, base: Path | None) -> dict:
        """The points into a Qdrant collection, the ledger into ``folder``."""
        tokenize = Tokenizer()
        version = Assembled.of(planned.fresh if planned.base is not None else planned.parts, embedder.dim)
        part = SearchPart.assembled(version, number, None)
        tokens = passage_words(tokenize, version.passage_texts())
        if planned.base is None:
            # The word ids of the version this one replaces (a build: of the live one), kept.
            words = WordIds.load(base) if base is not None else previous_words(folder.parent)
            engine, ledger = write_build(part, tokens, self.target, words)
        else:
            engine, ledger = write_update(part, tokens, self.target, planned.base, list(planned.ended), planned.whole)
        ledger.save(folder)
        corpus = {"hashes": checksum_of_hashes({d: e.hash for d, e in ledger.entries.items()}), **ledger.totals()}
        extra = {
            "layout": LEDGER_LAYOUT,
            "engine": engine,
            "keyword": {"library": "khamtop (bm25s's lucene formula)", "tokenizer": tokenize.describe()},
        }
        return write_manifest(
            folder, list(LEDGER_FILES), number, planned.change, embedder, config.chunker, corpus, extra
        )

    def published(self, manifest: dict) -> None:
        # Only now, with the folder committed: a replica that follows the alias never finds a
        # collection whose version the folder does not have.
        move_alias(self.target, manifest["engine"]["collection"], manifest)

    def forget(self, home: Path) -> None:
        """The alias and every collection published under it."""
        forget(self.target)
