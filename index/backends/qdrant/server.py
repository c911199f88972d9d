"""Index versions in a Qdrant server or cluster, through qdrant-client (docs/scale-out.md).

A build publishes its version as a collection of its own, ``PREFIX-v000007-<token>``, and one
alias, ``PREFIX``, names the live collection: the build writes the collection whole, then moves
the alias in one request (Qdrant applies an alias change atomically), the way ``CURRENT`` moves
on disk. The admin updates that follow write into that collection in place
(index.backends.qdrant.updates), so each point says which versions hold it: ``since <= v < until``. The
collection's metadata names its live version (``head``) and holds that version's manifest;
a question asks for one version (``visible_at``), so no answer mixes versions.

The points are those of the qdrant-edge shards (index.backends.qdrant.edge: the same vectors, BM25
weights and payload), and the engine's answers are blended the same way. Qdrant shards a
collection itself; with the build's full idf, its shards' answers merge exactly.

qdrant-client's local mode (``QdrantClient(path=...)``) takes the same calls: the tests use it
for collections, aliases and swaps. It is pure Python and searches by brute force, a stand-in for
the API, not for the engine.
"""

from __future__ import annotations

import atexit
import logging
import re
import threading
import uuid
from dataclasses import asdict, dataclass

import numpy as np

from corpus.filters import Filter
from index.store.manifest import IndexLoadError
from index.backends.qdrant.ledger import is_ledger
from index.store.versions import KEEP_VERSIONS  # a collection keeps the points of the versions the folder keeps
from index.backends.qdrant.points import (
    BM25,
    HNSW_EF,
    HNSW_EF_CONSTRUCT,
    HNSW_M,
    PASSAGE,
    SENTENCES,
    UPSERT_BATCH,
    SearchPart,
    TopK,
    blend_dense,
    guarded,
    merge_top,
    point_rows,
)
from index.backends.base import FilterUnsupported, IdfMode
from index.backends.qdrant.filtering import DAY, FILTERABLE, LANGUAGE, TAGS, conditions, fields_of
from index.backends.qdrant.sparse import WordIds, document_frequencies, passage_vectors

log = logging.getLogger("khamtop")

KEEP_COLLECTIONS = KEEP_VERSIONS  # collections kept, as the folder keeps version folders
SINCE, UNTIL = "since", "until"  # a point is in versions since <= v < until
OPEN = 1_000_000_000  # ``until`` of a point that no version has removed yet


@dataclass(frozen=True)
class ServerTarget:
    """Where versions are published (``index.backends.factory``, from ``Settings.backend_options``)."""

    url: str  # http(s)://host:port, or a folder for qdrant-client's local mode
    api_key: str | None = None
    alias: str = "khamtop"  # collections are ALIAS-v000007
    idf: IdfMode = "full"
    exact_up_to: int = 20_000  # exact search up to this many points, HNSW above (as index.folder.ann)
    # Updates in place while what they changed stays within this share of the collection
    # (index.backends.qdrant.updates); 0: every version is a collection of its own.
    rewrite_after: float = 0.01


_clients: dict[tuple[str, str | None], object] = {}
_clients_lock = threading.Lock()


def connect(url: str, api_key: str | None = None):
    """One client per server and key in a process (thread-safe). A URL without a scheme is a
    folder for qdrant-client's local mode, which one client at a time may open."""
    with _clients_lock:
        if not _clients:
            # Closed while the interpreter can still do it (local mode flushes and unlocks).
            atexit.register(close_all)
        if (url, api_key) not in _clients:
            try:
                from qdrant_client import QdrantClient
            except ImportError as exc:
                raise IndexLoadError("the qdrant backend needs qdrant-client: pip install -e '.[scale]'") from exc
            if "://" in url:
                _clients[url, api_key] = QdrantClient(url=url, api_key=api_key, timeout=30)
            else:
                _clients[url, api_key] = QdrantClient(path=url)
        return _clients[url, api_key]


def close_all() -> None:
    """Close every client ``connect`` opened (a local-mode folder is then free for another)."""
    with _clients_lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        try:
            client.close()
        except Exception as exc:  # closing is best-effort: the process is ending or moving on
            log.warning("a Qdrant client did not close: %s", exc)


def write_collection(part: SearchPart, target: ServerTarget, words: WordIds, weights, word_rows: dict) -> dict:
    """A version's collection, written whole but not yet live (``move_alias`` makes it so, once
    the version's folder is committed): ``part``'s points with the BM25 ``weights``
    (index.backends.qdrant.sparse.SparseRows) and ``word_rows`` (word id -> the word and its passage count);
    returns what the manifest says."""
    client = connect(target.url, target.api_key)
    name = collection_name(target.alias, part.version)
    guarded(_write_whole, client, name, part, target.idf, weights, word_rows)
    points = len(part.vectors)
    return {
        "engine": "qdrant",
        "collection": name,
        "alias": target.alias,
        "idf": target.idf,
        "exact": points <= target.exact_up_to,
        "points": points,
        "next_point": int(part.point_ids.max()) + 1 if part.point_ids is not None and points else points,
        "whole": points,  # the points it was written with, and the points changed since then
        "changed": 0,
        "written": {"kind": "collection", "points": points},
        "word_id_collisions": words.collisions,
        "qdrant_client": _version("qdrant-client"),
        FILTERABLE: True,
    }


def _write_whole(client, name: str, part: SearchPart, idf: IdfMode, weights, word_rows: dict) -> None:
    create_collections(client, name, part.vectors.shape[1], idf)
    upsert_points(client, name, part, weights)
    upsert_documents(client, name, part.documents, part.version)
    upsert_words(client, name, word_rows, part.version)


def target_mismatch(manifest: dict, target: ServerTarget) -> str | None:
    """Why a version written with ``manifest`` is not served from ``target`` (None: it is)."""
    engine = manifest.get("engine") or {}
    if engine.get("engine") != "qdrant":
        return "it was not published to Qdrant (it was built for another backend)"
    have = (engine.get("alias"), engine.get("idf"))
    if have != (target.alias, target.idf):
        return f"it was published under {have[0]!r} with idf {have[1]!r}, not {target.alias!r} with {target.idf!r}"
    if not is_ledger(manifest):
        return "it was published by an older khamtop (its folder is not a ledger: index.backends.qdrant.ledger)"
    if not guarded(connect(target.url, target.api_key).collection_exists, engine["collection"]):
        return f"its collection {engine['collection']} is not on the Qdrant server at {target.url}"
    return None


def move_alias(target: ServerTarget, collection: str, manifest: dict) -> None:
    """Make version ``manifest`` (written to ``collection``) the live one: its number and manifest
    go into the collection's metadata (what replicas read, index.backends.qdrant.remote), then the alias
    moves to the collection if it names another. Points that no kept version holds, and old
    collections, are then deleted."""
    client = connect(target.url, target.api_key)
    version = int(manifest["version"])
    guarded(_make_live, client, target.alias, collection, version, manifest)
    try:
        _collect_garbage(client, collection, version)
        _drop_old(client, target.alias, version)
    except Exception as exc:  # the new version is live: the old ones go next time
        log.warning("old Qdrant versions not deleted: %s", exc)


def _make_live(client, alias: str, collection: str, version: int, manifest: dict | None = None) -> None:
    """The collection's metadata names ``version`` live (with its manifest, what replicas read),
    then the alias moves to the collection if it names another."""
    client.update_collection(collection, metadata={"head": version, **({"manifest": manifest} if manifest else {})})
    if live(client, alias) != collection:
        _point_alias(client, alias, collection)


def head(client, collection: str) -> int | None:
    """The live version of ``collection`` (its metadata's; None: none made live yet)."""
    value = (client.get_collection(collection).config.metadata or {}).get("head")
    return int(value) if isinstance(value, int) else None


def live_version(client, alias: str) -> str | None:
    """``COLLECTION@VERSION``: what the alias names now and that collection's live version (None:
    the alias names nothing yet). A replica polls it (service.state)."""
    name = live(client, alias)
    return None if name is None else f"{name}@{head(client, name)}"


def visible_at(version: int, *more):
    """The filter of a version's points (and of its documents and words): since <= v < until."""
    m = qdrant_models()
    return m.Filter(
        must=[
            m.FieldCondition(key=SINCE, range=m.Range(lte=version)),
            m.FieldCondition(key=UNTIL, range=m.Range(gt=version)),
            *more,
        ]
    )


def _collect_garbage(client, collection: str, version: int) -> None:
    """Delete what none of the newest ``KEEP_VERSIONS`` versions (up to ``version``) holds."""
    m = qdrant_models()
    dead = m.Filter(must=[m.FieldCondition(key=UNTIL, range=m.Range(lte=version - KEEP_VERSIONS + 1))])
    for name in (collection, f"{collection}-documents", f"{collection}-words"):
        client.delete(name, m.FilterSelector(filter=dead), wait=True)


def reconcile(target: ServerTarget, manifest: dict | None) -> None:
    """Make the live folder's collection (``manifest``: its version's) live, if the alias names
    another: the alias move of the last write failed after its folder was committed."""
    engine = (manifest or {}).get("engine") or {}
    if engine.get("engine") != "qdrant" or engine.get("alias") != target.alias:
        return
    client = connect(target.url, target.api_key)
    name = engine["collection"]
    if not guarded(client.collection_exists, name):
        return
    if guarded(live, client, target.alias) != name or guarded(head, client, name) != manifest["version"]:
        # Its points are written (the folder commits after them): the metadata and alias follow.
        log.warning("the Qdrant alias %s did not name the live version; moving it now", target.alias)
        move_alias(target, name, manifest)


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def collection_name(prefix: str, version: int) -> str:
    """A new collection's name: the version, and a token of its own, so that two index folders
    publishing under one alias (a rebuilt writer, a second home) never write into, or drop, each
    other's collections."""
    return f"{prefix}-v{version:06d}-{uuid.uuid4().hex[:8]}"


def _version_of(prefix: str, name: str) -> int | None:
    """The version in a collection's name, if it is one of ``prefix``'s versions (not a companion)."""
    found = re.fullmatch(rf"{re.escape(prefix)}-v(\d{{6}})-[0-9a-f]{{8}}", name)
    return int(found.group(1)) if found else None


def qdrant_models():
    try:
        from qdrant_client import models
    except ImportError as exc:  # the "scale" extra
        raise IndexLoadError("the qdrant backend needs qdrant-client: pip install -e '.[scale]'") from exc
    return models


def publish(client, part: SearchPart, prefix: str, idf: IdfMode = "full", words: WordIds | None = None) -> str:
    """Write the version ``part`` (a loaded version's: index.backends.qdrant.points.SearchPart.of) as its
    own collection, weighed by its keyword index, move the alias ``prefix`` to it, and drop all
    but the newest ``KEEP_COLLECTIONS`` of this prefix; returns the collection's name. A write
    that fails half-way leaves a collection no alias names; it is dropped with the old ones."""
    name = collection_name(prefix, part.version)
    words = (words or WordIds.empty()).assign(part.keyword.bm25.vocab_dict)
    df = document_frequencies(part.keyword)
    rows = {i: (w, df.get(w, 0)) for w, i in words.ids.items()}
    _write_whole(client, name, part, idf, passage_vectors(part.keyword, words, idf), rows)
    _make_live(client, prefix, name, part.version)
    _drop_old(client, prefix)
    return name


def create_collections(client, name: str, dim: int, idf: IdfMode) -> None:
    """A new version's collection (the points) and its companions (documents and words), empty."""
    m = qdrant_models()
    client.create_collection(
        name,
        vectors_config={
            PASSAGE: m.VectorParams(
                size=dim,
                distance=m.Distance.DOT,
                hnsw_config=m.HnswConfigDiff(m=HNSW_M, ef_construct=HNSW_EF_CONSTRUCT),
                quantization_config=m.ScalarQuantization(
                    scalar=m.ScalarQuantizationConfig(type=m.ScalarType.INT8, quantile=0.99, always_ram=True)
                ),
            ),
            SENTENCES: m.VectorParams(
                size=dim,
                distance=m.Distance.DOT,
                multivector_config=m.MultiVectorConfig(comparator=m.MultiVectorComparator.MAX_SIM),
                hnsw_config=m.HnswConfigDiff(m=0),  # only scored for candidates, never searched
                on_disk=True,
            ),
        },
        sparse_vectors_config={BM25: m.SparseVectorParams(modifier=m.Modifier.IDF if idf == "engine" else None)},
    )
    for companion in (f"{name}-documents", f"{name}-words"):
        client.create_collection(companion, vectors_config={})
    # Every question filters on the version range; a replica finds documents and words by field.
    integer, keyword = m.PayloadSchemaType.INTEGER, m.PayloadSchemaType.KEYWORD
    for collection, fields in (
        (name, {SINCE: integer, UNTIL: integer, TAGS: keyword, DAY: integer, LANGUAGE: keyword}),
        (f"{name}-documents", {SINCE: integer, UNTIL: integer, "doc_id": keyword}),
        (f"{name}-words", {SINCE: integer, UNTIL: integer, "word_id": integer}),
    ):
        for field, schema in fields.items():
            client.create_payload_index(collection, field, field_schema=schema, wait=True)


def upsert_points(client, name: str, part: SearchPart, sparse, chunk_ids=None) -> int:
    """Write the version's passages ``chunk_ids`` (None: all) as points that the version and those
    after it hold; returns how many."""
    m = qdrant_models()
    batch, written = [], 0
    chunk_ids = range(len(part.vectors)) if chunk_ids is None else list(chunk_ids)
    for chunk_id, row in zip(chunk_ids, point_rows(part, sparse, chunk_ids)):
        vector = row.named(m.SparseVector(indices=row.bm25[0], values=row.bm25[1]))
        payload = {**row.payload, **_replica_payload(part, chunk_id), SINCE: part.version, UNTIL: OPEN}
        batch.append(m.PointStruct(id=row.id, vector=vector, payload=payload))
        if len(batch) == UPSERT_BATCH:
            client.upsert(name, batch, wait=True)
            written, batch = written + len(batch), []
    if batch:
        client.upsert(name, batch, wait=True)
    return written + len(batch)


def _replica_payload(part: SearchPart, chunk_id: int) -> dict:
    """What a replica without the version folder needs of a passage (index.backends.qdrant.remote): its
    text, its token count, and its sentences' spans (their vectors are the multivector)."""
    doc, start, end, n_tokens = (int(x) for x in part.spans[chunk_id][:4])
    sentences = part.chunk_sentences[chunk_id]
    spans = part.sentence_spans[sentences.start : sentences.stop, 1:3].tolist() if len(sentences) else []
    return {
        "text": part.documents[doc].text[start:end],
        "n_tokens": n_tokens,
        "sentence_spans": spans,
        **fields_of(part.documents[doc]),  # what a filtered question is asked by
    }


def document_row_id(doc_id: str, since: int) -> str:
    """A document's row in ``NAME-documents`` as version ``since`` wrote it (a replaced document
    has a row per text; a replica finds it by ``doc_id`` and version)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"khamtop:{doc_id}@{since}"))


def word_row_id(word_id: int, since: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"khamtop-word:{word_id}@{since}"))


def upsert_documents(client, name: str, documents, version: int) -> None:
    """``NAME-documents`` rows (each document: its text and metadata) that ``version`` and the
    versions after it hold: what a replica reads instead of the version folder."""
    m = qdrant_models()
    rows = [
        m.PointStruct(
            id=document_row_id(d.doc_id, version), vector={}, payload={**asdict(d), SINCE: version, UNTIL: OPEN}
        )
        for d in documents
    ]
    for start in range(0, len(rows), 64):
        client.upsert(f"{name}-documents", rows[start : start + 64], wait=True)


def upsert_words(client, name: str, words: dict[int, tuple[str, int]], version: int) -> None:
    """``NAME-words`` rows (word id -> the word and its passage count) from ``version`` on. A
    word no passage holds any more keeps a row (count 0): a word whose hash it took finds its
    slot taken, and probes on (index.backends.qdrant.remote.RemoteKeyword)."""
    m = qdrant_models()
    rows = [
        m.PointStruct(
            id=word_row_id(i, version),
            vector={},
            payload={"word_id": i, "word": w, "df": df, SINCE: version, UNTIL: OPEN},
        )
        for i, (w, df) in words.items()
    ]
    for start in range(0, len(rows), UPSERT_BATCH * 8):
        client.upsert(f"{name}-words", rows[start : start + UPSERT_BATCH * 8], wait=True)


def _point_alias(client, alias: str, collection: str) -> None:
    m = qdrant_models()
    operations = [m.CreateAliasOperation(create_alias=m.CreateAlias(collection_name=collection, alias_name=alias))]
    if live(client, alias) is not None:
        operations.insert(0, m.DeleteAliasOperation(delete_alias=m.DeleteAlias(alias_name=alias)))
    client.update_collection_aliases(operations)  # one request: no moment without the alias


def _drop_old(client, prefix: str, live_version: int | None = None) -> None:
    """Drop all but the newest ``KEEP_COLLECTIONS`` of ``prefix``'s collections, and (given the
    version just made live) those of that version or later that the alias does not name: what
    writes that failed or were killed before their commit left."""
    existing = {c.name for c in client.get_collections().collections}
    versions = sorted((v, n) for n in existing if (v := _version_of(prefix, n)) is not None)
    serving = live(client, prefix)
    if live_version is not None:
        orphans = [n for v, n in versions if v >= live_version and n != serving]
        versions = [(v, n) for v, n in versions if n not in orphans]
    else:
        orphans = []
    for name in orphans + [n for _, n in versions[:-KEEP_COLLECTIONS]]:
        if name != serving:
            _drop(client, name, existing)


def forget(target: ServerTarget) -> None:
    """Remove ``target``'s alias and every collection published under it (a khamtop collection
    dropped); raises EngineUnavailable when the server cannot be asked."""
    guarded(_forget, connect(target.url, target.api_key), target.alias)


def _forget(client, alias: str) -> None:
    if live(client, alias) is not None:
        m = qdrant_models()
        client.update_collection_aliases([m.DeleteAliasOperation(delete_alias=m.DeleteAlias(alias_name=alias))])
    existing = {c.name for c in client.get_collections().collections}
    for name in sorted(existing):
        if _version_of(alias, name) is not None:
            _drop(client, name, existing)


def drop_collection(client, name: str) -> None:
    """Drop a collection and its companions (what a failed write made), as far as it can."""
    try:
        _drop(client, name, {c.name for c in client.get_collections().collections})
    except Exception as exc:  # the write's own error is the one to report; the next write drops it
        log.warning("the Qdrant collection %s was not dropped: %s", name, exc)


def _drop(client, name: str, existing: set[str]) -> None:
    for doomed in (name, f"{name}-documents", f"{name}-words"):
        if doomed in existing:
            client.delete_collection(doomed)


def live(client, alias: str) -> str | None:
    """The collection the alias names now (None: none yet)."""
    found = [a.collection_name for a in client.get_aliases().aliases if a.alias_name == alias]
    return found[0] if found else None


@dataclass
class QdrantEngine(TopK):
    """One version of a Qdrant collection, asked as the retriever asks an engine."""

    client: object
    collection: str
    words: WordIds
    exact: bool = True  # exact search (small collections), else HNSW with rescoring
    version: int | None = None  # the version asked for (None: every point; a test's collection)
    idf: IdfMode = "full"
    filterable: bool = True  # its passages carry their documents' fields (index.backends.qdrant.filtering)
    filters_documents = True  # given a question's filter, not a mask over chunk ids (point ids here)

    def _filter(self, more=()):
        if self.version is None:
            return qdrant_models().Filter(must=list(more)) if more else None
        return visible_at(self.version, *more)

    def _allowed(self, allowed):
        """The payload conditions of a question's filter (index.backends.base.Allowed)."""
        if allowed is None:
            return ()
        if not isinstance(allowed, Filter):
            raise FilterUnsupported("the qdrant backend filters by the documents' fields, not by a list of passages")
        if not self.filterable:
            raise FilterUnsupported(
                f"the Qdrant collection {self.collection} was written before filters: rebuild it "
                "(KHAMTOP_BACKEND=qdrant khamtop index build) to filter questions"
            )
        return conditions(allowed, qdrant_models())

    def _params(self, exact: bool):
        m = qdrant_models()
        if exact:
            return m.SearchParams(exact=True, quantization=m.QuantizationSearchParams(ignore=True))
        return m.SearchParams(hnsw_ef=HNSW_EF, quantization=m.QuantizationSearchParams(rescore=True, oversampling=2.0))

    def _top(self, query, using: str, k: int, params=None, where=None) -> list[tuple[int, float]]:
        limit = k + 16
        while True:
            points = guarded(
                self.client.query_points,
                self.collection,
                query=query,
                using=using,
                query_filter=self._filter(where or ()),
                limit=limit,
                search_params=params,
            ).points
            found = merge_top([[(int(p.id), float(p.score)) for p in points]], limit)
            # Asked for more while the k-th could tie past the end (ties go to the lower id).
            if len(points) < limit or found[k - 1][1] > found[-1][1]:
                return found[:k]
            limit *= 4

    def _sparse(self, indices: list[int], values: list[float]):
        return qdrant_models().SparseVector(indices=indices, values=values)

    def _keyword_params(self):
        if self.idf != "engine" or self.version is None:
            return None
        m = qdrant_models()
        # The engine's idf counted over the version's own points, not those removed or not yet live.
        return m.SearchParams(idf=m.IdfCorpusParams(corpus=self._filter()))

    def _nearest_params(self):
        return self._params(self.exact)

    def dense_scores(
        self, vector: np.ndarray, chunk_ids: list[int], sentence_weight: float, prefetched=None
    ) -> dict[int, float]:
        if not chunk_ids:
            return {}
        m = qdrant_models()
        v = vector[0].tolist()
        points = list(chunk_ids)
        only = m.Filter(must=[m.HasIdCondition(has_id=points)])
        params = m.SearchParams(exact=True, quantization=m.QuantizationSearchParams(ignore=True))
        passages, sentences = guarded(
            self.client.query_batch_points,
            self.collection,
            [
                m.QueryRequest(query=v, using=PASSAGE, filter=only, limit=len(points), params=params),
                m.QueryRequest(query=[v], using=SENTENCES, filter=only, limit=len(points), params=params),
            ],
        )
        cosines = {int(p.id): float(p.score) for p in passages.points}
        best = {int(p.id): float(p.score) for p in sentences.points}
        return blend_dense(chunk_ids, cosines, best, sentence_weight)
