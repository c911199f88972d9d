"""Collections' own keys: made, listed and revoked by an admin while the service runs, kept in
the index folder (``keys.json``) as SHA-256 hashes only; a key is shown once, when it is made.

A key is ``khk_ID_SECRET``: ``ID`` names it in lists and revocations, and the secret is 32
random bytes, so a plain hash is enough (nothing to guess from). A collection's search key asks
and reads that collection only; its admin key also adds and removes that collection's
documents. The environment's keys (``KHAMTOP_SEARCH_KEY``, ``KHAMTOP_ADMIN_KEY``) stay global.
A collection that has ever had a key of its own stays closed (it needs a key, even where no
global search key is set) until it is dropped: revoking its last key does not open it.

A scoped key (``khs_ID_MAC_FILTER``) carries a fixed filter, signed with a secret derived from
``KHAMTOP_ADMIN_KEY``, which is not in the file: reading ``keys.json`` gives no way to make one.

The file is written whole under a lock and renamed into place; every process reads it again when
it changes, so a key made or revoked by ``khamtop keys`` or another service counts at the next
request.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from index.store import collections

log = logging.getLogger("khamtop")
KEYS_FILE = "keys.json"
LOCK_FILE = ".keys.lock"
SCOPED_PREFIX = "khs_"
MAX_SCOPE_CHARS = 2_000  # a scoped key's filter, encoded: it travels in a header
Role = Literal["search", "admin"]
ROLES: tuple[Role, ...] = ("search", "admin")
PREFIX = "khk_"
_HEX = re.compile(r"[0-9a-f]{64}")
_MAC = re.compile(r"[0-9a-f]{32}")
_ID = re.compile(r"[0-9a-f]{12}")


class KeyRequestError(ValueError):
    """A key that cannot be made or revoked (an unknown role, collection or id)."""


@dataclass(frozen=True)
class KeyRecord:
    id: str
    collection: str
    role: Role
    label: str
    created_at: str
    sha256: str

    def public(self) -> dict:
        """What a list shows: all but the hash."""
        return {k: v for k, v in asdict(self).items() if k != "sha256"}


def scope_secret(admin_key: str | None) -> bytes | None:
    """What scoped keys are signed with: derived from the global admin key (None: no scoped keys)."""
    if not admin_key:
        return None
    return hmac.new(admin_key.encode(), b"khamtop scoped search keys", hashlib.sha256).digest()


def _scope_mac(secret: bytes, key_id: str, body: str) -> str:
    return hmac.new(secret, f"scope\0{key_id}\0{body}".encode(), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class KeySet:
    records: tuple[KeyRecord, ...]
    viewer_secret: bytes | None  # signs viewer links of collections that have keys of their own
    closed_names: frozenset[str] = frozenset()  # every collection that has had a key
    damaged: bool = False  # the file cannot be read: no key of its opens anything, every collection is closed

    def find(self, presented: str | None) -> KeyRecord | None:
        if not presented or not presented.startswith(PREFIX):
            return None
        digest = hashlib.sha256(presented.encode()).hexdigest()
        found = None
        for record in self.records:  # every record compared, in constant time each
            if hmac.compare_digest(record.sha256, digest):
                found = record
        return found

    def find_scoped(self, presented: str | None, secret: bytes | None) -> tuple[KeyRecord, dict] | None:
        """A scoped key's parent (a collection's search key, still there) and the filter it
        carries, if the key was made with ``secret`` and is unaltered."""
        if secret is None or not presented or not presented.startswith(SCOPED_PREFIX):
            return None
        if len(presented) > MAX_SCOPE_CHARS + 80:
            return None
        key_id, _, rest = presented[len(SCOPED_PREFIX) :].partition("_")
        mac, _, body = rest.partition("_")
        if not _ID.fullmatch(key_id) or not _MAC.fullmatch(mac) or not body:
            return None
        parent = next((r for r in self.records if r.id == key_id and r.role == "search"), None)
        if parent is None or not hmac.compare_digest(_scope_mac(secret, key_id, body), mac):
            return None
        try:
            only = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except (ValueError, TypeError):
            return None
        return (parent, only) if isinstance(only, dict) else None

    def closed(self, collection: str) -> bool:
        """Whether ``collection`` needs a key of its own or a global one."""
        return self.damaged or collection in self.closed_names or any(r.collection == collection for r in self.records)

    def admins(self) -> bool:
        return any(r.role == "admin" for r in self.records)


def scope_key(key: str, only: dict, secret: bytes | None) -> str:
    """A search key that carries the filter ``only`` (as the API's ``filter``), made from a
    collection's search key, for a public page that must show one department's documents only.
    No request can widen its filter; revoking the key it was made from revokes it too.
    ``secret``: ``scope_secret(KHAMTOP_ADMIN_KEY)``. (Typesense's scoped search keys are the model.)"""
    if secret is None:
        raise KeyRequestError("scoped keys are signed with a secret derived from KHAMTOP_ADMIN_KEY: set it")
    if not key.startswith(PREFIX) or key.count("_") < 2:
        raise KeyRequestError("a scoped key is made from a collection's search key (khk_...)")
    key_id = key[len(PREFIX) :].split("_", 1)[0]
    body = base64.urlsafe_b64encode(json.dumps(only, sort_keys=True, separators=(",", ":")).encode()).decode()
    body = body.rstrip("=")
    if len(body) > MAX_SCOPE_CHARS:
        raise KeyRequestError(
            f"the filter is too long for a key: {len(body):,} characters encoded, at most {MAX_SCOPE_CHARS:,}"
        )
    return f"{SCOPED_PREFIX}{key_id}_{_scope_mac(secret, key_id, body)}_{body}"


def _record(raw: dict) -> KeyRecord:
    record = KeyRecord(**raw)
    if not (_HEX.fullmatch(record.sha256) and _ID.fullmatch(record.id) and record.role in ROLES):
        raise ValueError(f"key record {record.id!r} is malformed")
    collections.check_name(record.collection)
    return record


class KeyStore:
    """The key file of an index folder, read again whenever it changes."""

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / KEYS_FILE
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._keys = KeySet((), None)

    def current(self) -> KeySet:
        try:
            stat = self.path.stat()
            seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)  # a rename makes a new inode
        except FileNotFoundError:
            seen = None
        if seen != self._seen:
            with self._lock:
                self._keys, self._seen = self._read(), seen
        return self._keys

    def _read(self) -> KeySet:
        try:
            body = json.loads(self.path.read_text("utf-8"))
            records = tuple(_record(r) for r in body.get("keys", []))
            secret = body.get("viewer_secret")
            closed = frozenset(collections.check_name(n) for n in body.get("closed", []))
            return KeySet(records, bytes.fromhex(secret) if secret else None, closed | {r.collection for r in records})
        except FileNotFoundError:
            return KeySet((), None)
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            # Closed rather than open: a damaged file must not make a department's collection public.
            log.error("the key file %s cannot be read, so no collection key opens anything: %s", self.path, exc)
            return KeySet((), None, damaged=True)

    @contextlib.contextmanager
    def _changing(self):
        """The file's lock, across processes (a CLI and services), and its keys as they are now."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, (self.path.parent / LOCK_FILE).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                keys = self._read()
                if keys.damaged:
                    raise KeyRequestError(f"the key file {self.path} cannot be read: repair or remove it first")
                yield keys
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write(self, keys: KeySet, records: list[KeyRecord], closed: set[str]) -> None:
        body = {
            "viewer_secret": (keys.viewer_secret or secrets.token_bytes(32)).hex(),
            "closed": sorted(closed),
            "keys": [asdict(r) for r in records],
        }
        staged = self.path.with_name(f".{KEYS_FILE}.tmp-{os.getpid()}-{threading.get_ident()}")
        # Made private before anything is written into it.
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(body, f, ensure_ascii=False, indent=2)
            f.flush()
            os.fsync(f.fileno())
        staged.replace(self.path)

    def make(self, collection: str, role: str, label: str = "") -> tuple[KeyRecord, str]:
        """A new key for ``collection`` (which must be there); returns its record and the key,
        which is not kept anywhere."""
        collections.check_name(collection)
        if role not in ROLES:
            raise KeyRequestError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if len(label) > 200:
            raise KeyRequestError("label: at most 200 characters")
        if not collections.exists(self.path.parent, collection):
            raise KeyRequestError(f"no collection {collection!r}")
        key_id = secrets.token_hex(6)
        key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        record = KeyRecord(
            key_id,
            collection,
            role,
            label,
            datetime.now(UTC).isoformat(timespec="seconds"),
            hashlib.sha256(key.encode()).hexdigest(),
        )
        with self._changing() as keys:
            self._write(keys, [*keys.records, record], set(keys.closed_names) | {collection})
        return record, key

    def revoke(self, key_id: str) -> KeyRecord:
        """Revoke a key; its collection stays closed (its documents do not become public)."""
        with self._changing() as keys:
            gone = next((r for r in keys.records if r.id == key_id), None)
            if gone is None:
                raise KeyRequestError(f"no key {key_id!r}")
            self._write(keys, [r for r in keys.records if r.id != key_id], set(keys.closed_names))
        return gone

    def forget_collection(self, collection: str) -> None:
        """A dropped collection's keys, and its being closed: one made later under the name starts afresh."""
        with self._changing() as keys:
            if collection in keys.closed_names:
                kept = [r for r in keys.records if r.collection != collection]
                self._write(keys, kept, set(keys.closed_names) - {collection})
