"""An index version in a Qdrant server or cluster, through qdrant-client (docs/scale-out.md).

Each version is a collection of its own, ``PREFIX-v000007``, and one alias, ``PREFIX``, names
the live one: publishing a version writes its collection whole, then moves the alias in one
request (Qdrant applies an alias change atomically), the way ``CURRENT`` moves on disk. A
question resolves the alias once (``live``) and asks that collection only, so no answer mixes
versions. The points are those of the qdrant-edge shards (index.qdrant_edge: the same vectors,
BM25 weights and payload, plus the version's number), and the engine's answers are blended the
same way. Qdrant shards a collection itself; with the build's full idf, its shards' answers
merge exactly.

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

from index.layout import IndexLoadError
from index.qdrant_points import (
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
from index.sparse import IdfMode, WordIds, document_frequencies, passage_vectors

log = logging.getLogger("khamtop")

KEEP_COLLECTIONS = 3  # as index.versions keeps three version folders


@dataclass(frozen=True)
class ServerTarget:
    """Where versions are published (``Settings.server_target``)."""

    url: str  # http(s)://host:port, or a folder for qdrant-client's local mode
    api_key: str | None = None
    alias: str = "khamtop"  # collections are ALIAS-v000007
    idf: IdfMode = "full"
    exact_up_to: int = 20_000  # exact search up to this many points, HNSW above (as index.ann)


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


def write_collection(part: SearchPart, target: ServerTarget, words: WordIds) -> dict:
    """A version's collection, written whole but not yet live (``move_alias`` makes it so, once
    the version's folder is committed); returns what the manifest says."""
    client = connect(target.url, target.api_key)
    name = guarded(publish, client, part, target.alias, target.idf, words, move=False)
    return {
        "engine": "qdrant",
        "collection": name,
        "alias": target.alias,
        "idf": target.idf,
        "exact": len(part.vectors) <= target.exact_up_to,
        "points": len(part.vectors),
        "qdrant_client": _version("qdrant-client"),
    }


def target_mismatch(manifest: dict, target: ServerTarget) -> str | None:
    """Why a version written with ``manifest`` is not served from ``target`` (None: it is)."""
    engine = manifest.get("engine") or {}
    if engine.get("engine") != "qdrant":
        return "it was not published to Qdrant (it was built for another backend)"
    have = (engine.get("alias"), engine.get("idf"))
    if have != (target.alias, target.idf):
        return f"it was published under {have[0]!r} with idf {have[1]!r}, not {target.alias!r} with {target.idf!r}"
    if not guarded(connect(target.url, target.api_key).collection_exists, engine["collection"]):
        return f"its collection {engine['collection']} is not on the Qdrant server at {target.url}"
    return None


def move_alias(target: ServerTarget, collection: str, manifest: dict | None = None) -> None:
    """Make ``collection`` the live version; ``manifest``: the version's, kept in the collection's
    metadata for replicas (index.qdrant_remote)."""
    client = connect(target.url, target.api_key)
    if manifest is not None:
        guarded(client.update_collection, collection, metadata={"manifest": manifest})
    guarded(_point_alias, client, target.alias, collection)
    try:
        _drop_old(client, target.alias)
    except Exception as exc:  # the new version is live: old ones are dropped next time
        log.warning("old Qdrant collections not dropped: %s", exc)


def reconcile(target: ServerTarget, manifest: dict | None) -> None:
    """Make the live folder's collection (``manifest``: its version's) live, if the alias names
    another: the alias move of the last write failed after its folder was committed."""
    engine = (manifest or {}).get("engine") or {}
    if engine.get("engine") != "qdrant" or engine.get("alias") != target.alias:
        return
    client = connect(target.url, target.api_key)
    if guarded(live, client, target.alias) != engine["collection"] and guarded(
        client.collection_exists, engine["collection"]
    ):
        log.warning("the Qdrant alias %s did not name the live version; moving it now", target.alias)
        move_alias(target, engine["collection"], manifest)


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


def _models():
    try:
        from qdrant_client import models
    except ImportError as exc:  # the "scale" extra
        raise IndexLoadError("the qdrant backend needs qdrant-client: pip install -e '.[scale]'") from exc
    return models


def publish(
    client, part: SearchPart, prefix: str, idf: IdfMode = "full", words: WordIds | None = None, move: bool = True
) -> str:
    """Write the version ``part`` as its own collection, move the alias ``prefix`` to it (unless
    not ``move``), and drop all but the newest ``KEEP_COLLECTIONS`` of this prefix; returns the
    collection's name.
    A write that fails half-way leaves a collection no alias names; it is dropped with the old ones."""
    m = _models()
    name = collection_name(prefix, part.version)
    dim = part.vectors.shape[1]
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
    words = (words or WordIds.empty()).assign(part.keyword.bm25.vocab_dict)
    sparse = passage_vectors(part.keyword, words, idf)
    batch = []
    for row in point_rows(part, sparse):
        vector = row.named(m.SparseVector(indices=row.bm25[0], values=row.bm25[1]))
        payload = {**row.payload, **_replica_payload(part, row.id), "version": part.version}
        batch.append(m.PointStruct(id=row.id, vector=vector, payload=payload))
        if len(batch) == UPSERT_BATCH:
            client.upsert(name, batch, wait=True)
            batch = []
    if batch:
        client.upsert(name, batch, wait=True)
    _write_companions(client, name, part, words)
    if move:
        _point_alias(client, prefix, name)
        _drop_old(client, prefix)
    return name


def _replica_payload(part: SearchPart, chunk_id: int) -> dict:
    """What a replica without the version folder needs of a passage (index.qdrant_remote): its
    text, its token count, and its sentences' spans (their vectors are the multivector)."""
    doc, start, end, n_tokens = (int(x) for x in part.spans[chunk_id][:4])
    sentences = part.chunk_sentences[chunk_id]
    spans = part.sentence_spans[sentences.start : sentences.stop, 1:3].tolist() if len(sentences) else []
    return {
        "text": part.documents[doc].text[start:end],
        "n_tokens": n_tokens,
        "sentence_first": sentences.start,
        "sentence_spans": spans,
    }


def document_point_id(doc_id: str) -> str:
    """A document's point id in a version's documents collection: a UUID of its id, so that a
    replica finds it by id alone."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"khamtop:{doc_id}"))


def _write_companions(client, name: str, part: SearchPart, words: WordIds) -> None:
    """``NAME-documents`` (each document: its text and metadata) and ``NAME-words`` (each word's
    id and passage count): what a replica reads instead of the version folder."""
    m = _models()
    df = document_frequencies(part.keyword)
    for companion in (f"{name}-documents", f"{name}-words"):
        client.create_collection(companion, vectors_config={})
    documents = [m.PointStruct(id=document_point_id(d.doc_id), vector={}, payload=asdict(d)) for d in part.documents]
    for start in range(0, len(documents), 64):
        client.upsert(f"{name}-documents", documents[start : start + 64], wait=True)
    known = [m.PointStruct(id=i, vector={}, payload={"word": w, "df": df.get(w, 0)}) for w, i in words.ids.items()]
    for start in range(0, len(known), UPSERT_BATCH * 8):
        client.upsert(f"{name}-words", known[start : start + UPSERT_BATCH * 8], wait=True)


def _point_alias(client, alias: str, collection: str) -> None:
    m = _models()
    operations = [m.CreateAliasOperation(create_alias=m.CreateAlias(collection_name=collection, alias_name=alias))]
    if live(client, alias) is not None:
        operations.insert(0, m.DeleteAliasOperation(delete_alias=m.DeleteAlias(alias_name=alias)))
    client.update_collection_aliases(operations)  # one request: no moment without the alias


def _drop_old(client, prefix: str) -> None:
    existing = {c.name for c in client.get_collections().collections}
    versions = sorted((v, n) for n in existing if (v := _version_of(prefix, n)) is not None)
    serving = live(client, prefix)
    for _, name in versions[:-KEEP_COLLECTIONS]:
        if name != serving:
            for doomed in (name, f"{name}-documents", f"{name}-words"):
                if doomed in existing:
                    client.delete_collection(doomed)


def live(client, alias: str) -> str | None:
    """The collection the alias names now (None: none yet)."""
    found = [a.collection_name for a in client.get_aliases().aliases if a.alias_name == alias]
    return found[0] if found else None


def open_engine(index, target: ServerTarget) -> QdrantEngine:
    """The engine over the collection that a loaded version (index.load.LoadedIndex) was
    published to; raises IndexLoadError when it is not there or not whole."""

    info = index.manifest.get("engine") or {}
    if info.get("engine") != "qdrant":
        raise IndexLoadError(
            f"index at {index.path} was not published to Qdrant; "
            "rebuild it with KHAMTOP_BACKEND=qdrant khamtop index build"
        )
    client = connect(target.url, target.api_key)
    name = info["collection"]
    try:
        points = client.count(name, exact=True).count
    except Exception as exc:  # the client's errors: connection refused, unknown collection, ...
        raise IndexLoadError(f"index at {index.path}: its Qdrant collection {name} cannot be read: {exc}") from exc
    if points != info["points"]:
        raise IndexLoadError(
            f"index at {index.path}: its Qdrant collection {name} holds {points} points, not {info['points']}"
        )
    return QdrantEngine(client, name, WordIds.load(index.path, required=True), bool(info.get("exact", True)))


@dataclass
class QdrantEngine(TopK):
    """One collection (one version) of a Qdrant server, asked as the retriever asks an engine."""

    client: object
    collection: str
    words: WordIds
    exact: bool = True  # exact search (small collections), else HNSW with rescoring

    def _params(self, exact: bool):
        m = _models()
        if exact:
            return m.SearchParams(exact=True, quantization=m.QuantizationSearchParams(ignore=True))
        return m.SearchParams(hnsw_ef=HNSW_EF, quantization=m.QuantizationSearchParams(rescore=True, oversampling=2.0))

    def _top(self, query, using: str, k: int, params=None) -> list[tuple[int, float]]:
        limit = k + 16
        while True:
            points = guarded(
                self.client.query_points, self.collection, query=query, using=using, limit=limit, search_params=params
            ).points
            found = merge_top([[(int(p.id), float(p.score)) for p in points]], limit)
            # Asked for more while the k-th could tie past the end (ties go to the lower id).
            if len(points) < limit or found[k - 1][1] > found[-1][1]:
                return found[:k]
            limit *= 4

    def _sparse(self, indices: list[int], values: list[float]):
        return _models().SparseVector(indices=indices, values=values)

    def _nearest_params(self):
        return self._params(self.exact)

    def dense_scores(self, vector: np.ndarray, chunk_ids: list[int], sentence_weight: float) -> dict[int, float]:
        if not chunk_ids:
            return {}
        m = _models()
        v = vector[0].tolist()
        only = m.Filter(must=[m.HasIdCondition(has_id=list(chunk_ids))])
        params = self._params(True)
        passages, sentences = guarded(
            self.client.query_batch_points,
            self.collection,
            [
                m.QueryRequest(query=v, using=PASSAGE, filter=only, limit=len(chunk_ids), params=params),
                m.QueryRequest(query=[v], using=SENTENCES, filter=only, limit=len(chunk_ids), params=params),
            ],
        )
        cosines = {int(p.id): float(p.score) for p in passages.points}
        best = {int(p.id): float(p.score) for p in sentences.points}
        return blend_dense(chunk_ids, cosines, best, sentence_weight)
