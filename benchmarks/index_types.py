"""Answer quality by FAISS index type, on real questions: exact search, HNSW, HNSW over SQ8.

    python -m benchmarks.index_types --out benchmarks/results/index-types-latest.json

The gold set's and the iApp sample's indexes are small enough for exact search, which is what
they get by default (index.folder.ann). Here each one's passage vectors are also put in the approximate
indexes that larger corpora get, and the same questions are asked: what the approximation costs
in hit@k and MRR, with everything else (exact rescoring, sentences, BM25) as in the service.
Uses the indexes that ``python -m benchmarks.backends`` caches for the configured backend.
"""

from __future__ import annotations

import json

import faiss
import numpy as np

from benchmarks.common import COLUMNS, IAPP, eval_cache, parser, write_result


def _types(dim: int) -> dict:
    from index.folder.ann import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M

    def hnsw(storage):
        index = (
            faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            if storage == "flat"
            else faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        )
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
        return index

    return {"exact": lambda: faiss.IndexFlatIP(dim), "hnsw32": lambda: hnsw("flat"), "hnsw32+sq8": lambda: hnsw("sq8")}


def main() -> None:
    from corpus.reader import read_folder
    from eval.datasets import GOLD, load_dataset, load_gold
    from eval.pipeline import index_for
    from eval.runner import run
    from index.encoders.factory import load_embedder
    from index.search.retriever import Retriever
    from service.settings import Settings

    arguments = parser(__doc__, "index-types-latest.json", iapp=True, sample=1000)
    args = arguments.parse_args()

    settings = Settings()
    embedder = load_embedder(settings.encoder_config())
    documents, _ = read_folder(settings.corpus_dir)
    sets = [("gold", load_gold(GOLD, documents), documents)]
    if args.iapp:
        iapp = load_dataset(IAPP)
        sets.append(("iapp", iapp.sample(args.iapp, args.seed), iapp.documents))
    figures: dict[str, dict] = {}
    for name, eval_set, docs in sets:
        index = index_for(settings, embedder, docs, eval_cache(settings, name), progress=True)
        vectors = np.ascontiguousarray(index.passage_vectors, dtype=np.float32)
        for kind, make in _types(vectors.shape[1]).items():
            faiss_index = make()
            faiss_index.train(vectors)
            faiss_index.add(vectors)
            index.faiss_index = faiss_index
            summary = run(eval_set, Retriever(embedder, index, settings.search_config())).summary
            figures.setdefault(kind, {})[name] = {k: summary[k] for k in COLUMNS}
            print(f"{kind} / {name}: {json.dumps(figures[kind][name])}", flush=True)
    names = [n for n, _, _ in sets]
    print("\n| index | " + " | ".join(f"{n}: hit@1 / hit@5 / hit@10 / MRR@10 / answer" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for kind, f in figures.items():
        print(f"| {kind} | " + " | ".join(" / ".join(f"{f[n][k]:.3f}" for k in COLUMNS) for n in names) + " |")
    write_result(args.out, figures)


if __name__ == "__main__":
    main()
