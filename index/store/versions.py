"""Index versions: every change writes a complete new folder; a pointer file names the live one.

    data/index/
      CURRENT        "v000007": the version readers load (replaced atomically, never edited)
      v000006/       an older version, kept for a while so that a reader that just resolved
      v000007/       CURRENT can finish loading it
      .write.lock    held by the one writer at a time (flock: the CLI and the service share it)

A version folder is never changed once it has its name. A writer fills a hidden temporary folder,
flushes it, renames it to its version name, then replaces CURRENT (write, fsync, rename), so a
crash at any moment leaves CURRENT naming a complete, checksummed version: the old one or the new.
Leftover temporary folders are removed by the next writer.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from index.store.atomic import fsync_path
from index.store.manifest import MANIFEST_FILE

CURRENT_FILE = "CURRENT"
LOCK_FILE = ".write.lock"
KEEP_VERSIONS = 3
_NAME = re.compile(r"^v(\d{6,})$")


class VersionError(RuntimeError):
    """CURRENT is missing, unreadable, or names a version folder that is not there."""


def version_name(number: int) -> str:
    return f"v{number:06d}"


def version_number(name: str) -> int | None:
    match = _NAME.match(name)
    return int(match.group(1)) if match else None


def read_current(home: Path) -> str | None:
    """The live version's folder name, or None when there is no CURRENT."""
    try:
        name = (Path(home) / CURRENT_FILE).read_text("ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise VersionError(f"cannot read {Path(home) / CURRENT_FILE}: {exc}") from exc
    if version_number(name) is None:
        raise VersionError(f"{Path(home) / CURRENT_FILE} is damaged: {name[:40]!r} is not a version name")
    return name


def current_path(home: Path) -> Path | None:
    """The live version's folder, or None when nothing was ever committed here."""
    name = read_current(home)
    if name is None:
        return None
    path = Path(home) / name
    if not path.is_dir():
        raise VersionError(f"{Path(home) / CURRENT_FILE} names {name}, which is missing")
    return path


def versions(home: Path) -> list[int]:
    home = Path(home)
    if not home.is_dir():
        return []
    return sorted(n for p in home.iterdir() if p.is_dir() and (n := version_number(p.name)) is not None)


@dataclass
class Writer:
    """The one writer of an index home, holding its lock. ``base`` is the live version's folder."""

    home: Path
    base: Path | None

    def commit(self, fill: Callable[[Path, int], None]) -> tuple[int, Path]:
        """Write a new version with ``fill(folder, number)`` and make it the live one."""
        number = max(versions(self.home), default=0) + 1
        tmp = self.home / f".{version_name(number)}.tmp-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            fill(tmp, number)
            for file in tmp.rglob("*"):
                if file.is_file():
                    fsync_path(file)
            fsync_path(tmp)
            final = self.home / version_name(number)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        fsync_path(self.home)
        _point_current(self.home, final.name)
        # The version this one was made from stays too: it was the last one served.
        kept = {final.name} | ({self.base.name} if self.base is not None else set())
        self.base = final
        _prune(self.home, keep=kept)
        return number, final


def _point_current(home: Path, name: str) -> None:
    tmp = home / f".{CURRENT_FILE}.tmp-{uuid.uuid4().hex[:8]}"
    with tmp.open("w", encoding="ascii") as f:
        f.write(name + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, home / CURRENT_FILE)
    fsync_path(home)


def _prune(home: Path, keep: set[str]) -> None:
    """Remove all but the newest KEEP_VERSIONS versions (never those in ``keep``)."""
    numbers = versions(home)
    for number in numbers[:-KEEP_VERSIONS]:
        if version_name(number) not in keep:
            shutil.rmtree(home / version_name(number), ignore_errors=True)


@contextmanager
def writer(home: Path, served: str | None = None, fresh: bool = False) -> Iterator[Writer]:
    """Hold the index home's write lock (waiting for another writer to finish). The new version
    starts from the live one: CURRENT's, or, when CURRENT is missing or names no folder, the
    version ``served`` (what the service in this process answers from). A home that has versions
    but no way to tell which is live is refused rather than started again from nothing, unless
    the write is ``fresh`` (a build, which replaces everything)."""
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    with (home / LOCK_FILE).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            # With the lock held no other writer is running: any temporary folder is a dead one.
            for leftover in home.glob(".v*.tmp-*"):
                shutil.rmtree(leftover, ignore_errors=True)
            for leftover in home.glob(f".{CURRENT_FILE}.tmp-*"):
                leftover.unlink(missing_ok=True)
            yield Writer(home, None if fresh else _base(home, served))
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _base(home: Path, served: str | None) -> Path | None:
    """The version a write starts from (None: the home has no versions yet)."""
    try:
        live = current_path(home)
    except VersionError as exc:
        problem = str(exc)
    else:
        if live is not None:
            return live
        problem = f"{home / CURRENT_FILE} is missing"
    existing = versions(home)
    # What this process serves, if nothing newer was written since (a newer version, from the CLI,
    # would be lost by starting from the served one).
    if served is not None and existing and version_number(served) == existing[-1]:
        return home / version_name(existing[-1])
    if (home / MANIFEST_FILE).is_file():
        raise VersionError(
            f"{home} holds an index of an old format (no versions): rebuild it with `khamtop index build`"
        )
    if not existing and not (home / CURRENT_FILE).exists():
        return None  # a new index
    found = f"versions {version_name(existing[0])}-{version_name(existing[-1])}" if existing else "no version folders"
    example = version_name(existing[-1]) if existing else "v000001"
    raise VersionError(
        f"{problem}, and the index has {found}: which one is live cannot be told, so nothing was "
        f"written. Restore CURRENT (it holds the live version's name, e.g. `echo {example} > "
        f"{home / CURRENT_FILE}`) or rebuild with `khamtop index build`"
    )
