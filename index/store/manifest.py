"""A version's manifest, whatever its backend: what it was written with and the checksum of every
file it serves; a version is not served unless its files match (index.folder.load, the backends)."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

# 2: keyword (BM25) index added; 3: sentence spans and vectors; 4: passages indexed with their title;
# 5: versions (index.store.versions), the manifest names its version and the change that made it;
# 6: chunks and sentences loaded from span arrays (a 100k-passage index loads in half the time);
# 7: passage vectors in their own file (float32, memory-mapped), sentence vectors in int8 with a
# scale per row, HNSW over SQ8 above the exact-search size, texts as mapped code points apart
# from the documents' metadata (index.folder.vectors, index.folder.ann, index.folder.doctable): memory at 1M passages.
# Old formats are not read: the set-up rebuilds them (index.store.compat).
FORMAT = "khamtop-index/7"
MANIFEST_FILE = "manifest.json"


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


def layout_owner(manifest: dict) -> str | None:
    """The backend whose own layout a version has, its passages not in the folder's files (a
    qdrant ledger); None for a version folder any folder backend serves."""
    if manifest.get("layout") is None:
        return None
    return (manifest.get("engine") or {}).get("engine", "another")


def not_in_folder(manifest: dict) -> str | None:
    """Why a folder backend cannot serve this version (None: it can)."""
    owner = layout_owner(manifest)
    return f"it was written for the {owner} backend: its passages are not in its folder" if owner else None


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
