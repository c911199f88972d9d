"""The embedded backend: a version is its folder's files (index.folder), searched in process by
FAISS, BM25 and the stored vectors (index.folder.engine). It serves any version that has those
files, a qdrant-edge version's too."""

from __future__ import annotations

from pathlib import Path

from index.backends.base import Planned
from index.build.version import FolderCurrent
from index.folder.load import LoadedIndex, load_index
from index.folder.write import write_folder
from index.store import versions
from index.store.manifest import not_in_folder


class EmbeddedBackend:
    name = "embedded"

    def refuses_changes(self) -> str | None:
        return None

    def shares_its_store(self) -> bool:
        return False

    def mismatch(self, manifest: dict) -> str | None:
        return not_in_folder(manifest)

    def live_name(self, home: Path) -> str | None:
        return versions.read_current(home)

    def open(self, home: Path, embedder, name: str | None = None) -> LoadedIndex:
        return load_index(home, embedder)

    def engine(self, version: LoadedIndex):
        return version.engine()

    def prepare(self, base: Path | None) -> None:
        return None

    def current(self, base: Path, embedder, rebuild: bool = False) -> FolderCurrent:
        return FolderCurrent.load(base, embedder)

    def write(self, folder: Path, planned: Planned, embedder, config, number: int, base: Path | None) -> dict:
        return write_folder(folder, planned.parts, embedder, config, number, planned.change)

    def published(self, manifest: dict) -> None:
        return None

    def forget(self, home: Path) -> None:
        return None  # everything it writes is in the folder
