"""The qdrant backend's writer: what admin updates cost, and how the final version ranks.

The iApp valid documents (their vectors from the eval cache: nothing is embedded for the build)
less ten held out at random are built with the qdrant backend into qdrant-client's local mode,
once per idf mode ("full": the build's weights in each point; "engine": Qdrant's IDF over the
version's own points). The version folder is a ledger (index.backends.qdrant.ledger). Then a sequence of admin
updates (update_index), each written into the collection in place: five held-out documents
added one at a time, one document replaced (a Thai sentence appended), one removed. Then one
more removal with ``rewrite_after`` 0: the batched rebuild, a new collection copied from the
live one (vectors read back, BM25 weighed again). For each step: the wall seconds, the seconds
inside the Qdrant write (index.backends.qdrant.updates.write_build / write_update) and the alias move,
what the manifest says was written (engine.written), the passages, the points the collection
holds, and the ledger folder's bytes.

Then the rankings of the version after the in-place updates and of the rewritten one: the
writer's retriever (over the collection) against the embedded retriever over an embedded build
of the same documents, on a seeded sample of iApp valid questions (read: false, top 10): the
share of identical top-10 lists of (document, span), the largest score difference over matched
ranks, and the keyword list's top-10 overlap. Points an update kept keep the BM25 weights of the
version that wrote them (with "full" idf, that version's idf; with either, its average length).

Local mode is pure Python, searches by brute force and checks every row against a filter (it
has no payload indexes): its seconds are not a server's. What an update writes (engine.written)
is what a server would be asked to write.

    .venv/bin/python -m benchmarks.qdrant_updates --out
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import tempfile
import time
import warnings
from pathlib import Path

from benchmarks.common import IAPP, ROOT, parser, write_result

IDF_MODES = ("full", "engine")
# The product files whose code the figures measure: their checksums go into the result.
SOURCES = (
    "index/build/write.py",
    "index/backends/qdrant/server_backend.py",
    "index/backends/qdrant/ledger.py",
    "index/backends/qdrant/sparse.py",
    "index/backends/qdrant/updates.py",
    "index/backends/qdrant/server.py",
    "index/backends/qdrant/remote.py",
)
HELD_OUT = 10
ADDED = 5
ALIAS = "bench"
# Appended to the replaced document (its text changes, so its passages are written anew).
APPENDED = " ข้อความนี้ถูกเพิ่มเข้ามาเพื่อทดสอบการแก้ไขเอกสารในดัชนีที่เผยแพร่ไปยังคิวดรันต์"


class Timer:
    """A function whose calls are timed (the last call's seconds, and their sum)."""

    def __init__(self, call) -> None:
        self.call, self.last, self.total = call, 0.0, 0.0

    def __call__(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self.call(*args, **kwargs)
        finally:
            self.last = time.perf_counter() - started
            self.total += self.last


def folder_bytes(home: Path) -> dict:
    """The live version folder's bytes: the ledger's documents, and its word tables."""
    from index.folder.load import resolve

    sizes = {p.name: p.stat().st_size for p in resolve(home).rglob("*") if p.is_file()}
    words = sizes.get("word-ids.json", 0) + sizes.get("word-counts.json", 0)
    return {"total": sum(sizes.values()), "ledger.jsonl": sizes.get("ledger.jsonl", 0), "word tables": words}


def run_mode(idf, kept, held_out, parts, embedder, settings, questions, seed, tmp: Path) -> dict:
    import index.backends.qdrant.server_backend as seam
    import index.build.write as write
    from index.build.embed import embed_documents
    from index.backends.qdrant.server import ServerTarget, close_all, connect, visible_at
    from index.backends.qdrant.server_backend import ServerBackend

    home = tmp / "index"
    target = ServerTarget(str(tmp / "qdrant"), alias=ALIAS, idf=idf, exact_up_to=settings.exact_search_up_to)
    config = dataclasses.replace(settings.index_config(), backend=ServerBackend(target))
    timed = {name: Timer(getattr(seam, name)) for name in ("write_build", "write_update", "move_alias")}
    for name, timer in timed.items():
        setattr(seam, name, timer)
    try:
        started = time.perf_counter()
        manifest = write.build_index(kept, embedder, config, home, parts={d.doc_id: parts[d.doc_id] for d in kept})
        build = {
            "seconds": round(time.perf_counter() - started, 2),
            "qdrant_write_s": round(timed["write_build"].last, 2),
            "move_alias_s": round(timed["move_alias"].last, 2),
            "documents": manifest["corpus"]["documents"],
            "passages": manifest["corpus"]["chunks"],
            "written": manifest["engine"]["written"],
            "ledger_bytes": folder_bytes(home),
        }
        print(f"[{idf}] build: {build}", flush=True)

        rng = random.Random(seed)
        replaced, removed, rewritten = rng.sample(sorted(d.doc_id for d in kept), 3)
        by_id = {d.doc_id: d for d in kept}
        changed = dataclasses.replace(by_id[replaced], text=by_id[replaced].text + APPENDED)
        steps = [(f"add {d.doc_id}", [d], [], config) for d in held_out[:ADDED]]
        steps += [(f"replace {replaced}", [changed], [], config), (f"remove {removed}", [], [removed], config)]
        rewrite = dataclasses.replace(config, backend=ServerBackend(dataclasses.replace(target, rewrite_after=0.0)))
        steps += [(f"remove {rewritten} (rewrite_after 0: a new collection)", [], [rewritten], rewrite)]
        client = connect(target.url, target.api_key)
        updates, parity = [], {}
        final = {d.doc_id: d for d in kept}
        # The twin's parts: the built documents' from the cache, and each updated document
        # embedded alone, as its update embeds it (the int8 encoder's vectors depend on their batch).
        twin_parts = {d.doc_id: parts[d.doc_id] for d in kept}
        for name, upsert, remove, step_config in steps:
            if step_config is rewrite:  # the in-place updates' version, before it is written whole again
                parity["in place"] = compare(home, final, twin_parts, embedder, settings, questions, tmp)
                print(f"[{idf}] parity after the updates in place: {parity['in place']}", flush=True)
            for timer in timed.values():
                timer.last = 0.0
            started = time.perf_counter()
            result = write.update_index(home, embedder, step_config, upsert=upsert, remove=remove)
            seconds = time.perf_counter() - started
            for doc in upsert:
                final[doc.doc_id] = doc
                twin_parts |= embed_documents([doc], embedder, settings.chunker_config())
            for doc_id in remove:
                del final[doc_id]
            engine = result.manifest["engine"]
            collection = engine["collection"]
            step = {
                "step": name,
                "version": result.version,
                "seconds": round(seconds, 2),
                "qdrant_write_s": round(timed["write_update"].last, 2),
                "move_alias_s": round(timed["move_alias"].last, 2),
                "written": engine["written"],
                "whole": engine.get("whole"),  # the points the collection was written with
                "changed": engine.get("changed"),  # and the points changed since
                "passages": result.manifest["corpus"]["chunks"],
                "points_visible": client.count(collection, count_filter=visible_at(result.version), exact=True).count,
                "points_stored": client.count(collection, exact=True).count,
                "ledger_bytes": folder_bytes(home),
            }
            updates.append(step)
            print(f"[{idf}] {step}", flush=True)
    finally:
        for name, timer in timed.items():
            setattr(write, name, timer.call)
    parity["rewritten"] = compare(home, final, twin_parts, embedder, settings, questions, tmp)
    print(f"[{idf}] parity after the rewrite: {parity['rewritten']}", flush=True)
    close_all()
    return {"build": build, "updates": updates, "parity": parity}


def compare(home, documents: dict, parts: dict, embedder, settings, questions: list[str], tmp: Path) -> dict:
    """The writer's answers from the collection against an embedded build of the same documents."""
    import shutil

    from index.folder.load import load_index
    from index.search.retriever import Retriever
    from index.build.write import build_index
    from service.state import open_index

    wanted = parts
    twin_home = tmp / "embedded"
    shutil.rmtree(twin_home, ignore_errors=True)
    docs = sorted(documents.values(), key=lambda d: d.doc_id)
    build_index(docs, embedder, settings.index_config(), twin_home, parts={d.doc_id: wanted[d.doc_id] for d in docs})
    config = settings.search_config()
    twin = load_index(twin_home, embedder)
    embedded = Retriever(embedder, twin, config)
    index = open_index(settings_for(settings, home), embedder)
    qdrant = Retriever(embedder, index, config, engine=index.engine())

    def cited(result) -> list[tuple[str, int, int]]:
        return [(p.passage.doc_id, p.passage.char_start, p.passage.char_end) for p in result.passages]

    def keyword(retriever, q) -> set[tuple[str, int]]:
        chunks = retriever.index.chunks
        return {
            (chunks[c].doc_id, chunks[c].char_start)
            for c, _ in retriever.engine.keyword(retriever.index.keyword.tokenize(q), 10)
        }

    same, worst, overlap, seconds = 0, 0.0, 0.0, 0.0
    for q in questions:
        want = embedded.search(q, 10, read=False)
        started = time.perf_counter()
        got = qdrant.search(q, 10, read=False)
        seconds += time.perf_counter() - started
        same += cited(got) == cited(want)
        worst = max([worst] + [abs(a.score - b.score) for a, b in zip(got.passages, want.passages)])
        kw_want, kw_got = keyword(embedded, q), keyword(qdrant, q)
        overlap += len(kw_want & kw_got) / len(kw_want) if kw_want else 1.0
    return {
        "version": index.version,
        "questions": len(questions),
        "passages": len(twin.chunks),
        "identical_top10": round(same / len(questions), 4),
        "max_score_diff": worst,
        "keyword_top10_overlap": round(overlap / len(questions), 4),
        "qdrant_search_ms": round(1000 * seconds / len(questions), 1),
    }


def settings_for(settings, home: Path):
    """The settings with which the writer serves ``home``'s ledger from the bench's local folder."""
    from index.folder.load import resolve
    from index.store.manifest import read_manifest

    manifest = read_manifest(resolve(home))
    url = str(home.parent / "qdrant")
    return settings.model_copy(
        update={
            "index_dir": home,
            "backend": "qdrant",
            "qdrant_url": url,
            "qdrant_alias": manifest["engine"]["alias"],
            "qdrant_idf": manifest["engine"]["idf"],
        }
    )


def main() -> None:
    ap = parser(__doc__, "qdrant-updates.json", iapp=True, sample=100)
    ap.add_argument("--documents", type=int, default=None, metavar="N", help="build only N documents (a quick check)")
    args = ap.parse_args()
    warnings.filterwarnings("ignore", message="Local mode performs exact", category=UserWarning)
    warnings.filterwarnings("ignore", message="Payload indexes have no effect", category=UserWarning)
    warnings.filterwarnings("ignore", message="Local mode is not recommended", category=UserWarning)
    from eval.datasets import load_dataset
    from eval.pipeline import index_for
    from index.encoders import factory
    from index.backends.qdrant.server import ServerTarget, close_all
    from index.build.version import parts_of
    from service.settings import Settings

    sources = {name: hashlib.sha256((ROOT / name).read_bytes()).hexdigest()[:12] for name in SOURCES}
    began = time.perf_counter()
    settings = Settings(reader=False)
    embedder = factory.load_embedder(settings.encoder_config())
    dataset = load_dataset(IAPP).of_split("valid")
    cache = settings.home / "data" / "eval-cache" / IAPP.name
    index = index_for(settings, embedder, dataset.documents, cache, progress=True)
    parts = parts_of(index)
    documents = sorted(dataset.documents, key=lambda d: d.doc_id)
    held = set(random.Random(args.seed).sample([d.doc_id for d in documents], HELD_OUT))
    kept = [d for d in documents if d.doc_id not in held][: args.documents]
    held_out = [d for d in documents if d.doc_id in held]
    questions = [q.question for q in dataset.sample(args.iapp, args.seed).questions]
    print(f"{len(kept)} documents built, {len(held_out)} held out, {len(questions)} questions", flush=True)

    result = {
        "documents": len(documents),
        "held_out": sorted(held),
        "questions": len(questions),
        "seed": args.seed,
        "built_documents": len(kept),
        "exact_up_to": settings.exact_search_up_to,
        "rewrite_after": getattr(ServerTarget, "rewrite_after", None),
        "sources": sources,
    }
    for idf in IDF_MODES:
        with tempfile.TemporaryDirectory(prefix=f"khamtop-qdrant-updates-{idf}-") as tmp:
            try:
                result[f"idf {idf}"] = run_mode(
                    idf, kept, held_out, parts, embedder, settings, questions, args.seed, Path(tmp)
                )
            finally:
                close_all()
    result["wall_s"] = round(time.perf_counter() - began, 1)
    print(f"wall: {result['wall_s']} s", flush=True)
    write_result(args.out, result)


if __name__ == "__main__":
    main()
