"""Exact against approximate FAISS indexes at 100k (and more) passages: latency, recall, memory.

    python -m benchmarks.ann [--sizes 100000 1000000] [--queries 500] [--indexes flat,hnsw32] [--out FILE]

Real e5 vectors are replicated to the size wanted, each copy nudged with a little noise and
re-normalised, so the clusters look like a real corpus's; queries are other real vectors,
nudged the same way. Recall@10 is against exact (flat) search on the same vectors. Timings are
one query at a time on one thread, as the service searches, asking for 10 and for the 100
candidates the service's dense search takes. It needs an iApp evaluation index, which
`python -m benchmarks.backends` or `khamtop eval --dataset ../shared/datasets/iapp-wiki-qa-dev`
builds (or any built index: ``--index DIR``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import faiss
import numpy as np

from benchmarks.common import IAPP, eval_cache, parser, write_result


def sources() -> list[Path]:
    """The iApp evaluation indexes, in order of preference: the default backend's
    (benchmarks.backends), the other backends', khamtop eval's."""
    from service.settings import Settings

    settings = Settings()
    cache = settings.home / "data" / "eval-cache"
    found = [eval_cache(settings, "iapp")] + [cache / backend / "iapp" for backend in ("onnx", "onnx-int8", "torch")]
    return list(dict.fromkeys(found + [cache / IAPP.name]))


def real_vectors(source: Path | None = None) -> np.ndarray:
    """Every stored e5 vector of the iApp evaluation index (or the index at ``source``):
    passages and sentences."""
    from index.folder.layout import PASSAGE_VECTORS_FILE, SENTENCE_SCALES_FILE, SENTENCE_VECTORS_FILE
    from index.folder.load import index_exists, resolve
    from index.folder.vectors import Int8Rows

    candidates = [source] if source else sources()
    source = next((s for s in candidates if index_exists(s)), None)
    if source is None:
        raise SystemExit(f"no index at {candidates[0]}: run `python -m benchmarks.backends` (or give --index)")
    folder = resolve(source)
    sentences = Int8Rows(np.load(folder / SENTENCE_VECTORS_FILE), np.load(folder / SENTENCE_SCALES_FILE))
    return np.concatenate([np.load(folder / PASSAGE_VECTORS_FILE), sentences[:]]).astype(np.float32)


def replicate(base: np.ndarray, n: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    rows = base[rng.integers(0, len(base), n)] + rng.normal(0, noise, (n, base.shape[1])).astype(np.float32)
    faiss.normalize_L2(rows)
    return rows


def _time_queries(index, queries: np.ndarray, k: int) -> tuple[np.ndarray, list[float]]:
    ids, times = [], []
    for q in queries:
        started = time.perf_counter()
        _, found = index.search(q[None, :], k)
        times.append((time.perf_counter() - started) * 1000)
        ids.append(found[0])
    return np.array(ids), times


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(found.tolist(), truth.tolist())]))


def measure(
    size: int, n_queries: int, rng: np.random.Generator, names: list[str], source: Path | None = None
) -> list[dict]:
    base = real_vectors(source)
    data = replicate(base, size, 0.02, rng)
    queries = replicate(base, n_queries, 0.03, rng)
    dim = data.shape[1]
    faiss.omp_set_num_threads(1)
    candidates = {
        "flat": lambda: faiss.IndexFlatIP(dim),
        "hnsw32": lambda: faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT),
        "hnsw32+sq8": lambda: faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, 32, faiss.METRIC_INNER_PRODUCT),
        "ivf1024+sq8": lambda: faiss.IndexIVFScalarQuantizer(
            faiss.IndexFlatIP(dim), dim, 1024, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        ),
    }
    rows, truth = [], {}
    for name in names:
        index = candidates[name]()
        faiss.omp_set_num_threads(2)  # building may use both cores
        started = time.perf_counter()
        if not index.is_trained:
            index.train(data[rng.choice(size, min(size, 50_000), replace=False)])
        if name.startswith("hnsw"):
            index.hnsw.efConstruction = 80  # as index/folder/ann.py builds it
        index.add(data)
        build_s = time.perf_counter() - started
        faiss.omp_set_num_threads(1)
        bytes_ = faiss.serialize_index(index).nbytes
        params: list = [None]
        if name.startswith("hnsw"):
            params = [64, 128, 160, 256]
        elif name.startswith("ivf"):
            params = [8, 16, 32, 64]
        for param in params:
            if name.startswith("hnsw"):
                index.hnsw.efSearch = param
            elif name.startswith("ivf"):
                index.nprobe = param
            row = {"size": size, "index": name, "search_param": param, "build_s": round(build_s, 1)}
            row["mib"] = round(bytes_ / 2**20, 1)
            for k in (10, 100):
                _time_queries(index, queries[:20], k)  # warm-up
                found, times = _time_queries(index, queries, k)
                if name == "flat":
                    truth[k] = found
                row[f"p50_ms@{k}"] = round(float(np.percentile(times, 50)), 3)
                row[f"p99_ms@{k}"] = round(float(np.percentile(times, 99)), 3)
                if k in truth:
                    row[f"recall@{k}"] = round(_recall(found, truth[k]), 4)
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    arguments = parser(__doc__, "ann-latest.json")
    arguments.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    arguments.add_argument("--queries", type=int, default=500)
    arguments.add_argument("--indexes", default="flat,hnsw32,hnsw32+sq8,ivf1024+sq8", help="flat first: the truth")
    arguments.add_argument(
        "--index", type=Path, default=None, help="the index whose vectors are grown (default: the iApp evaluation one)"
    )
    args = arguments.parse_args()
    rng = np.random.default_rng(0)
    names = args.indexes.split(",")
    rows = [row for size in args.sizes for row in measure(size, args.queries, rng, names, args.index)]
    write_result(args.out, rows)


if __name__ == "__main__":
    main()
