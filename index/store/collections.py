"""Collections: each document belongs to one, and each collection is an index home of its own
(its versions, its CURRENT, its write lock), searched on its own. The collection ``default`` is
the index folder itself, so an index built before collections existed is ``default`` as it is;
every other lives in ``collections/NAME/`` inside it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from index.store import versions

DEFAULT = "default"
COLLECTIONS_DIR = "collections"
# Lower-case letters, digits and hyphens, from a letter: a folder name on every file system, a
# URL path segment as it is, and a Qdrant alias's suffix (index.backends.qdrant) without "_".
NAME = re.compile(r"[a-z][a-z0-9-]{0,39}")


class CollectionError(ValueError):
    """A collection name that cannot be one, or a collection that is not there."""


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise CollectionError(
            f"{name!r} is not a collection name: 1-40 lower-case letters, digits and hyphens, from a letter"
        )
    return name


def home_of(root: Path, name: str) -> Path:
    """Where collection ``name``'s versions live under the index folder ``root``."""
    check_name(name)
    return Path(root) if name == DEFAULT else Path(root) / COLLECTIONS_DIR / name


def exists(root: Path, name: str) -> bool:
    """Whether collection ``name`` is there (``default`` always is: it is the index folder; another
    is there from ``create`` on, before it holds any document)."""
    return name == DEFAULT or home_of(root, name).is_dir()


def names(root: Path) -> list[str]:
    """Every collection under ``root``: ``default`` first, then by name."""
    folder = Path(root) / COLLECTIONS_DIR
    others = (
        sorted(p.name for p in folder.iterdir() if p.is_dir() and NAME.fullmatch(p.name)) if folder.is_dir() else []
    )
    return [DEFAULT, *others]


def create(root: Path, name: str) -> Path:
    """A new, empty collection; its first documents make its first version."""
    home = home_of(root, name)
    if exists(root, name):
        raise CollectionError(f"the collection {name!r} exists already")
    home.mkdir(parents=True)
    return home


def drop(root: Path, name: str, forget=None) -> None:
    """Remove collection ``name`` and every version of it, under its write lock (a writer that
    held it finishes first). ``default`` cannot be dropped: it is the index folder itself.
    ``forget(home)``: removes what its backend holds outside the folder (index.backends.base.Backend),
    first: if that fails, the collection is kept and the error raised."""
    if name == DEFAULT:
        raise CollectionError("the collection 'default' cannot be dropped: remove its documents instead")
    home = home_of(root, name)
    if not exists(root, name):
        raise CollectionError(f"no collection {name!r}")
    with versions.writer(home, fresh=True):
        if forget is not None:
            forget(home)
        # Renamed aside first: a reader never finds a half-removed collection, only none.
        gone = home.with_name(f".{name}.dropped")
        shutil.rmtree(gone, ignore_errors=True)
        home.rename(gone)
    shutil.rmtree(gone, ignore_errors=True)
