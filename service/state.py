"""The service's live collections: each loaded once, swapped whole when a new version appears.

A request takes a collection's retriever once and uses only that object, and a swap replaces the
reference in one assignment; so a query in flight sees the old version or the new one, never a
mix. New versions come from the admin API (swapped in as soon as written) or from another
process (``khamtop index add|remove``, a rebuild), noticed by polling each collection's CURRENT;
collections made or dropped by another process are picked up or let go the same way. The model
and the reader are loaded once and shared by every collection.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from index.build.write import UpdateError, UpdateResult, update_index
from index.encoders.base import Embedder, ModelLoadError
from index.reader.runtime import Reader
from index.reader.weights import ReaderWeightsError
from index.search.batching import QueryBatcher
from index.search.expansion import AbbreviationFileError
from index.search.retriever import Retriever
from index.store import collections, versions
from index.store.manifest import IndexLoadError
from service.settings import Settings

log = logging.getLogger("khamtop")
DEFAULT = collections.DEFAULT


@dataclass
class Served:
    """One collection as the service serves it."""

    name: str
    retriever: Retriever | None = None
    error: str | None = None  # why it is not served, in full (logged; shown with the admin key)
    public_error: str | None = None  # the same without paths, for anyone
    current: str | None = None  # the CURRENT name the retriever was loaded from
    refused: str | None = None  # a version that failed to load (logged once, not retried)
    empty: bool = False  # made, and no document added yet
    write_lock: threading.Lock = field(default_factory=threading.Lock)

    def made_empty(self) -> Served:
        self.empty, self.error = True, None
        self.public_error = None
        return self


@dataclass
class ServiceState:
    embedder: Embedder | None = None
    # One for the process, shared by every collection and version: questions asked at once are
    # encoded together.
    batcher: QueryBatcher | None = None
    reader: Reader | None = None  # one for the process too (None: reading is off)
    model_error: str | None = None  # the model or the reader cannot be loaded: nothing is served
    model_public_error: str | None = None
    collections: dict[str, Served] = field(default_factory=dict)
    started: bool = False  # the start-up load has finished (well or not)

    def served(self, name: str) -> Served | None:
        return self.collections.get(name)

    @property
    def default(self) -> Served:
        return self.collections.get(DEFAULT) or Served(DEFAULT)

    # The default collection, as the service had only it before collections (readiness, metrics).
    @property
    def retriever(self) -> Retriever | None:
        return self.default.retriever

    @property
    def error(self) -> str | None:
        return self.model_error or self.default.error

    @property
    def public_error(self) -> str | None:
        return self.model_public_error or self.default.public_error


# What anyone may read of a failed start: no paths, no file names (those are in the log).
_PUBLIC = {
    ModelLoadError: "the embedding model cannot be loaded",
    ReaderWeightsError: "the reader cannot be loaded",
    IndexLoadError: "the index cannot be served",
    versions.VersionError: "the index cannot be served",
    AbbreviationFileError: "the abbreviations file cannot be read",
}


def _public(exc: BaseException) -> str:
    return _PUBLIC.get(type(exc), "the index cannot be served") + "; the service's log says why"


def load(settings: Settings, embedder_factory, state: ServiceState, reader_factory=Reader) -> None:
    """Start-up: the model, then every collection's live version. On failure, the collection's
    (or for the model, the state's) ``error`` says why."""
    try:
        try:
            embedder = embedder_factory(settings.encoder_config())
            state.embedder = embedder
            state.batcher = QueryBatcher(embedder.embed_queries, settings.query_batch_max)
            state.reader = reader_factory(settings.reader_config()) if settings.reader else None
        except ModelLoadError as exc:
            state.model_error, state.model_public_error = str(exc), _public(exc)
            log.error("not ready: %s", exc)
            return
        except Exception as exc:  # anything else is a bug, but the service must still say why
            state.model_error = f"unexpected error while loading: {exc!r}"
            state.model_public_error = "an unexpected error while loading; the service's log says why"
            log.exception("not ready")
            return
        for name in collections.names(settings.index_root):
            _start(settings.for_collection(name), state, Served(name))
    finally:
        state.started = True


def _start(settings: Settings, state: ServiceState, served: Served) -> None:
    """Load a collection the service did not serve yet, and serve it (or say why it cannot)."""
    state.collections[served.name] = served
    current = None
    try:
        current = _live_name(settings)
        if current is None and served.name != DEFAULT:
            served.made_empty()
            return
        retriever = _retriever(settings, state, _load(settings, state.embedder, current))
    except (ModelLoadError, IndexLoadError, AbbreviationFileError, versions.VersionError) as exc:
        served.error, served.public_error = str(exc), _public(exc)
        served.refused = current  # the watcher tries again only once another version is live
        log.error("collection %s not served: %s", served.name, exc)
        return
    except Exception as exc:  # anything else is a bug, but the service must still say why
        served.error = f"unexpected error while loading: {exc!r}"
        served.public_error = "an unexpected error while loading; the service's log says why"
        log.exception("collection %s not served", served.name)
        return
    served.current = current
    swap(served, current, retriever)


def reader_for(settings: Settings) -> Reader | None:
    """The reader the settings ask for (None: reading is off); raises ReaderWeightsError."""
    return Reader(settings.reader_config()) if settings.reader else None


def reload_if_changed(settings: Settings, state: ServiceState) -> bool:
    """Swap in each collection's live version if its CURRENT names another one, start serving
    collections made since and stop serving those dropped; True if anything changed. A version
    that cannot be loaded is refused (logged once) and the one being served stays. A collection
    that started on a damaged index keeps looking, and serves the first good version written."""
    if state.embedder is None or not state.started:
        return False  # still starting (or the model failed): the start-up load is reading them
    changed = False
    names = collections.names(settings.index_root)
    for name in [n for n in state.collections if n not in names]:
        log.info("collection %s was dropped: no longer served", name)
        del state.collections[name]
        changed = True
    for name in names:
        served = state.collections.get(name)
        if served is None:
            _start(settings.for_collection(name), state, Served(name))
            changed = True
        else:
            changed |= _reload_if_changed(settings.for_collection(name), state, served)
    return changed


def _reload_if_changed(settings: Settings, state: ServiceState, served: Served) -> bool:
    try:
        name = _live_name(settings)
    except (versions.VersionError, IndexLoadError) as exc:
        name = f"damaged: {exc}"
    if name is None or name == served.current or name == served.refused:
        return False
    if not served.write_lock.acquire(blocking=False):
        return False  # an admin write in this process is swapping it in; look again next time
    try:
        return _reload(settings, state, served, name)
    finally:
        served.write_lock.release()


def _live_name(settings: Settings) -> str | None:
    """What names the collection's live version (a folder's name, or a replica's collection and version)."""
    return settings.index_backend().live_name(settings.index_dir)


def _load(settings: Settings, embedder: Embedder, name: str | None):
    """The live version, as the backend opens it (``name``: as ``_live_name`` gave it)."""
    return settings.index_backend().open(settings.index_dir, embedder, name)


def open_index(settings: Settings, embedder: Embedder, home=None):
    """The live version of the index at ``home`` (default: the settings' collection's), as the
    backend opens it; raises IndexLoadError."""
    return settings.index_backend().open(settings.index_dir if home is None else home, embedder)


def _reload(settings: Settings, state: ServiceState, served: Served, name: str) -> bool:
    try:
        index = _load(settings, state.embedder, name)
        retriever = _retriever(settings, state, index)
    except (IndexLoadError, AbbreviationFileError, OSError) as exc:
        served.refused = name
        log.error("index version %s refused, still serving version %s: %s", name, served.current, exc)
        return False
    except Exception:  # a version no check foresaw (a bug): refused, and the watcher goes on
        served.refused = name
        log.exception("index version %s refused, still serving version %s", name, served.current)
        return False
    swap(served, name, retriever)
    return True


def _retriever(settings: Settings, state: ServiceState, index) -> Retriever:
    return Retriever(
        state.embedder, index, settings.search_config(), state.batcher, state.reader, engine_for(settings, index)
    )


def engine_for(settings: Settings, index):
    """The engine that searches ``index`` under the backend setting; raises IndexLoadError when
    the version has nothing for it (no shards, no collection)."""
    return settings.index_backend().engine(index)


def _servable(settings: Settings, state: ServiceState, served: Served, base) -> None:
    """Called under the collection's write lock with the version an admin write would start
    from. If it is not the one served (CURRENT moved: another process's write, a roll-back by
    hand, or a version this service refused), it is loaded and served first, so the write starts
    from what the service answers from. One that cannot be served refuses the write
    (VersionError: 503): a write from it would drop what the served version has that it lacks,
    and starting from the served version instead would undo the operator's CURRENT unasked."""
    name = base.name
    if name != served.current:
        try:
            retriever = _retriever(settings, state, _load(settings, state.embedder, name))
        except (IndexLoadError, AbbreviationFileError, OSError) as exc:
            served.refused = name
            log.error("index version %s refused, still serving version %s: %s", name, served.current, exc)
            current = served.current or "the version this service serves"
            raise versions.VersionError(
                f"{settings.index_dir / versions.CURRENT_FILE} names {name}, which cannot be served ({exc}); this "
                f"service still serves {current}, and a change made from {name} would drop what {current} has "
                f"that {name} lacks, so nothing was written. Point CURRENT at a version that loads (`echo "
                f"{current} > {settings.index_dir / versions.CURRENT_FILE}` keeps what is served), repair {name}, "
                "or rebuild with `khamtop index build`; then send the change again"
            ) from exc
        swap(served, name, retriever)
    log.info("admin change to collection %s: a new version made from version %s", served.name, name)


def swap(served: Served, name: str | None, retriever: Retriever) -> None:
    old = served.retriever.index.version if served.retriever else None
    served.retriever, served.current, served.refused = retriever, name, None
    served.error = served.public_error = None
    served.empty = False
    log.info("collection %s: now serving index version %s (was %s)", served.name, retriever.index.version, old)


def apply_update(
    settings: Settings, state: ServiceState, upsert=(), remove=(), collection: str = DEFAULT
) -> UpdateResult:
    """An admin change to ``collection`` (which must exist): write the new version, then serve it
    before answering the admin. It starts from the live version (CURRENT's) only if this service
    can serve it (``_servable``)."""
    settings = settings.for_collection(collection)
    served = state.collections.get(collection)
    if served is None:
        raise UpdateError(f"no collection {collection!r}")
    with served.write_lock:
        # Dropped meanwhile (an upload is read for seconds first): not made again by writing into it.
        if not collections.exists(settings.index_root, collection) or state.collections.get(collection) is not served:
            raise UpdateError(f"no collection {collection!r}")
        result = update_index(
            settings.index_dir,
            state.embedder,
            settings.index_config(),
            upsert=upsert,
            remove=remove,
            served=served.current,
            check_base=lambda base: _servable(settings, state, served, base),
        )
        if result.changed:
            index = open_index(settings, state.embedder)
            swap(served, versions.read_current(settings.index_dir), _retriever(settings, state, index))
    return result
