"""Filtered questions at scale, on real text: how a filter that keeps 1% or 50% of the passages is
searched (exactly over its passages, or by HNSW skipping the others), its recall@10 against exact
filtered search, and its time in process and over HTTP.

    python -m benchmarks.filtered_scale [--base data/scale/thaigov] [--passages 1000000] [--out]

The base is an index of distinct real thaigov-v2 news items (``python -m benchmarks.thaigov_index``
builds it, in batches that survive a stop). It is grown to ``--passages`` with perturbed copies of
its passages (eval.bench.replicate_index: each copy's vectors nudged, texts and metadata the
same), kept in ``--grown`` for the next run; the report says how many passages are real.

Filters, from the base's own metadata (the copies keep it, so the shares hold at 1M):
- **1%**: the category (tag ``category``) whose share of passages is nearest 1%;
- **50%**: items dated on or after the median passage's date.

recall@10: of the ten passages a search proposes (the engine's nearest, and the retriever's final
ranking, hybrid, unread), the share that exact filtered search proposes too: the same code with
the nearest passages found by reading every allowed passage's stored vector. Measured on the
real passages alone (the base, above the exact-search size so it is HNSW too) and at the grown
size. Time: in process (the retriever, unread) for each way of searching a filter, then over HTTP
(the service, ``read: false``, one client) for the chosen one.
"""

from __future__ import annotations

import dataclasses
import gc
import re
import time
from pathlib import Path

import numpy as np

from benchmarks import common

GROWN = common.ROOT / "data" / "scale" / "grown"


_TITLE_PREFIX = re.compile(r"^รัฐบาลไทย-ข่าวทำเนียบรัฐบาล-")
QUESTION_CHARS = 80  # about the gold set's questions (median 66 characters)


def _questions(base_docs: set[str], count: int) -> list[str]:
    """Titles of thaigov items that are not in the base: headlines, asked as questions (the site's
    prefix dropped, cut at a space to about the length of a question)."""
    import json
    import lzma

    from benchmarks.thaigov_index import THAIGOV

    out: list[str] = []
    with lzma.open(THAIGOV, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f):
            if n % 7 != 3:
                continue
            row = json.loads(line)
            title = _TITLE_PREFIX.sub("", (row.get("title") or "").strip())
            if len(title) > QUESTION_CHARS:
                cut = title.rfind(" ", 0, QUESTION_CHARS)
                title = title[: cut if cut > 20 else QUESTION_CHARS]
            if row["id"] not in base_docs and len(title) >= 10:
                out.append(title)
            if len(out) >= count:
                break
    return out


def _filters(index) -> dict:
    """The 1% and 50% filters, chosen from the index's own metadata."""
    from corpus.filters import Filter, bound, document_day

    docs = index.documents
    chunk_docs = [index.chunks[i].doc_id for i in range(len(index.chunks))]
    per_doc: dict[str, int] = {}
    for d in chunk_docs:
        per_doc[d] = per_doc.get(d, 0) + 1
    categories: dict[str, int] = {}
    days = []
    for doc_id, n in per_doc.items():
        doc = docs[doc_id]
        category = dict(doc.tags).get("category", "")
        categories[category] = categories.get(category, 0) + n
        days.extend([doc.date] * n)
    total = len(chunk_docs)
    one = min(categories, key=lambda c: abs(categories[c] / total - 0.01))
    # By the day each date names (the items' dates mix the eras), not by the strings.
    median = sorted(days, key=lambda d: document_day(d) or 0)[total // 2]
    return {
        "1%": (Filter(tags=(("category", (one,)),)), {"tags": {"category": one}}),
        "50%": (Filter(date_from=bound(median, False)), {"date_from": median}),
    }


class ExactEngine:
    """The engine with its nearest passages found exactly: every allowed passage's stored vector."""

    def __init__(self, engine) -> None:
        self.engine = engine

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def nearest(self, vector, k, allowed=None):
        # Every passage's score in one product over the mapped vectors (no gathered copy), the
        # others ruled out, then the best k: best first, the lower id among equals.
        scores = np.asarray(self.engine.index.passage_vectors @ vector[0], dtype=np.float32)
        if allowed is not None:
            scores[~allowed] = -np.inf
        count = len(scores) if allowed is None else int(np.count_nonzero(allowed))
        if count == 0:
            return []
        from index.folder.keyword import top_k_of

        best, _ = top_k_of(scores, min(k, count), positive=False)
        return best.tolist()


def _measure(retriever, exact, questions: list[str], only, ways: dict[str, int]) -> dict:
    """Per way of searching (the engine's ``scan_up_to``): recall@10 against exact, and time."""
    engine = retriever.engine
    allowed = retriever._allowed(only)
    share = float(np.count_nonzero(allowed) / len(allowed)) if allowed is not None else 1.0
    want_nearest, want_final = [], []
    for q in questions:
        vector = retriever.embedder.embed_queries([q])
        want_nearest.append(set(exact.engine.nearest(vector, 10, allowed)))
        want_final.append({p.passage.id for p in exact.search(q, 10, read=False, only=only).passages})
    out = {"share": round(share, 4), "allowed": int(share * len(engine.index.chunks)), "ways": {}}
    for way, scan_up_to in ways.items():
        engine.scan_up_to = scan_up_to
        recall_nearest, recall_final, took = [], [], []
        retriever.search(questions[0], 10, read=False, only=only)  # warm-up
        for q, wn, wf in zip(questions, want_nearest, want_final):
            vector = retriever.embedder.embed_queries([q])
            got = engine.nearest(vector, 10, allowed)
            recall_nearest.append(len(wn & set(got)) / max(1, len(wn)))
            t0 = time.perf_counter()
            found = retriever.search(q, 10, read=False, only=only)
            took.append((time.perf_counter() - t0) * 1000)
            recall_final.append(len(wf & {p.passage.id for p in found.passages}) / max(1, len(wf)))
        out["ways"][way] = {
            "recall@10_nearest": round(float(np.mean(recall_nearest)), 4),
            "recall@10_final": round(float(np.mean(recall_final)), 4),
            "p50_ms": round(float(np.percentile(took, 50)), 2),
            "p99_ms": round(float(np.percentile(took, 99)), 2),
        }
        print(f"  {way}: {out['ways'][way]}", flush=True)
    return out


def _in_process(index, embedder, settings, questions, filters) -> dict:
    from index.folder.engine import SCAN_UP_TO, FolderEngine
    from index.search.retriever import Retriever

    config = settings.search_config()
    retriever = Retriever(embedder, index, config, engine=FolderEngine(index))
    exact_engine = FolderEngine(index)
    exact = Retriever(embedder, index, config, engine=ExactEngine(exact_engine))
    runs = {}
    n = len(index.chunks)
    for name, (only, _) in [("none", (None, None)), *filters.items()]:
        print(f"{name}:", flush=True)
        ways = {"hnsw": 0} if name == "none" else {"scan": n, "hnsw": 0}
        if only is not None and np.count_nonzero(retriever._allowed(only)) > 4 * SCAN_UP_TO:
            del ways["scan"]  # reading half a million vectors a question: not a way (measured once: 280 ms)
        runs[name] = _measure(retriever, exact, questions, only, ways)
    return runs


def _http(index_dir: Path, questions: list[str], filters: dict, requests: int) -> dict:
    from eval.bench import drive, live_service

    out = {}
    with live_service(index_dir) as service:
        for name, (_, body) in [("none", (None, None)), *filters.items()]:
            drive(service.base_url, questions, 20, 1, read=False, filter=body)  # warm-up
            out[name] = drive(service.base_url, questions, requests, 1, read=False, filter=body)
            print(f"HTTP {name}: p50 {out[name]['p50_ms']:.1f} ms, p99 {out[name]['p99_ms']:.1f} ms", flush=True)
    return out


def main() -> None:
    p = common.parser(__doc__, "filtered-scale.json")
    p.add_argument("--base", type=Path, default=common.ROOT / "data" / "scale" / "thaigov")
    p.add_argument("--passages", type=int, default=1_000_000)
    p.add_argument("--grown", type=Path, default=GROWN)
    p.add_argument("--questions", type=int, default=100)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--no-http", action="store_true")
    args = p.parse_args()

    from eval.bench import _kept_replica, replica_key, replicate_index
    from index.encoders.factory import load_embedder
    from index.folder.engine import SCAN_UP_TO
    from index.folder.load import load_index
    from service.settings import Settings

    settings = Settings()
    embedder = load_embedder(settings.encoder_config())
    config = settings.index_config()
    base = load_index(args.base, embedder)
    real = len(base.chunks)
    print(f"base: {len(base.documents.doc_ids)} real items, {real} real passages", flush=True)
    questions = _questions(set(base.documents.doc_ids), args.questions)
    filters = _filters(base)
    report = {
        "real_passages": real,
        "real_items": len(base.documents.doc_ids),
        "questions": len(questions),
        "filters": {k: body for k, (_, body) in filters.items()},
        "scan_up_to": SCAN_UP_TO,
    }
    # The real passages alone, searched through HNSW whatever their number (the service uses
    # exact search up to KHAMTOP_EXACT_SEARCH_UP_TO): the approximate search's recall on real text.
    from index.folder.ann import build_faiss

    vectors = np.asarray(base.passage_vectors, dtype=np.float32)
    hnsw, info = build_faiss(vectors, embedder.embed_queries(questions[:50]), 0)
    report["real_hnsw"] = {k: v for k, v in info.items() if k.startswith(("recall", "type", "M", "ef"))}
    print(f"real passages alone, through HNSW ({report['real_hnsw']}):", flush=True)
    report["real"] = _in_process(dataclasses.replace(base, faiss_index=hnsw), embedder, settings, questions, filters)
    del base
    gc.collect()

    if args.passages > real:
        started = time.perf_counter()
        manifest = load_index(args.base, embedder).manifest
        key = replica_key(manifest, args.passages, config.exact_up_to)
        grown = _kept_replica(args.grown, key, embedder)
        if grown is None:
            replicate_index(args.base, args.grown, args.passages, embedder, config)
            grown = load_index(args.grown, embedder)
        report["grown_s"] = round(time.perf_counter() - started, 1)
        report["grown_passages"] = len(grown.chunks)
        print(f"grown: {len(grown.chunks)} passages ({report['grown_s']} s)", flush=True)
        report["grown"] = _in_process(grown, embedder, settings, questions, filters)
        del grown
        gc.collect()
        if not args.no_http:
            report["http"] = _http(args.grown, questions, filters, args.requests)
    common.write_result(args.out, report)


if __name__ == "__main__":
    main()
