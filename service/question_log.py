"""The question log: each question asked, per collection, with what the service answered, kept in
an embedded SQLite file (WAL) for ``KHAMTOP_LOG_RETENTION_DAYS``.

What is kept, and what is not (privacy by default):
- the question with national ID numbers, phone numbers and e-mail addresses masked
  (service.masking) before it is stored;
- no client address: at most a hash of it under a salt that changes every day (the salt is made
  from a secret kept in the file and the date, and never stored), enough to count distinct askers
  in a day and to link nobody across days;
- a feedback token's hash, never the token: the asker's client gets the token once, in the
  answer, and it can vote once (``vote``), on that question only.

Writes happen on a thread of their own, off the event loop. A question is recorded with
``record`` without waiting, and a full queue drops the entry rather than delay an answer (the
metric counts what was dropped). Everything else is a call that waits for the thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import queue
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from service.masking import mask

log = logging.getLogger("khamtop.questions")

QUEUE = 10_000  # entries waiting to be written; beyond it they are dropped (counted)
PRUNE_EVERY_S = 3_600
MAX_COMMENT_CHARS = 500
MAX_ROWS = 20_000  # the newest questions a report reads
BATCH = 256  # questions written in one transaction when they queue up

_COLUMNS = """
    collection TEXT NOT NULL,
    asked_at {real} NOT NULL,
    question TEXT NOT NULL,
    mode TEXT NOT NULL,
    read INTEGER NOT NULL,
    no_answer INTEGER NOT NULL,
    answer_kind TEXT,
    confidence {real},
    cited TEXT NOT NULL,
    latency_ms {real} NOT NULL,
    index_version INTEGER,
    asker TEXT,
    token_hash TEXT UNIQUE,
    helpful INTEGER,
    comment TEXT,
    voted_at {real}
"""
_TABLES = [
    "CREATE TABLE IF NOT EXISTS questions (id {id}," + _COLUMNS + ")",
    "CREATE INDEX IF NOT EXISTS questions_by_collection ON questions (collection, asked_at)",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
]


_DDL_LOCK = 0x6B68_616D  # the advisory lock replicas take to create the tables


class _SQLite:
    """The embedded file (the default): WAL, so that a report or a second process reads while
    the service writes."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self):
        """A connection of its own that only reads (a report): never the writer's, never a write."""
        if not self.path.is_file():
            raise QuestionLogError(f"no question log at {self.path}")
        return sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)

    def connect(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Another process (the CLI's report, a second worker) may hold the file a moment.
        db = sqlite3.connect(self.path, isolation_level=None, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # WAL: a crash loses at most the last moments, never the file
        for statement in _TABLES:
            db.execute(statement.format(id="INTEGER PRIMARY KEY", real="REAL"))
        return db

    @staticmethod
    def sql(text: str) -> str:
        return text

    @staticmethod
    def insert_many(db, text: str, rows: list[tuple]) -> None:
        db.execute("BEGIN")
        try:
            db.executemany(text, rows)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    lost = sqlite3.OperationalError


class _Postgres:
    """A PostgreSQL database (``KHAMTOP_QUESTION_LOG_URL``): replicas behind a load balancer
    share one log."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            import psycopg
        except ImportError as exc:
            raise QuestionLogError(
                "KHAMTOP_QUESTION_LOG_URL needs the PostgreSQL driver: pip install 'khamtop[postgres]'"
            ) from exc
        self.psycopg = psycopg
        self.lost = psycopg.OperationalError

    def read(self):
        db = self._connect()
        db.execute("SET default_transaction_read_only = on")
        return db

    def _connect(self):
        # A server that stops answering must not hold the writer for ever: keepalives, and a
        # statement time limit.
        return self.psycopg.connect(
            self.url,
            autocommit=True,
            connect_timeout=10,
            keepalives=1,
            keepalives_idle=30,
            options="-c statement_timeout=30000",
        )

    def connect(self):
        db = self._connect()
        # Replicas starting together would race on CREATE ... IF NOT EXISTS (not atomic in
        # PostgreSQL): one at a time, under an advisory lock of the database's.
        with db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
            for statement in _TABLES:
                db.execute(statement.format(id="BIGSERIAL PRIMARY KEY", real="DOUBLE PRECISION"))
        return db

    @staticmethod
    def sql(text: str) -> str:
        return text.replace("?", "%s")

    @staticmethod
    def insert_many(db, text: str, rows: list[tuple]) -> None:
        with db.transaction(), db.cursor() as cursor:
            cursor.executemany(text, rows)


class QuestionLogError(Exception):
    """The question log cannot be opened (said at start: questions are still answered)."""


@dataclass(frozen=True)
class Asked:
    """One question and what it was answered."""

    collection: str
    question: str
    mode: str
    read: bool
    no_answer: bool
    answer_kind: str | None
    confidence: float | None
    cited: list[str]  # the cited documents, in rank order
    latency_ms: float
    index_version: int | None
    client: str | None = None  # the client's address: hashed with the day's salt, never stored
    token: str | None = None  # the feedback token handed to the client: only its hash is stored
    asked_at: float = field(default_factory=time.time)


class VoteRefused(Exception):
    """A vote with a token that was never given, was used already, or has expired."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(24)


class QuestionLog:
    """The log in ``path`` (created, with its folder, if missing), or, given ``url``, in that
    PostgreSQL database."""

    def __init__(
        self, path: Path, retention_days: int, on_drop: Callable[[], None] = lambda: None, url: str | None = None
    ) -> None:
        self.path, self.retention_days, self._on_drop = path, retention_days, on_drop
        self._store = open_store(path, url)
        self._queue: queue.Queue = queue.Queue(QUEUE)
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="khamtop-question-log", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._failed is not None:
            raise self._failed

    # -- called from the service ------------------------------------------------------------

    def record(self, asked: Asked) -> None:
        """Queue ``asked`` for writing; never waits (a full queue drops it)."""
        try:
            self._queue.put_nowait(("record", asked, None))
        except queue.Full:
            self._on_drop()

    def vote(self, token: str, helpful: bool, comment: str | None) -> str:
        """Record the vote of the question that ``token`` was given with; returns its collection.
        The token works once (VoteRefused after)."""
        return self._call(self._vote, token, helpful, comment)

    def delete_collection(self, collection: str) -> int:
        """Forget every question asked of ``collection``; returns how many."""
        return self._call(self._delete, collection)

    def rows(
        self, collection: str, since: float = 0.0, until: float = float("inf"), limit: int | None = None
    ) -> list[dict]:
        """The newest ``limit`` (MAX_ROWS) questions asked of ``collection`` from ``since`` to
        before ``until`` (epoch seconds), oldest first: read on a connection of its own, so that a
        report never holds up the writer."""
        return read_rows(self._store, collection, since, until, limit or MAX_ROWS)

    def prune(self, now: float | None = None) -> int:
        """Delete what is older than the retention; returns how many."""
        return self._call(self._prune, now)

    def flush(self) -> None:
        """Wait until everything queued before this call is written."""
        self._call(lambda: None)

    def close(self) -> None:
        try:
            self._queue.put(("stop", None, None), timeout=10)
        except queue.Full:  # a writer stuck on its database: the process is ending anyway (daemon thread)
            log.error("the question log's writer did not stop: %d entries unwritten", self._queue.qsize())
            return
        self._thread.join(timeout=10)

    # -- the writer thread --------------------------------------------------------------------

    def _call(self, function, *args):
        done: Future = Future()
        self._queue.put(("call", (function, args), done), timeout=30)
        return done.result(timeout=30)

    def _run(self) -> None:
        self._salts: dict[str, bytes] = {}
        try:
            self._db = self._store.connect()
            self._prune(None)
        except BaseException as exc:  # the service says why it has no log; the log is not the answer
            self._failed = exc
            self._ready.set()
            return
        self._ready.set()
        pruned_at, nxt = time.monotonic(), None
        while True:
            try:
                kind, payload, done = nxt if nxt is not None else self._queue.get(timeout=60)
            except queue.Empty:
                kind, payload, done = "idle", None, None
            nxt = None
            if kind == "stop":
                if self._db is not None:
                    self._db.close()
                return
            try:
                if kind == "record":
                    # Those queued behind it go in the same transaction: one commit for many.
                    batch, later = [payload], None
                    while len(batch) < BATCH and later is None:
                        try:
                            entry = self._queue.get_nowait()
                        except queue.Empty:
                            break
                        if entry[0] == "record":
                            batch.append(entry[1])
                        else:
                            later = entry
                    self._again_if_lost(self._insert, batch)
                    nxt = later  # a call or the stop, next: after what was queued before it
                elif kind == "call":
                    function, args = payload
                    done.set_result(self._again_if_lost(function, *args))
            except Exception as exc:  # one bad write must not stop the log
                if done is not None:
                    done.set_exception(exc)
                else:
                    log.error("a question could not be logged: %s", exc)
            if time.monotonic() - pruned_at > PRUNE_EVERY_S:
                try:
                    self._again_if_lost(self._prune, None)
                except Exception as exc:
                    log.error("old questions could not be deleted: %s", exc)
                pruned_at = time.monotonic()

    def _again_if_lost(self, function, *args):
        """``function(*args)``, once more on a new connection if the database went away (a
        PostgreSQL server restarted); a connection that could not be made is tried again at the
        next entry."""
        if self._db is None:
            self._db = self._store.connect()
        try:
            return function(*args)
        except self._store.lost:
            with contextlib.suppress(Exception):  # closing what is already broken
                self._db.close()
            self._db = None
            self._db = self._store.connect()
            return function(*args)

    def _execute(self, text: str, params=()):
        return self._db.execute(self._store.sql(text), params)

    def _salt(self, day: str) -> bytes:
        """The day's salt: random, made by whichever replica asks first that day, shared through
        the store, and deleted with the days before it, so that no hash can be linked to another
        day's, nor tried against every address once the day is over."""
        if day not in self._salts:
            self._execute(
                "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                (f"salt:{day}", secrets.token_hex(32)),
            )
            value = self._execute("SELECT value FROM meta WHERE name = ?", (f"salt:{day}",)).fetchone()[0]
            self._execute("DELETE FROM meta WHERE name LIKE ? AND name < ?", ("salt:%", f"salt:{day}"))
            self._salts = {day: bytes.fromhex(value)}
        return self._salts[day]

    def _asker(self, client: str | None, when: float) -> str | None:
        if not client:
            return None
        salt = self._salt(datetime.fromtimestamp(when, UTC).date().isoformat())
        return hmac.new(salt, client.encode(), hashlib.sha256).hexdigest()[:16]

    def _insert(self, batch: list[Asked]) -> None:
        rows = [
            (
                asked.collection,
                asked.asked_at,
                mask(asked.question),
                asked.mode,
                int(asked.read),
                int(asked.no_answer),
                asked.answer_kind,
                asked.confidence,
                json.dumps(asked.cited, ensure_ascii=False),
                round(asked.latency_ms, 2),
                asked.index_version,
                self._asker(asked.client, asked.asked_at),
                token_hash(asked.token) if asked.token else None,
            )
            for asked in batch
        ]
        text = self._store.sql(
            "INSERT INTO questions (collection, asked_at, question, mode, read, no_answer, answer_kind, confidence,"
            " cited, latency_ms, index_version, asker, token_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        try:
            self._store.insert_many(self._db, text, rows)
        except self._store.lost:
            raise
        except Exception:  # one row the store refuses must not lose the others
            for row in rows:
                try:
                    self._db.execute(text, row)
                except self._store.lost:
                    raise
                except Exception as exc:
                    log.error("a question could not be logged: %s", exc)

    def _vote(self, token: str, helpful: bool, comment: str | None) -> str:
        if comment is not None:
            comment = mask(comment.strip())[:MAX_COMMENT_CHARS] or None
        cutoff = time.time() - self.retention_days * 86_400
        row = self._execute(
            "UPDATE questions SET helpful = ?, comment = ?, voted_at = ?, token_hash = NULL"
            " WHERE token_hash = ? AND asked_at >= ? RETURNING collection",
            (int(helpful), comment, time.time(), token_hash(token), cutoff),
        ).fetchone()
        if row is None:
            raise VoteRefused("no question was answered with this feedback token, or it has been used")
        return row[0]

    def _delete(self, collection: str) -> int:
        return self._execute("DELETE FROM questions WHERE collection = ?", (collection,)).rowcount

    def _prune(self, now: float | None = None) -> int:
        cutoff = (time.time() if now is None else now) - self.retention_days * 86_400
        return self._execute("DELETE FROM questions WHERE asked_at < ?", (cutoff,)).rowcount


def open_store(path: Path, url: str | None):
    """The store of the log at ``path`` or, given ``url``, in that PostgreSQL database."""
    return _Postgres(url) if url else _SQLite(path)


def read_rows(store, collection: str, since: float, until: float, limit: int = MAX_ROWS) -> list[dict]:
    """The newest ``limit`` questions of ``collection`` in [since, until), oldest first, on a
    read-only connection of their own (no table made, nothing pruned: a report changes nothing)."""
    db = store.read()
    try:
        found = db.execute(
            store.sql(
                "SELECT * FROM questions WHERE collection = ? AND asked_at >= ? AND asked_at < ?"
                " ORDER BY asked_at DESC, id DESC LIMIT ?"
            ),
            (collection, since, min(until, 1e12), limit),
        )
        names = [d[0] for d in found.description]
        rows = found.fetchall()
    finally:
        db.close()
    out = []
    for values in reversed(rows):
        item = dict(zip(names, values, strict=True))
        del item["token_hash"]
        item["cited"] = json.loads(item["cited"])
        item["read"], item["no_answer"] = bool(item["read"]), bool(item["no_answer"])
        item["helpful"] = None if item["helpful"] is None else bool(item["helpful"])
        out.append(item)
    return out
