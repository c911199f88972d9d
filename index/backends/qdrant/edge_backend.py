"""The qdrant-edge backend: a version is its folder's files plus its search part written as
Qdrant shards in the folder (index.backends.qdrant.edge), searched in process by Qdrant's engine."""

from __future__ import annotations

from pathlib import Path

from index.backends.base import Planned
from index.backends.qdrant.edge import EdgeEngine, EdgeLayout, edge_files, layout_mismatch, write_edge
from index.backends.qdrant.points import SearchPart, previous_words
from index.backends.qdrant.sparse import WORD_IDS_FILE, WordIds
from index.build.version import FolderCurrent
from index.folder.load import LoadedIndex, load_index
from index.folder.write import write_folder
from index.store import versions
from index.store.manifest import not_in_folder


class EdgeBackend:
    name = "qdrant-edge"

    def __init__(self, layout: EdgeLayout) -> None:
        self.layout = layout

    def refuses_changes(self) -> str | None:
        return None

    def shares_its_store(self) -> bool:
        return False

    def mismatch(self, manifest: dict) -> str | None:
        return not_in_folder(manifest) or layout_mismatch(manifest, self.layout)

    def live_name(self, home: Path) -> str | None:
        return versions.read_current(home)

    def open(self, home: Path, embedder, name: str | None = None) -> LoadedIndex:
        return load_index(home, embedder)

    def engine(self, version: LoadedIndex) -> EdgeEngine:
        return EdgeEngine(version.path)

    def prepare(self, base: Path | None) -> None:
        return None

    def current(self, base: Path, embedder, rebuild: bool = False) -> FolderCurrent:
        return FolderCurrent.load(base, embedder)

    def write(self, folder: Path, planned: Planned, embedder, config, number: int, base: Path | None) -> dict:
        def shards(folder: Path, version, keyword) -> tuple[dict, list[str]]:
            # The word ids of the version this one is made from (a build: of the live one), kept.
            words = WordIds.load(base) if base is not None else previous_words(folder.parent)
            info = write_edge(folder, SearchPart.assembled(version, number, keyword), self.layout, words)
            return {"engine": info}, [*edge_files(folder), WORD_IDS_FILE]

        return write_folder(folder, planned.parts, embedder, config, number, planned.change, shards)

    def published(self, manifest: dict) -> None:
        return None

    def forget(self, home: Path) -> None:
        return None  # everything it writes is in the folder
