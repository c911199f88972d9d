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

from dataclasses import dataclass

import numpy as np

from index.qdrant_edge import BM25, HNSW_EF, PASSAGE, SENTENCES, UPSERT_BATCH, blend_dense, merge_top, point_rows
from index.sparse import IdfMode, WordIds, passage_vectors

KEEP_COLLECTIONS = 3  # as index.versions keeps three version folders


def collection_name(prefix: str, version: int) -> str:
    return f"{prefix}-v{version:06d}"


def _models():
    try:
        from qdrant_client import models
    except ImportError as exc:  # the "scale" extra
        raise RuntimeError("the qdrant backend needs qdrant-client: pip install -e '.[scale]'") from exc
    return models


def publish(client, index, prefix: str, idf: IdfMode = "full", words: WordIds | None = None) -> str:
    """Write the loaded version ``index`` as its own collection, move the alias ``prefix`` to it,
    and drop all but the newest ``KEEP_COLLECTIONS`` of this prefix; returns the collection's name.
    An existing collection of the same version is replaced (a write that failed half-way)."""
    m = _models()
    name = collection_name(prefix, index.version)
    dim = index.passage_vectors.shape[1]
    if client.collection_exists(name):
        client.delete_collection(name)
    client.create_collection(
        name,
        vectors_config={
            PASSAGE: m.VectorParams(
                size=dim,
                distance=m.Distance.DOT,
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
    words = (words or WordIds.empty()).assign(index.keyword.bm25.vocab_dict)
    sparse = passage_vectors(index.keyword, words, idf)
    rows = point_rows(
        index.passage_vectors,
        index.sentence_vectors,
        index.chunk_sentences,
        index.documents.doc_ids,
        index.chunks.spans,
        sparse,
    )
    batch = []
    for row in rows:
        vector = {PASSAGE: row.passage, BM25: m.SparseVector(indices=row.bm25[0], values=row.bm25[1])}
        if row.sentences is not None:
            vector[SENTENCES] = row.sentences
        batch.append(m.PointStruct(id=row.id, vector=vector, payload={**row.payload, "version": index.version}))
        if len(batch) == UPSERT_BATCH:
            client.upsert(name, batch, wait=True)
            batch = []
    if batch:
        client.upsert(name, batch, wait=True)
    _point_alias(client, prefix, name)
    _drop_old(client, prefix)
    return name


def _point_alias(client, alias: str, collection: str) -> None:
    m = _models()
    operations = [m.CreateAliasOperation(create_alias=m.CreateAlias(collection_name=collection, alias_name=alias))]
    if live(client, alias) is not None:
        operations.insert(0, m.DeleteAliasOperation(delete_alias=m.DeleteAlias(alias_name=alias)))
    client.update_collection_aliases(operations)  # one request: no moment without the alias


def _drop_old(client, prefix: str) -> None:
    names = sorted(c.name for c in client.get_collections().collections if c.name.startswith(f"{prefix}-v"))
    serving = live(client, prefix)
    for name in names[:-KEEP_COLLECTIONS]:
        if name != serving:
            client.delete_collection(name)


def live(client, alias: str) -> str | None:
    """The collection the alias names now (None: none yet)."""
    found = [a.collection_name for a in client.get_aliases().aliases if a.alias_name == alias]
    return found[0] if found else None


@dataclass
class QdrantEngine:
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
            points = self.client.query_points(
                self.collection, query=query, using=using, limit=limit, search_params=params
            ).points
            found = merge_top([[(int(p.id), float(p.score)) for p in points]], limit)
            # Asked for more while the k-th could tie past the end (ties go to the lower id).
            if len(points) < limit or found[k - 1][1] > found[-1][1]:
                return found[:k]
            limit *= 4

    def keyword(self, words: list[str], k: int) -> list[tuple[int, float]]:
        indices, values = self.words.query(words)
        if not indices or k <= 0:
            return []
        return self._top(_models().SparseVector(indices=indices, values=values), BM25, k)

    def nearest(self, vector: np.ndarray, k: int) -> list[int]:
        return [i for i, _ in self._top(vector[0].tolist(), PASSAGE, k, self._params(self.exact))]

    def dense_scores(self, vector: np.ndarray, chunk_ids: list[int], sentence_weight: float) -> dict[int, float]:
        if not chunk_ids:
            return {}
        m = _models()
        v = vector[0].tolist()
        only = m.Filter(must=[m.HasIdCondition(has_id=list(chunk_ids))])
        params = self._params(True)
        passages, sentences = self.client.query_batch_points(
            self.collection,
            [
                m.QueryRequest(query=v, using=PASSAGE, filter=only, limit=len(chunk_ids), params=params),
                m.QueryRequest(query=[v], using=SENTENCES, filter=only, limit=len(chunk_ids), params=params),
            ],
        )
        cosines = {int(p.id): float(p.score) for p in passages.points}
        best = {int(p.id): float(p.score) for p in sentences.points}
        return blend_dense(chunk_ids, cosines, best, sentence_weight)
