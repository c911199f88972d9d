"""The search engine part of an index version in Qdrant's own engine, run in process
(qdrant-edge-py): the backend ``qdrant-edge`` (docs/scale-out.md, docs/decisions/018-scale-out.md).

The version folder stays what it is (texts, spans, the sentence vectors for highlights); beside
its files, ``qdrant-edge/`` holds one or more Qdrant shards of its passages as Qdrant points
(index.backends.qdrant.points; shard = chunk id mod the shard count), with ``layout.json`` saying how
they were written. The version folder is the collection and CURRENT its alias: a question is
answered from the shards of the version its retriever was made for, so no answer mixes versions.

Every file of ``qdrant-edge/`` is covered by the manifest's checksums, like the version's other
files. A published version is never written to, but qdrant-edge-py (0.9) has no read-only open:
``EdgeShard.load`` rewrites the shard's config and segment files, deletes journals and maps its
files for writing, so on a read-only mount it fails, and with the disk full it dies of SIGBUS.
So ``EdgeEngine`` opens a private copy of the shards in the temporary folder (``TMPDIR``):
each file checksummed as it is copied (holes stay holes), the copy opened, and removed when the
engine is closed or collected; a copy left by a killed process is removed by the next open.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import uuid
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.store.manifest import MANIFEST_FILE, IndexLoadError, checksums, read_manifest, sha256
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
    merge_top,
    point_rows,
)
from index.backends.base import IDF_MODES, IdfMode
from index.backends.qdrant.sparse import WORD_IDS_FILE, WordIds, passage_vectors

EDGE_DIR = "qdrant-edge"
LAYOUT_FILE = "layout.json"
FULL_SCAN_KB = 10_000  # Qdrant's default: a segment under this many KB of vectors is scanned, not graphed
COPY_PREFIX = "khamtop-edge-"  # the private copies of opened shards, in the temporary folder
# What the engine may add to a shard it opens, beyond its files (the third probe saw a version
# grow from 1.3 to 35.9 MB when opened): room the copy's disk must have, so that a full disk is a
# refusal at load rather than SIGBUS on a mapped page later.
OPEN_HEADROOM = 64 << 20


@dataclass(frozen=True)
class EdgeLayout:
    """How a version's shards are written (``index.backends.factory``, from ``Settings.backend_options``)."""

    shards: int = 1
    idf: IdfMode = "full"  # index.backends.qdrant.sparse: the build's idf in the weights, or the engine's per shard
    exact_up_to: int = 20_000  # exact search up to this many passages, HNSW above (as index.folder.ann)

    def __post_init__(self) -> None:
        if self.shards < 1:
            raise ValueError("a version needs at least one shard")
        if self.idf not in IDF_MODES:
            raise ValueError(f"unknown idf mode {self.idf!r}; use one of {', '.join(IDF_MODES)}")


def layout_mismatch(manifest: dict, layout: EdgeLayout) -> str | None:
    """Why a version written with ``manifest`` does not serve ``layout`` (None: it does)."""
    engine = manifest.get("engine") or {}
    if engine.get("engine") != "qdrant-edge":
        return "it has no qdrant-edge shards (it was built for the embedded backend)"
    have = (engine.get("shards"), engine.get("idf"))
    if have != (layout.shards, layout.idf):
        return f"its shards are {have[0]} with idf {have[1]!r}, not {layout.shards} with idf {layout.idf!r}"
    if not edge_checksums(manifest):
        return "its shards are not covered by its checksums (it was written by an older khamtop)"
    return None


def edge_files(folder: Path) -> list[str]:
    """Every file of a version's shards, as paths relative to the version folder (for the
    manifest's checksums)."""
    root = Path(folder) / EDGE_DIR
    return sorted(p.relative_to(folder).as_posix() for p in root.rglob("*") if p.is_file())


def edge_checksums(manifest: dict) -> dict[str, str]:
    """The manifest's checksums of the shards' files, by path relative to ``qdrant-edge/``."""
    files = manifest.get("files")
    prefix = EDGE_DIR + "/"
    if not isinstance(files, dict):
        return {}
    return {name[len(prefix) :]: digest for name, digest in files.items() if name.startswith(prefix)}


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
    would, without embedding again (for comparing layouts: the benchmarks and the tests), with a
    manifest of their checksums only (``EdgeEngine`` opens nothing unchecked)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    info = write_edge(folder, SearchPart.of(index), layout, WordIds.empty())
    names = [*edge_files(folder), WORD_IDS_FILE]
    manifest = {"engine": info, "files": dict(zip(names, checksums(folder, names)))}
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", "utf-8")
    return info


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


_ZEROS = memoryview(bytes(1 << 20))


def _copy_checked(source: Path, target: Path) -> str:
    """Copy ``source`` to ``target``, leaving its runs of zeros as holes (the shards' files are
    sparse: a few MB used of hundreds apparent); returns the sha256 of what was copied."""
    digest = hashlib.sha256()
    with source.open("rb") as src, target.open("wb") as out:
        while block := src.read(len(_ZEROS)):
            digest.update(block)
            if _ZEROS[: len(block)] == block:
                out.seek(len(block), os.SEEK_CUR)
            else:
                out.write(block)
        out.truncate()  # a hole at the end: the file as long as its source
    return digest.hexdigest()


def _held(lock: Path) -> bool:
    """Whether a process holds ``lock`` (a private copy's: the process that opened it)."""
    try:
        with lock.open("rb") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            return False
    except OSError:
        return True  # not ours to judge (another user's)


def _sweep(scratch: Path) -> None:
    """Remove the private copies that no process holds any more (one killed while serving)."""
    for old in scratch.glob(COPY_PREFIX + "*"):
        lock = old / ".lock"
        if lock.is_file() and not _held(lock):
            shutil.rmtree(old, ignore_errors=True)


def _private_copy(version: Path, scratch: Path | None = None) -> tuple[Path, int]:
    """A private copy of the version's ``qdrant-edge/``, each file checked against the
    manifest's checksum; returns it and the open file descriptor of its lock (held while the
    copy is in use). Raises IndexLoadError for a file that is missing, unlisted or altered, or
    when the copy cannot be made (no room)."""
    manifest = read_manifest(version)
    want = edge_checksums(manifest)
    source = version / EDGE_DIR
    if not want:
        raise IndexLoadError(
            f"index at {version}: its qdrant-edge shards are not covered by its checksums (written by an "
            "older khamtop); rebuild it with KHAMTOP_BACKEND=qdrant-edge khamtop index build"
        )
    have = {p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file()} if source.is_dir() else set()
    problem = next(
        (f"{EDGE_DIR}/{name} is missing" for name in sorted(want.keys() - have)),
        next((f"{EDGE_DIR}/{name} is not in its manifest" for name in sorted(have - want.keys())), None),
    )
    if problem:
        raise IndexLoadError(
            f"index at {version} is damaged: {problem}; rebuild it with KHAMTOP_BACKEND=qdrant-edge khamtop index build"
        )
    scratch = Path(scratch or tempfile.gettempdir())
    _sweep(scratch)
    used = sum((source / name).stat().st_blocks * 512 for name in want)
    shards = sum(1 for p in source.iterdir() if p.is_dir())
    need = used + OPEN_HEADROOM * max(shards, 1)
    free = shutil.disk_usage(scratch).free
    if free < need:
        raise IndexLoadError(
            f"index at {version}: opening its qdrant-edge shards needs {need / 1e6:.1f} MB free in {scratch} "
            f"(a private copy: the engine writes into what it opens), which has {free / 1e6:.1f} MB; "
            "free some, or set TMPDIR to a folder with room"
        )
    copy = Path(tempfile.mkdtemp(prefix=COPY_PREFIX, dir=scratch))
    # The lock is held before it has its name, so a sweep never finds a copy being made unheld.
    pending = copy / f".lock-{uuid.uuid4().hex[:8]}"
    fd = os.open(pending, os.O_CREAT | os.O_WRONLY, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.rename(pending, copy / ".lock")
    try:
        for folder in [source, *sorted(p for p in source.rglob("*") if p.is_dir())]:
            (copy / folder.relative_to(source)).mkdir(parents=True, exist_ok=True)
        for name in sorted(want):
            if _copy_checked(source / name, copy / name) != want[name]:
                raise IndexLoadError(
                    f"index at {version} is damaged: {EDGE_DIR}/{name} does not match its checksum in the "
                    "manifest; rebuild it with KHAMTOP_BACKEND=qdrant-edge khamtop index build"
                )
    except OSError as exc:  # no room, most likely
        _release([], copy, fd)
        raise IndexLoadError(
            f"index at {version}: its qdrant-edge shards cannot be copied to {scratch}: {exc}"
        ) from exc
    except BaseException:
        _release([], copy, fd)
        raise
    return copy, fd


def _release(shards: list, copy: Path, fd: int) -> None:
    """Close the shards and remove their private copy (``EdgeEngine.close``, or when collected)."""
    for shard in shards:
        with contextlib.suppress(Exception):  # the engine's error closing: nothing more to free
            shard.close()
    shutil.rmtree(copy, ignore_errors=True)
    os.close(fd)


class EdgeEngine(TopK):
    """A version's shards, opened for questions (thread-safe: Qdrant's shards are), from a
    private copy checked against the manifest: the version's own files are only read."""

    def __init__(self, folder: Path, scratch: Path | None = None) -> None:
        q = _edge()
        self.q = q
        version = Path(folder)
        if not (version / EDGE_DIR / LAYOUT_FILE).is_file():
            raise IndexLoadError(
                f"index at {version} has no qdrant-edge shards; rebuild it with "
                "KHAMTOP_BACKEND=qdrant-edge khamtop index build"
            )
        files = read_manifest(version).get("files")
        words = files.get(WORD_IDS_FILE) if isinstance(files, dict) else None
        if (version / WORD_IDS_FILE).is_file() and sha256(version / WORD_IDS_FILE) != words:
            raise IndexLoadError(
                f"index at {version} is damaged: {WORD_IDS_FILE} does not match its checksum in the manifest"
            )
        self.words = WordIds.load(version, required=True)
        copy, fd = _private_copy(version, scratch)
        self.shards: list = []
        self._release = weakref.finalize(self, _release, self.shards, copy, fd)
        try:
            self.info = json.loads((copy / LAYOUT_FILE).read_text("utf-8"))
            for i in range(int(self.info["shards"])):
                self.shards.append(q.EdgeShard.load(str(copy / f"shard-{i}")))
        except Exception as exc:  # the engine's own errors are plain Exceptions
            self.close()
            raise IndexLoadError(f"index at {version} has damaged qdrant-edge shards: {exc}") from exc
        points = sum(s.info().points_count for s in self.shards)
        if points != self.info["points"]:
            self.close()
            raise IndexLoadError(f"index at {version}: its shards hold {points} points, not {self.info['points']}")
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
        """Close the shards and remove their private copy (also done when the engine is collected)."""
        self._release()

    def _allowed(self, allowed):
        if allowed is None:
            return None
        return self.q.Filter(must=[self.q.HasIdCondition(set(np.flatnonzero(allowed).tolist()))])

    def _top(self, query, using: str, k: int, params=None, where=None) -> list[tuple[int, float]]:
        """The best ``k`` over all shards, best first and, among equals, the lower id first (as
        the embedded retriever breaks ties): asked for more while the k-th could tie past the end."""
        q = self.q
        limit = k + 16
        while True:
            lists, cut = [], float("-inf")  # cut: the best score a shard may still hold unsent
            for shard in self.shards:
                request = q.QueryRequest(
                    limit=limit, query=q.Query.Nearest(query, using=using), params=params, filter=where
                )
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

    def dense_scores(
        self, vector: np.ndarray, chunk_ids: list[int], sentence_weight: float, prefetched=None
    ) -> dict[int, float]:
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
