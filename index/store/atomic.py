"""All-or-nothing replacement of a folder (an index, a converted model).

The new content is written into a hidden sibling folder, flushed to disk, then renamed into
place. A directory cannot be renamed over a non-empty one, so an existing target is first moved
aside (``.NAME.old-*``) and removed after; if the process dies between the two renames,
``recover_moved_aside`` puts the old folder back on the next load.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def fsync_path(path: Path) -> None:
    """Flush a file's or a directory's entry to disk (so a power cut cannot expose empty files)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_sibling(target: Path) -> Path:
    """A fresh hidden folder beside ``target``, on the same file system (rename stays atomic)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    return tmp


def replace_dir(new: Path, target: Path) -> None:
    """Rename the complete folder ``new`` to ``target``, replacing any folder there."""
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(target, old)
    try:
        os.rename(new, target)
    except BaseException:
        if old is not None:  # put the previous folder back rather than lose both
            os.rename(old, target)
        raise
    fsync_path(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def recover_moved_aside(target: Path, marker: str) -> None:
    """If ``target`` is missing but a moved-aside copy holding ``marker`` exists, restore it."""
    if target.exists() or not target.parent.is_dir():
        return
    candidates = sorted(target.parent.glob(f".{target.name}.old-*"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in candidates:
        if (old / marker).is_file():
            os.rename(old, target)
            return


@contextmanager
def staged_dir(target: Path) -> Iterator[Path]:
    """Yield a temporary folder to fill; on success it replaces ``target``, on error it is removed."""
    tmp = temp_sibling(target)
    try:
        yield tmp
        fsync_path(tmp)
        replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
