"""Admin updates written into the live Qdrant collection in place: their cost, and the final version's ranking parity.

The iApp valid documents (their vectors from the eval cache: nothing is embedded for the build)
less ten held out at random are built with the qdrant backend into qdrant-client's local mode,
once per idf mode ("full": the build's weights in each point; "engine": Qdrant's IDF over the
version's own points). That build is a full publish, the copy-on-write cost the previous design
paid on every update. Then a sequence of admin updates (update_index): five held-out documents
added one at a time, one document replaced (a Thai sentence appended), one removed. For each:
the wall seconds, the seconds inside index.write.write_version (the Qdrant write), what the
manifest says was written (engine.written: points written and ended, document rows, word rows),
the version's passages and the points the collection holds. For the last version, a full
publish of the same version (write_collection under another alias) is timed for comparison.

Then the final version's rankings: the embedded retriever against the Qdrant engine over the
same version, on a seeded sample of iApp valid questions (read: false, top 10): the share of
identical top-10 id lists, the largest score difference over matched ranks, and the keyword
list's top-10 overlap. With idf "full", points written by an earlier version keep that version's
BM25 weights; with either mode, a point's length normalisation (avgdl) is that of the version
that wrote it: small differences are expected in both.

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

import numpy as np

from benchmarks.common import IAPP, ROOT, parser, write_result

IDF_MODES = ("full", "engine")
# The product files whose code the figures measure: their checksums go into the result.
SOURCES = ("index/write.py", "index/qdrant_updates.py", "index/qdrant_server.py", "index/qdrant_points.py")
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


def run_mode(idf, kept, held_out, parts, embedder, settings, questions, seed, tmp: Path) -> dict:
    import index.write as write
    from index.load import load_index
    from index.qdrant_points import SearchPart
    from index.qdrant_server import ServerTarget, close_all, connect, open_engine, visible_at, write_collection
    from index.sparse import WordIds

    home = tmp / "index"
    target = ServerTarget(str(tmp / "qdrant"), alias=ALIAS, idf=idf, exact_up_to=settings.exact_search_up_to)
    config = dataclasses.replace(settings.index_config(), server=target)
    timed_write, timed_alias = Timer(write.write_version), Timer(write.move_alias)
    write.write_version, write.move_alias = timed_write, timed_alias
    try:
        started = time.perf_counter()
        manifest = write.build_index(kept, embedder, config, home, parts={d.doc_id: parts[d.doc_id] for d in kept})
        build = {
            "seconds": round(time.perf_counter() - started, 2),
            "write_version_s": round(timed_write.last, 2),
            "move_alias_s": round(timed_alias.last, 2),
            "documents": manifest["corpus"]["documents"],
            "passages": manifest["corpus"]["chunks"],
            "written": manifest["engine"]["written"],
        }
        print(f"[{idf}] build: {build}", flush=True)

        rng = random.Random(seed)
        replaced, removed = rng.sample(sorted(d.doc_id for d in kept), 2)
        by_id = {d.doc_id: d for d in kept}
        steps = [(f"add {d.doc_id}", [d], []) for d in held_out[:ADDED]]
        changed = dataclasses.replace(by_id[replaced], text=by_id[replaced].text + APPENDED)
        steps += [(f"replace {replaced}", [changed], []), (f"remove {removed}", [], [removed])]
        client = connect(target.url, target.api_key)
        updates = []
        for name, upsert, remove in steps:
            timed_write.last = timed_alias.last = 0.0
            started = time.perf_counter()
            result = write.update_index(home, embedder, config, upsert=upsert, remove=remove)
            seconds = time.perf_counter() - started
            engine = result.manifest["engine"]
            collection = engine["collection"]
            step = {
                "step": name,
                "version": result.version,
                "seconds": round(seconds, 2),
                "write_version_s": round(timed_write.last, 2),
                "move_alias_s": round(timed_alias.last, 2),
                "written": engine["written"],
                # What the collection has changed since it was written whole (None: not recorded).
                "whole": engine.get("whole"),
                "changed": engine.get("changed"),
                "passages": result.manifest["corpus"]["chunks"],
                "points_visible": client.count(collection, count_filter=visible_at(result.version), exact=True).count,
                "points_stored": client.count(collection, exact=True).count,
            }
            updates.append(step)
            print(f"[{idf}] {step}", flush=True)
    finally:
        write.write_version, write.move_alias = timed_write.call, timed_alias.call

    loaded = load_index(home, embedder)
    n = len(loaded.chunks)
    other = dataclasses.replace(target, alias=f"{ALIAS}-full")
    part = dataclasses.replace(SearchPart.of(loaded), point_ids=np.arange(n, dtype=np.int64))
    started = time.perf_counter()
    record = write_collection(part, other, WordIds.load(loaded.path))
    full = {"seconds": round(time.perf_counter() - started, 2), "points": record["points"], "version": loaded.version}
    for doomed in (record["collection"], f"{record['collection']}-documents", f"{record['collection']}-words"):
        client.delete_collection(doomed)
    print(f"[{idf}] full publish of version {loaded.version}: {full}", flush=True)

    parity = compare(loaded, embedder, settings, open_engine(loaded, target), questions)
    print(f"[{idf}] parity: {parity}", flush=True)
    close_all()
    return {"build": build, "updates": updates, "full_publish_of_last": full, "parity": parity}


def compare(loaded, embedder, settings, engine, questions: list[str]) -> dict:
    from index.search import Retriever

    config = settings.search_config()
    embedded = Retriever(embedder, loaded, config)
    qdrant = Retriever(embedder, loaded, config, engine=engine)
    same, worst, overlap, seconds = 0, 0.0, 0.0, 0.0
    for q in questions:
        want = embedded.search(q, 10, read=False)
        started = time.perf_counter()
        got = qdrant.search(q, 10, read=False)
        seconds += time.perf_counter() - started
        same += [p.passage.id for p in got.passages] == [p.passage.id for p in want.passages]
        worst = max([worst] + [abs(a.score - b.score) for a, b in zip(got.passages, want.passages)])
        kw_want = {c for c, _ in embedded._keyword(q, 10, None)}
        kw_got = {c for c, _ in qdrant._keyword(q, 10, None)}
        overlap += len(kw_want & kw_got) / len(kw_want) if kw_want else 1.0
    return {
        "questions": len(questions),
        "passages": len(loaded.chunks),
        "identical_top10": round(same / len(questions), 4),
        "max_score_diff": worst,
        "keyword_top10_overlap": round(overlap / len(questions), 4),
        "qdrant_search_ms": round(1000 * seconds / len(questions), 1),
    }


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
    from index.qdrant_server import ServerTarget, close_all
    from index.write import parts_of
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
