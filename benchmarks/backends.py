"""The embedding backends compared: quality on both question sets, query and build speed.

    python -m benchmarks.backends                     # gold set + 1,000 iApp questions (~25 min on 2 cores)
    python -m benchmarks.backends --iapp 0            # gold set only (a few minutes)

Each backend builds its own indexes (data/eval-cache/BACKEND/), so the table measures it end to
end: the passages' vectors and the questions' vectors both come from it (onnx-int8-query stores
ONNX fp32's vectors, so it searches onnx's indexes). The default backend
(KHAMTOP_EMBEDDING_BACKEND) is the fastest whose hit@5 and MRR@10 stay within 0.01 of torch on
both sets; this prints which one that is.
"""

from __future__ import annotations

import json
import time

import numpy as np

from benchmarks.common import COLUMNS, IAPP, eval_cache, parser, write_result

BACKENDS = ("torch", "onnx", "onnx-int8", "onnx-int8-query")
TOLERANCE = 0.01  # the largest drop in hit@5 or MRR@10 against torch that still keeps quality


def _query_ms(embedder, questions: list[str]) -> dict:
    embedder.embed_queries(questions[:3])  # warm-up
    times = []
    for q in questions:
        started = time.perf_counter()
        embedder.embed_queries([q])
        times.append((time.perf_counter() - started) * 1000)
    return {"p50": float(np.percentile(times, 50)), "p95": float(np.percentile(times, 95))}


def keeps_quality(figures: dict, backend: str, sets: list[str]) -> bool:
    return all(
        figures["torch"][s][k] - figures[backend][s][k] <= TOLERANCE + 1e-9 for s in sets for k in ("hit@5", "mrr@10")
    )


def main() -> None:
    from corpus.reader import read_folder
    from eval.datasets import GOLD, load_dataset, load_gold
    from eval.pipeline import index_for
    from eval.runner import run
    from index.encoders.factory import load_embedder
    from index.search.retriever import Retriever
    from service.settings import Settings

    arguments = parser(__doc__, "backends-latest.json", iapp=True, sample=1000)
    arguments.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated, torch first")
    args = arguments.parse_args()

    documents, _ = read_folder(Settings().corpus_dir)
    gold = load_gold(GOLD, documents)
    iapp = load_dataset(IAPP) if args.iapp else None
    figures: dict[str, dict] = {}
    for backend in args.backends.split(","):
        settings = Settings(embedding_backend=backend)
        started = time.perf_counter()
        embedder = load_embedder(settings.encoder_config())
        figures[backend] = {"load_s": time.perf_counter() - started}
        sets = [("gold", gold, documents)] + (
            [("iapp", iapp.sample(args.iapp, args.seed), iapp.documents)] if iapp else []
        )
        for name, eval_set, docs in sets:
            started = time.perf_counter()
            index = index_for(settings, embedder, docs, eval_cache(settings, name), progress=True)
            built_s = time.perf_counter() - started
            summary = run(eval_set, Retriever(embedder, index, settings.search_config())).summary
            figures[backend][name] = {k: summary[k] for k in COLUMNS}
            figures[backend][name]["index_s"] = built_s  # near 0 when the cached index matched
            figures[backend][name]["texts"] = index.manifest["corpus"]["chunks"] + index.manifest["corpus"]["sentences"]
            print(f"{backend} / {name}: {json.dumps(figures[backend][name])}", flush=True)
        figures[backend]["query_ms"] = _query_ms(embedder, [q.question for q in gold.questions])
        del embedder

    set_names = ["gold"] + (["iapp"] if iapp else [])
    print()
    print(
        "| backend | encode one question p50 / p95 ms | "
        + " | ".join(f"{n}: hit@1 / hit@5 / hit@10 / MRR@10 / answer" for n in set_names)
        + " | keeps quality |"
    )
    print("|---|---|" + "---|" * len(set_names) + "---|")
    for backend, f in figures.items():
        cells = [" / ".join(f"{f[n][k]:.3f}" for k in COLUMNS) for n in set_names]
        if backend == "torch":
            keep = "reference"
        elif "torch" not in figures:
            keep = "(no torch run to compare)"
        else:
            keep = "yes" if keeps_quality(figures, backend, set_names) else "no"
        print(
            f"| {backend} | {f['query_ms']['p50']:.1f} / {f['query_ms']['p95']:.1f} | "
            + " | ".join(cells)
            + f" | {keep} |"
        )
    if "torch" in figures:
        kept = [b for b in figures if b == "torch" or keeps_quality(figures, b, set_names)]
        fastest = min(kept, key=lambda b: figures[b]["query_ms"]["p50"])
        print(f"\nfastest backend that keeps quality (hit@5 and MRR@10 within {TOLERANCE} of torch): {fastest}")
    write_result(args.out, figures)


if __name__ == "__main__":
    main()
