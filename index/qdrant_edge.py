"""The search engine part of an index version in Qdrant's own engine, run in process
(qdrant-edge-py): the backend ``qdrant-edge`` (docs/scale-out.md, docs/decisions/018-scale-out.md).

The version folder stays what it is (texts, spans, the sentence vectors for highlights); beside
its files, ``qdrant-edge/`` holds one or more Qdrant shards of its passages as Qdrant points
(index.qdrant_points; shard = chunk id mod the shard count), with ``layout.json`` saying how
they were written. The version folder is the collection and CURRENT its alias: a question is
answered from the shards of the version its retriever was made for, so no answer mixes versions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

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
    merge_top,
    point_rows,
)
from index.sparse import IDF_MODES, IdfMode, WordIds, passage_vectors

EDGE_DIR = "qdrant-edge"
LAYOUT_FILE = "layout.json"
FULL_SCAN_KB = 10_000  # Qdrant's default: a segment under this many KB of vectors is scanned, not graphed


@dataclass(frozen=True)
class EdgeLayout:
    """How a version's shards are written (``Settings.edge_layout``)."""

    shards: int = 1
    idf: IdfMode = "full"  # index.sparse: the build's idf in the weights, or the engine's per shard
    exact_up_to: int = 20_000  # exact search up to this many passages, HNSW above (as index.ann)

    def __post_init__(self) -> None:
        if self.shards < 1:
            raise ValueError("a version needs at least one shard")
        if self.idf not in IDF_MODES:
            raise ValueError(f"unknown idf mode {self.idf!r}; use one of {', '.join(IDF_MODES)}")


def layout_mismatch(manifest: dict, layout: EdgeLayout | None) -> str | None:
    """Why a version written with ``manifest`` does not serve ``layout`` (None: it does). The
    embedded backend (None) serves any version."""
    if layout is None:
        return None
    engine = manifest.get("engine") or {}
    if engine.get("engine") != "qdrant-edge":
        return "it has no qdrant-edge shards (it was built for the embedded backend)"
    have = (engine.get("shards"), engine.get("idf"))
    if have != (layout.shards, layout.idf):
        return f"its shards are {have[0]} with idf {have[1]!r}, not {layout.shards} with idf {layout.idf!r}"
    return None


def _edge():
    try:
        import qdrant_edge
    except ImportError as exc:  # the "scale" extra
        raise IndexLoadError("the qdrant-edge backend needs qdrant-edge-py: pip install -e '.[scale]'") from exc
    return qdrant_edge


def _config(q, dim: int, idf: IdfMode):
    quantization = q.ScalarQuantizationConfig(type=q.ScalarType.Int8, quantile=0.99, always_ram=True)
    return q.EdgeConfig(
        vectors={
            PASSAGE: q.EdgeVectorParams(
                size=dim,
                distance=q.Distance.Dot,
                quantization_config=quantization,
                hnsw_config=q.HnswIndexConfig(
                    m=HNSW_M, ef_construct=HNSW_EF_CONSTRUCT, full_scan_threshold=FULL_SCAN_KB
                ),
            ),
            SENTENCES: q.EdgeVectorParams(
                size=dim,
                distance=q.Distance.Dot,
                multivector_config=q.MultiVectorConfig(comparator=q.MultiVectorComparator.MaxSim),
                # Only ever scored for the candidates, never searched: no graph to build.
                hnsw_config=q.HnswIndexConfig(m=0, ef_construct=HNSW_EF_CONSTRUCT, full_scan_threshold=FULL_SCAN_KB),
                on_disk=True,
            ),
        },
        sparse_vectors={BM25: q.EdgeSparseVectorParams(modifier=q.Modifier.Idf if idf == "engine" else None)},
        # A version is written once, then only read, by any number of processes: no write-ahead
        # log (its lock would let one process open the shard), and a flush before the rename.
        wal_enabled=False,
        # A question's search runs on one thread, beside the encoder's (docs/decisions/007-question-threads.md):
        # a pool per shard, one thread per core, would compete with it for the two cores.
        max_search_threads=1,
    )


def write_edge(folder: Path, part: SearchPart, layout: EdgeLayout, words: WordIds) -> dict:
    """Write the shards of a version into ``folder/qdrant-edge``; returns what the manifest says."""
    q = _edge()
    out = Path(folder) / EDGE_DIR
    out.mkdir()
    words = words.assign(part.keyword.bm25.vocab_dict)
    sparse = passage_vectors(part.keyword, words, layout.idf)
    shards = [
        q.EdgeShard.create(str(out / f"shard-{i}"), _config(q, part.vectors.shape[1], layout.idf))
        for i in range(layout.shards)
    ]
    try:
        batch: list[list] = [[] for _ in shards]
        for row in point_rows(part, sparse):
            pending = batch[row.id % len(shards)]
            pending.append(q.Point(row.id, row.named(q.SparseVector(*row.bm25)), row.payload))
            if len(pending) == UPSERT_BATCH:
                shards[row.id % len(shards)].update(q.UpdateOperation.upsert_points(pending))
                pending.clear()
        for shard, pending in zip(shards, batch):
            if pending:
                shard.update(q.UpdateOperation.upsert_points(pending))
            shard.optimize()  # builds the HNSW graph now (above Qdrant's indexing threshold), not at the first question
            shard.flush()
    finally:
        for shard in shards:
            shard.close()
    words.save(folder)
    info = {
        "engine": "qdrant-edge",
        "qdrant_edge_py": _version("qdrant-edge-py"),
        "shards": layout.shards,
        "idf": layout.idf,
        "exact": len(part.vectors) <= layout.exact_up_to,
        "points": len(part.vectors),
        "words": len(words.ids),
        "word_id_collisions": words.collisions,
    }
    (out / LAYOUT_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", "utf-8")
    return info


def mirror(index, folder: Path, layout: EdgeLayout) -> dict:
    """Write a loaded version's search part as shards into ``folder``, as a build with ``layout``
    would, without embedding again (for comparing layouts: the benchmarks and the tests)."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    return write_edge(folder, SearchPart.of(index), layout, WordIds.empty())


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


class EdgeEngine(TopK):
    """A version's shards, opened for questions (thread-safe: Qdrant's shards are)."""

    def __init__(self, folder: Path) -> None:
        q = _edge()
        self.q = q
        folder = Path(folder) / EDGE_DIR
        layout = folder / LAYOUT_FILE
        if not layout.is_file():
            raise IndexLoadError(
                f"index at {folder.parent} has no qdrant-edge shards; rebuild it with "
                "KHAMTOP_BACKEND=qdrant-edge khamtop index build"
            )
        self.info = json.loads(layout.read_text("utf-8"))
        self.words = WordIds.load(folder.parent, required=True)
        try:
            self.shards = [q.EdgeShard.load(str(folder / f"shard-{i}")) for i in range(int(self.info["shards"]))]
        except Exception as exc:  # the engine's own errors are plain Exceptions
            raise IndexLoadError(f"index at {folder.parent} has damaged qdrant-edge shards: {exc}") from exc
        points = sum(s.info().points_count for s in self.shards)
        if points != self.info["points"]:
            raise IndexLoadError(
                f"index at {folder.parent}: its shards hold {points} points, not {self.info['points']}"
            )
        exact = bool(self.info["exact"])
        # Exact: every stored vector, unquantised, as FAISS's flat index; else HNSW over the int8
        # codes, rescored with the stored vectors.
        self._dense_params = (
            q.SearchParams(exact=True, quantization=q.QuantizationSearchParams(ignore=True))
            if exact
            else q.SearchParams(
                hnsw_ef=HNSW_EF, quantization=q.QuantizationSearchParams(rescore=True, oversampling=2.0)
            )
        )
        # Scoring chosen candidates: their stored vectors, not the quantised ones.
        self._score_params = q.SearchParams(exact=True, quantization=q.QuantizationSearchParams(ignore=True))

    def close(self) -> None:
        for shard in self.shards:
            shard.close()

    def _top(self, query, using: str, k: int, params=None) -> list[tuple[int, float]]:
        """The best ``k`` over all shards, best first and, among equals, the lower id first (as
        the embedded retriever breaks ties): asked for more while the k-th could tie past the end."""
        q = self.q
        limit = k + 16
        while True:
            lists, cut = [], float("-inf")  # cut: the best score a shard may still hold unsent
            for shard in self.shards:
                request = q.QueryRequest(limit=limit, query=q.Query.Nearest(query, using=using), params=params)
                points = shard.query(request)
                lists.append([(int(p.id), float(p.score)) for p in points])
                if len(points) == limit:
                    cut = max(cut, float(points[-1].score))
            found = merge_top(lists, limit * len(self.shards))
            if len(found) < k or found[k - 1][1] > cut:
                return found[:k]
            limit *= 4

    def _sparse(self, indices: list[int], values: list[float]):
        return self.q.SparseVector(indices, values)

    def _nearest_params(self):
        return self._dense_params

    def dense_scores(self, vector: np.ndarray, chunk_ids: list[int], sentence_weight: float) -> dict[int, float]:
        """Each candidate's (1 - w) x passage cosine + w x best sentence cosine (its passage
        cosine if it has no sentence), from the engine."""
        if not chunk_ids:
            return {}
        q = self.q
        v = vector[0].tolist()
        cosines: dict[int, float] = {}
        best: dict[int, float] = {}
        n = len(self.shards)
        for i, shard in enumerate(self.shards):
            mine = {c for c in chunk_ids if c % n == i}
            if not mine:
                continue
            only = q.Filter(must=[q.HasIdCondition(mine)])
            passages, sentences = shard.query_batch(
                q.QueryBatchRequest(
                    [
                        q.QueryRequest(
                            limit=len(mine),
                            query=q.Query.Nearest(v, using=PASSAGE),
                            filter=only,
                            params=self._score_params,
                        ),
                        q.QueryRequest(
                            limit=len(mine),
                            query=q.Query.Nearest([v], using=SENTENCES),
                            filter=only,
                            params=self._score_params,
                        ),
                    ]
                )
            )
            cosines.update((int(p.id), float(p.score)) for p in passages)
            best.update((int(p.id), float(p.score)) for p in sentences)
        return blend_dense(chunk_ids, cosines, best, sentence_weight)
