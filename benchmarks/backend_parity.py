"""The qdrant-edge backend against the embedded one: rankings, BM25 drift by shards, time per question.

For the gold set (bundled corpus) and a seeded sample of iApp valid questions, the embedded
index is built once (or taken from the eval cache); its search part is then written as Qdrant
shards in each layout (1, 2, 4, 8 shards; the build's idf or the engine's), with no second
embedding. For each layout and question (read: false, top 10, hybrid): whether the top 10 ids
equal the embedded retriever's, the largest score difference, the keyword list's top-10 overlap
with the embedded BM25's (the drift of a per-shard idf), hit@1/5/10, and the time spent in the
engine's calls against the whole search.

    .venv/bin/python -m benchmarks.backend_parity --out
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.common import IAPP, parser, write_result

LAYOUTS = [
    (1, "full"),
    (2, "full"),
    (4, "full"),
    (8, "full"),
    (1, "engine"),
    (2, "engine"),
    (4, "engine"),
    (8, "engine"),
]


class Timed:
    """An engine whose calls are timed."""

    def __init__(self, engine) -> None:
        self.engine, self.seconds = engine, 0.0

    def __getattr__(self, name):
        call = getattr(self.engine, name)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        return timed


def compare(name, eval_set, index, embedder, settings, tmp: Path) -> dict:
    from eval.runner import run
    from index.backends.qdrant.edge import EdgeEngine, EdgeLayout, mirror
    from index.search.retriever import Retriever

    config = settings.search_config()
    embedded = Retriever(embedder, index, config)
    questions = [q.question for q in eval_set.questions]
    reference = {q: embedded.search(q, 10, read=False) for q in questions}
    keyword_reference = {q: embedded.engine.keyword(index.keyword.tokenize(q), 10) for q in questions}
    base = run(eval_set, embedded, read=False).summary
    out = {"questions": len(questions), "passages": len(index.chunks), "embedded": _hits(base)}
    for shards, idf in LAYOUTS:
        folder = tmp / f"{name}-{shards}-{idf}"
        started = time.perf_counter()
        mirror(index, folder, EdgeLayout(shards=shards, idf=idf, exact_up_to=settings.exact_search_up_to))
        write_s = time.perf_counter() - started
        engine = Timed(EdgeEngine(folder))
        edge = Retriever(embedder, index, config, engine=engine)
        same, worst, overlap, total, engine.seconds = 0, 0.0, 0.0, 0.0, 0.0
        for q in questions:
            started = time.perf_counter()
            got = edge.search(q, 10, read=False)
            total += time.perf_counter() - started
            want = reference[q]
            same += [p.passage.id for p in got.passages] == [p.passage.id for p in want.passages]
            worst = max([worst] + [abs(a.score - b.score) for a, b in zip(got.passages, want.passages)])
            kw_want = {c for c, _ in keyword_reference[q]}
            kw_got = {c for c, _ in edge.engine.keyword(index.keyword.tokenize(q), 10)}
            overlap += len(kw_want & kw_got) / len(kw_want) if kw_want else 1.0
        engine_s = engine.seconds
        summary = run(eval_set, edge, read=False).summary
        out[f"{shards} shards, idf {idf}"] = {
            "identical_top10": round(same / len(questions), 4),
            "max_score_diff": worst,
            "keyword_top10_overlap": round(overlap / len(questions), 4),
            **_hits(summary),
            "search_ms": round(1000 * total / len(questions), 2),
            "engine_ms": round(1000 * engine_s / len(questions), 2),
            "write_s": round(write_s, 2),
            # On disk (blocks), not the files' apparent size: Qdrant reserves room in sparse files.
            "shard_disk_bytes": sum(p.stat().st_blocks * 512 for p in folder.rglob("*") if p.is_file()),
        }
        print(name, shards, idf, out[f"{shards} shards, idf {idf}"], flush=True)
        engine.engine.close()
    return out


def _hits(summary: dict) -> dict:
    return {k: round(summary[k], 4) for k in ("hit@1", "hit@5", "hit@10")}


def main() -> None:
    args = parser(__doc__, "backend-parity.json", iapp=True, sample=500).parse_args()
    from corpus.reader import read_folder
    from eval.datasets import GOLD, load_dataset, load_gold
    from eval.pipeline import index_for
    from index.encoders import factory
    from service.settings import Settings

    settings = Settings(reader=False)
    embedder = factory.load_embedder(settings.encoder_config())
    result = {}
    with tempfile.TemporaryDirectory(prefix="khamtop-parity-") as tmp:
        documents, _ = read_folder(settings.corpus_dir)
        index = index_for(settings, embedder, documents, settings.index_dir)
        result["gold"] = compare("gold", load_gold(GOLD, documents), index, embedder, settings, Path(tmp))
        if args.iapp:
            dataset = load_dataset(IAPP).of_split("valid")
            cache = settings.home / "data" / "eval-cache" / IAPP.name
            index = index_for(settings, embedder, dataset.documents, cache, progress=True)
            sample = dataset.sample(args.iapp, args.seed)
            result["iapp"] = compare("iapp", sample, index, embedder, settings, Path(tmp))
    write_result(args.out, result)


if __name__ == "__main__":
    main()
