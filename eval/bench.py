"""``khamtop bench``: index build throughput, query latency in process and over HTTP, memory.

A benchmark, not a test: it prints figures and writes them as JSON, and asserts nothing. The
HTTP part runs ``khamtop serve`` in its own process on loopback and drives it from this process
with 1 and 8 concurrent clients, a bounded number of requests each; the clients share the two
cores with the service, so the figures are what one machine does end to end.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from http.client import HTTPConnection, HTTPException
from pathlib import Path
from urllib.parse import urlsplit


from corpus.document import Document
from corpus.reader import read_folder
from eval.datasets import GOLD, load_dataset, load_gold
from eval.live import live_service
from eval.metrics import percentile
from index.encoders.base import Embedder
from index.reader.runtime import Reader
from index.search.retriever import Retriever
from index.build.write import IndexConfig, build_index
from index.folder.load import load_index
from service.state import engine_for


@dataclass
class Workload:
    name: str
    documents: list[Document]
    questions: list[str]


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    import torch

    return {
        "cpu": cpu,
        # What int8 inference speed depends on: VNNI makes int8 matrix products about twice as fast.
        "simd": [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8") if f in flags],
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }


def workload(corpus_dir: Path, dataset: Path | None, passages: int | None) -> Workload:
    if dataset is not None:
        data = load_dataset(dataset)
        documents = (data.documents or [])[:passages] if passages else data.documents or []
        return Workload(f"{dataset.name} ({len(documents)} passages)", documents, [q.question for q in data.questions])
    documents, _ = read_folder(corpus_dir)
    questions = [q.question for q in load_gold(GOLD, documents).questions] if GOLD.is_file() else []
    return Workload("bundled corpus", documents, questions or [d.title for d in documents])


def _stats(latencies_ms: list[float], wall_s: float | None = None) -> dict:
    out = {
        "requests": len(latencies_ms),
        "p50_ms": percentile(latencies_ms, 50),
        "p95_ms": percentile(latencies_ms, 95),
        "p99_ms": percentile(latencies_ms, 99),
    }
    if wall_s:
        out["requests_per_s"] = len(latencies_ms) / wall_s
    return out


def replicate_index(source: Path, out: Path, passages: int, embedder: Embedder, config: IndexConfig) -> dict:
    """A copy of the index at ``source`` grown to at least ``passages`` passages, without encoding.

    Each document is copied under a new id (``doc~2``); each copy's passage and sentence vectors
    are nudged by N(0, 0.02) noise and re-normalised, so that the copies are near neighbours but
    not duplicates (a real large corpus has near-duplicates too; exact ones would make the
    approximate index's recall meaningless). Texts are the same, so BM25's postings grow as they
    would. Written as a normal index version (the same code path as a build, index type included).
    """
    import math
    from dataclasses import replace

    import faiss
    import numpy as np

    from index.build.embed import DocumentParts
    from index.build.version import parts_of
    from index.build.write import write_parts
    from index.folder.vectors import Int8Rows

    source_index = load_index(source, embedder)
    base = parts_of(source_index)
    have = sum(len(p.chunks) for p in base.values())
    if not have:
        raise ValueError(f"the index at {source} has no passages to copy")
    copies = math.ceil(passages / have)
    rng = np.random.default_rng(0)

    def nudged(vectors: np.ndarray) -> np.ndarray:
        out = (vectors + rng.normal(0, 0.02, vectors.shape)).astype(np.float32)
        faiss.normalize_L2(out)
        return out

    parts = {}
    for r in range(copies):
        for doc_id, p in base.items():
            new_id = doc_id if r == 0 else f"{doc_id}~{r}"
            parts[new_id] = DocumentParts(
                replace(p.document, doc_id=new_id),
                [replace(c, doc_id=new_id) for c in p.chunks],
                p.vectors if r == 0 else nudged(p.vectors),
                [replace(s, doc_id=new_id) for s in p.sentences],
                # Kept in int8 as they are built (as the index stores them): 2.3 GB at 1M, not 9.
                p.sentence_vectors if r == 0 else Int8Rows.of(nudged(p.sentence_vectors)),
            )
    # What the copy was made from, so that a kept copy is used again only for the same request.
    change = {
        "kind": "build",
        "documents": len(parts),
        "replica_of": replica_key(source_index.manifest, passages, config.exact_up_to),
    }
    return write_parts(out, parts, change, embedder, config)


def replica_key(source_manifest: dict, passages: int, exact_up_to: int) -> dict:
    return {
        "corpus": source_manifest["corpus"]["checksum"],
        "chunker": source_manifest["chunker"],
        "passages": passages,
        "exact_up_to": exact_up_to,
    }


def _kept_replica(path: Path, key: dict, embedder: Embedder):
    """The grown copy kept at ``path`` by an earlier run, loaded, if it was made for the same
    request (``replica_key``: source corpus, chunking, size, index type) and loads with this
    model (growing one to 1M passages takes about 5 minutes)."""
    from index.store.manifest import IndexLoadError
    from index.folder.load import index_exists

    if not index_exists(path):
        return None
    try:
        index = load_index(path, embedder)
    except IndexLoadError:
        return None
    return index if index.manifest.get("change", {}).get("replica_of") == key else None


def memory_mib(pid: int) -> dict:
    """The service's memory from /proc: its peak resident set, and what is resident now split into
    its own memory (anonymous) and mapped files' pages (the vectors and postings: page cache,
    which the kernel can drop and read again)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    fields = {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines() if line.endswith(" kB")}
    names = {"VmHWM": "peak_rss_mib", "VmRSS": "rss_mib", "RssAnon": "anon_mib", "RssFile": "file_mib"}
    return {out: fields[key] / 1024 for key, out in names.items() if key in fields}


def _minor_faults(pid: int) -> int | None:
    """The process's minor page faults so far (/proc/PID/stat, field 10): memory it touched for
    the first time, or pages mapped in again. Per request it shows allocation churn."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[7])
    except (OSError, IndexError, ValueError):
        return None


def drive(
    base: str, questions: list[str], requests: int, clients: int, read: bool = True, filter: dict | None = None
) -> dict:
    """``requests`` questions spread over ``clients`` threads, each with its own connection;
    ``read``: the requests' ``read`` field; ``filter``: their ``filter`` (docs/api.md)."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()

    # The standard library's client: the clients share the service's two cores, and httpx spent
    # about 1 ms of CPU a request more, which showed in the service's figures
    # (docs/decisions/014-two-core-speed-targets.md).
    url = urlsplit(base)
    extra = {"filter": filter} if filter else {}
    bodies = [
        json.dumps({"question": q, "top_k": 5, "read": read, **extra}, ensure_ascii=False).encode() for q in questions
    ]
    headers = {"Content-Type": "application/json", "Accept-Encoding": "gzip"}

    def client(worker: int) -> None:
        nonlocal errors
        http = HTTPConnection(url.hostname, url.port, timeout=60)
        try:
            for i in range(worker, requests, clients):
                t0 = time.perf_counter()
                try:
                    http.request("POST", "/v1/ask", body=bodies[i % len(bodies)], headers=headers)
                    response = http.getresponse()
                    response.read()
                    failed = response.status != 200
                except (OSError, HTTPException):  # a dropped connection is an error, not a lost request
                    http.close()
                    failed = True
                elapsed = (time.perf_counter() - t0) * 1000
                with lock:
                    latencies.append(elapsed)
                    errors += failed
        finally:
            http.close()

    threads = [threading.Thread(target=client, args=(w,)) for w in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = _stats(latencies, time.perf_counter() - started)
    result["clients"] = clients
    result["read"] = read
    result["errors"] = errors
    return result


def _http(
    index_dir: Path, questions: list[str], requests: int, concurrency: tuple[int, ...], reads: tuple[bool, ...]
) -> dict:
    with live_service(index_dir) as service:
        runs = []
        for read in reads:
            drive(service.base_url, questions, min(20, requests), 1, read)  # warm-up, not counted
            for clients in concurrency:
                before = _minor_faults(service.pid)
                run = drive(service.base_url, questions, requests, clients, read)
                after = _minor_faults(service.pid)
                if before is not None and after is not None:
                    run["minor_faults_per_request"] = (after - before) / max(run["requests"], 1)
                runs.append(run)
        memory = memory_mib(service.pid)
        return {"ready_s": service.ready_s, "runs": runs, "peak_rss_mib": memory.get("peak_rss_mib"), "memory": memory}


def run_bench(
    settings,
    embedder: Embedder,
    load: Workload,
    *,
    requests: int = 200,
    concurrency: tuple[int, ...] = (1, 8),
    http: bool = True,
    progress: bool = False,
    replicate: int | None = None,
    keep_replica: Path | None = None,
) -> dict:
    config = settings.index_config()
    with tempfile.TemporaryDirectory(prefix="khamtop-bench-") as tmp:
        index_dir = Path(tmp) / "index"
        started = time.perf_counter()
        manifest = build_index(load.documents, embedder, config, index_dir, progress=progress)
        build_s = time.perf_counter() - started
        corpus = manifest["corpus"]
        build = {
            "documents": corpus["documents"],
            "passages": corpus["chunks"],
            "sentences": corpus["sentences"],
            "characters": corpus["characters"],
            "seconds": build_s,
            "passages_per_s": corpus["chunks"] / build_s,
            "texts_per_s": (corpus["chunks"] + corpus["sentences"]) / build_s,
            "characters_per_s": corpus["characters"] / build_s,
        }
        index = None
        if replicate and replicate > corpus["chunks"]:
            started = time.perf_counter()
            replicated = keep_replica or Path(tmp) / "replicated"
            key = replica_key(manifest, replicate, config.exact_up_to)
            index = _kept_replica(replicated, key, embedder)  # loaded already: no second checksum pass
            if index is None:
                replicate_index(index_dir, replicated, replicate, embedder, config)
                build["replicated_s"] = time.perf_counter() - started
            index_dir = replicated
        index = index or load_index(index_dir, embedder)
        manifest, corpus = index.manifest, index.manifest["corpus"]
        reader = Reader(settings.reader_config()) if settings.reader else None
        retriever = Retriever(
            embedder, index, settings.search_config(), reader=reader, engine=engine_for(settings, index)
        )
        # With the reader and without (a request's `read: false`): today's path, at today's speed.
        reads = (True, False) if reader is not None else (False,)
        in_process = {}
        for read in reads:
            retriever.search(load.questions[0], top_k=5, read=read)  # warm-up
            latencies = []
            for i in range(requests):
                t0 = time.perf_counter()
                retriever.search(load.questions[i % len(load.questions)], top_k=5, read=read)
                latencies.append((time.perf_counter() - t0) * 1000)
            in_process["read" if read else "unread"] = _stats(latencies)
        report = {
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "workload": load.name,
            "model": manifest["model"]["id"],
            "backend": settings.embedding_backend,
            "settings": {
                "encoder_threads": settings.encoder_threads,
                "query_encoder_threads": settings.query_encoder_threads,
                "search_concurrency": settings.search_concurrency,
                "query_batch_max": settings.query_batch_max,
                "exact_search_up_to": settings.exact_search_up_to,
                "reader": settings.reader,
                "reader_precision": settings.reader_precision,
                "reader_candidates": settings.reader_candidates,
                "reader_max_length": settings.reader_max_length,
                "reader_threads": settings.reader_threads,
            },
            "chunker": manifest["chunker"],
            "build": build,
            "searched": {
                "passages": corpus["chunks"],
                "sentences": corpus["sentences"],
                "documents": corpus["documents"],
                "faiss": manifest["faiss"],
            },
            "in_process": in_process,
        }
        # The in-process copy is let go before the service starts: a 1M index held here as well
        # slowed the service's start by 2-3 s (9.5-10.1 s to ready against 6.2-6.8 alone).
        del retriever, index, reader
        gc.collect()
        if http:
            report["http"] = _http(index_dir, load.questions, requests, concurrency, reads)
    return report


def print_report(report: dict, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    m, b = report["machine"], report["build"]
    console.print(f"{report['workload']} · {m['cpu']} · {m['cores']} cores · backend {report.get('backend')}")
    console.print(
        f"index build: {b['passages']} passages + {b['sentences']} sentences ({b['characters']:,} characters) "
        f"in {b['seconds']:.1f} s = {b['passages_per_s']:.1f} passages/s ({b['texts_per_s']:.1f} texts/s)"
    )
    searched = report["searched"]
    faiss_info = searched["faiss"]
    recall = f", recall@10 {faiss_info['recall@10']}" if "recall@10" in faiss_info else ""
    console.print(f"searched: {searched['passages']:,} passages, {faiss_info['type']}{recall}")
    table = Table(title="query latency")
    for col in ("where", "read", "clients", "requests", "p50 ms", "p95 ms", "p99 ms", "req/s", "errors"):
        table.add_column(col, justify="right")
    for kind, ip in report["in_process"].items():
        table.add_row(
            "in process",
            "yes" if kind == "read" else "no",
            "1",
            str(ip["requests"]),
            f"{ip['p50_ms']:.1f}",
            f"{ip['p95_ms']:.1f}",
            f"{ip['p99_ms']:.1f}",
            "-",
            "-",
        )
    for run in report.get("http", {}).get("runs", []):
        table.add_row(
            "HTTP",
            "yes" if run.get("read") else "no",
            str(run["clients"]),
            str(run["requests"]),
            f"{run['p50_ms']:.1f}",
            f"{run['p95_ms']:.1f}",
            f"{run['p99_ms']:.1f}",
            f"{run['requests_per_s']:.1f}",
            str(run["errors"]),
        )
    console.print(table)
    if "http" in report:
        h = report["http"]
        peak = f"{h['peak_rss_mib']:.0f} MiB" if h["peak_rss_mib"] else "unknown"
        console.print(f"service: ready {h['ready_s']:.1f} s after start, peak memory (RSS) {peak}")
        m = h.get("memory", {})
        if "anon_mib" in m:
            console.print(
                f"service memory at the end: {m['rss_mib']:.0f} MiB resident = {m['anon_mib']:.0f} MiB its own "
                f"+ {m['file_mib']:.0f} MiB of mapped index files (page cache the kernel can drop)"
            )


def write_report(report: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
