"""The service's live index: loaded once, swapped whole when a new version appears.

A request takes ``state.retriever`` once and uses only that object, and a swap replaces the
reference in one assignment; so a query in flight sees the old version or the new one, never a
mix. New versions come from the admin API (swapped in as soon as written) or from another
process (``khamtop index add|remove``, a rebuild), noticed by polling CURRENT.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from index.store import versions
from index.search.batching import QueryBatcher
from index.encoders.base import Embedder, ModelLoadError
from index.search.expansion import AbbreviationFileError
from index.reader.runtime import Reader
from index.reader.weights import ReaderWeightsError
from index.search.retriever import Retriever
from index.store.manifest import IndexLoadError
from index.build.write import UpdateResult, update_index
from service.settings import Settings

log = logging.getLogger("khamtop")


@dataclass
class ServiceState:
    retriever: Retriever | None = None
    error: str | None = None  # why it is not ready, in full (logged; shown with the admin key)
    public_error: str | None = None  # the same without paths, for anyone
    embedder: Embedder | None = None
    # One for the process, shared by every index version: questions asked at once are encoded together.
    batcher: QueryBatcher | None = None
    reader: Reader | None = None  # one for the process too (None: reading is off)
    current: str | None = None  # the CURRENT name the retriever was loaded from
    refused: str | None = None  # a version that failed to load (logged once, not retried)
    write_lock: threading.Lock = field(default_factory=threading.Lock)


def load(settings: Settings, embedder_factory, state: ServiceState, reader_factory=Reader) -> None:
    """Start-up: the model, then the live index version. On failure, ``state.error`` says why."""
    current = None
    try:
        embedder = embedder_factory(settings.encoder_config())
        state.embedder = embedder
        state.batcher = QueryBatcher(embedder.embed_queries, settings.query_batch_max)
        state.reader = reader_factory(settings.reader_config()) if settings.reader else None
        current = _live_name(settings)
        retriever = _retriever(settings, state, _load(settings, embedder, current))
    except (ModelLoadError, IndexLoadError, AbbreviationFileError, versions.VersionError) as exc:
        state.error = str(exc)
        state.public_error = _PUBLIC.get(type(exc), "the index cannot be served") + "; the service's log says why"
        state.refused = current  # the watcher tries again only once another version is live
        log.error("not ready: %s", exc)
        return
    except Exception as exc:  # anything else is a bug, but the service must still say why
        state.error = f"unexpected error while loading: {exc!r}"
        state.public_error = "an unexpected error while loading; the service's log says why"
        log.exception("not ready")
        return
    state.current = current
    state.retriever = retriever
    log.info(
        "ready: index version %s, %d chunks from %d documents, model %s",
        retriever.index.version,
        len(retriever.index.chunks),
        len(retriever.index.documents),
        embedder.model_id,
    )


# What anyone may read of a failed start: no paths, no file names (those are in the log).
_PUBLIC = {
    ModelLoadError: "the embedding model cannot be loaded",
    ReaderWeightsError: "the reader cannot be loaded",
    IndexLoadError: "the index cannot be served",
    versions.VersionError: "the index cannot be served",
    AbbreviationFileError: "the abbreviations file cannot be read",
}


def reader_for(settings: Settings) -> Reader | None:
    """The reader the settings ask for (None: reading is off); raises ReaderWeightsError."""
    return Reader(settings.reader_config()) if settings.reader else None


def reload_if_changed(settings: Settings, state: ServiceState) -> bool:
    """Swap in the live version if CURRENT names another one; True if it did. A version that
    cannot be loaded is refused (logged once) and the one being served stays. A service that
    started on a damaged index keeps looking, and serves the first good version written."""
    if state.embedder is None or (state.retriever is None and state.error is None):
        return False  # still starting: the start-up load is reading the live version already
    try:
        name = _live_name(settings)
    except (versions.VersionError, IndexLoadError) as exc:
        name = f"damaged: {exc}"
    if name is None or name == state.current or name == state.refused:
        return False
    if not state.write_lock.acquire(blocking=False):
        return False  # an admin write in this process is swapping it in; look again next time
    try:
        return _reload(settings, state, name)
    finally:
        state.write_lock.release()


def _live_name(settings: Settings) -> str | None:
    """What names the live version (a folder's name, or a replica's collection and version)."""
    return settings.index_backend().live_name(settings.index_dir)


def _load(settings: Settings, embedder: Embedder, name: str | None):
    """The live version, as the backend opens it (``name``: as ``_live_name`` gave it)."""
    return settings.index_backend().open(settings.index_dir, embedder, name)


def open_index(settings: Settings, embedder: Embedder, home=None):
    """The live version of the index at ``home`` (default: the settings'), as the backend opens
    it; raises IndexLoadError."""
    return settings.index_backend().open(settings.index_dir if home is None else home, embedder)


def _reload(settings: Settings, state: ServiceState, name: str) -> bool:
    try:
        index = _load(settings, state.embedder, name)
        retriever = _retriever(settings, state, index)
    except (IndexLoadError, AbbreviationFileError, OSError) as exc:
        state.refused = name
        log.error("index version %s refused, still serving version %s: %s", name, state.current, exc)
        return False
    except Exception:  # a version no check foresaw (a bug): refused, and the watcher goes on
        state.refused = name
        log.exception("index version %s refused, still serving version %s", name, state.current)
        return False
    swap(state, name, retriever)
    return True


def _retriever(settings: Settings, state: ServiceState, index) -> Retriever:
    return Retriever(
        state.embedder, index, settings.search_config(), state.batcher, state.reader, engine_for(settings, index)
    )


def engine_for(settings: Settings, index):
    """The engine that searches ``index`` under the backend setting; raises IndexLoadError when
    the version has nothing for it (no shards, no collection)."""
    return settings.index_backend().engine(index)


def _servable(settings: Settings, state: ServiceState, base) -> None:
    """Called under the index's write lock with the version an admin write would start from.
    If it is not the one served (CURRENT moved: another process's write, a roll-back by hand, or
    a version this service refused), it is loaded and served first, so the write starts from
    what the service answers from. One that cannot be served refuses the write (VersionError:
    503): a write from it would drop what the served version has that it lacks, and starting
    from the served version instead would undo the operator's CURRENT unasked."""
    name = base.name
    if name != state.current:
        try:
            retriever = _retriever(settings, state, _load(settings, state.embedder, name))
        except (IndexLoadError, AbbreviationFileError, OSError) as exc:
            state.refused = name
            log.error("index version %s refused, still serving version %s: %s", name, state.current, exc)
            served = state.current or "the version this service serves"
            raise versions.VersionError(
                f"{settings.index_dir / versions.CURRENT_FILE} names {name}, which cannot be served ({exc}); this "
                f"service still serves {served}, and a change made from {name} would drop what {served} has "
                f"that {name} lacks, so nothing was written. Point CURRENT at a version that loads (`echo "
                f"{served} > {settings.index_dir / versions.CURRENT_FILE}` keeps what is served), repair {name}, "
                "or rebuild with `khamtop index build`; then send the change again"
            ) from exc
        swap(state, name, retriever)
    log.info("admin change: a new version made from version %s", name)


def swap(state: ServiceState, name: str | None, retriever: Retriever) -> None:
    old = state.retriever.index.version if state.retriever else None
    state.retriever, state.current, state.refused = retriever, name, None
    state.error = state.public_error = None
    log.info("now serving index version %s (was %s)", retriever.index.version, old)


def apply_update(settings: Settings, state: ServiceState, upsert=(), remove=()) -> UpdateResult:
    """An admin change: write the new version, then serve it before answering the admin. It
    starts from the live version (CURRENT's) only if this service can serve it (``_servable``)."""
    with state.write_lock:
        result = update_index(
            settings.index_dir,
            state.embedder,
            settings.index_config(),
            upsert=upsert,
            remove=remove,
            served=state.current,
            check_base=lambda base: _servable(settings, state, base),
        )
        if result.changed:
            index = open_index(settings, state.embedder)
            swap(
                state,
                versions.read_current(settings.index_dir),
                _retriever(settings, state, index),
            )
    return result
