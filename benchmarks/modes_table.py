"""Every search configuration, in one run, on both question sets (docs/decisions/002-search-mode-and-fusion.md).

    python -m benchmarks.modes_table                 # gold set + all 6,503 iApp questions (~40 min on 2 cores)
    python -m benchmarks.modes_table --iapp 1000     # a seeded sample of iApp questions
    python -m benchmarks.modes_table --sets gold     # seconds

Indexes are found or built like ``khamtop eval`` does (the iApp index is cached in
data/eval-cache/). Each row is the same index searched another way.
"""

from __future__ import annotations

import json
from dataclasses import replace

from benchmarks.common import COLUMNS, IAPP, parser, write_result

# name -> (search configuration changed from the settings', search mode, query expansion)
CONFIGURATIONS: dict[str, tuple[dict, str, bool]] = {
    "dense, passage vector only": ({"sentence_weight": 0.0}, "dense", False),
    "dense (passage + best sentence)": ({}, "dense", False),
    "keyword (BM25, Thai words)": ({}, "keyword", False),
    "keyword + query understanding": ({}, "keyword", True),
    "hybrid, RRF over passage vectors (previous default)": (
        {"fusion": "rrf", "keyword_weight": 1.0, "sentence_weight": 0.0},
        "hybrid",
        False,
    ),
    "hybrid (weighted sum)": ({}, "hybrid", False),
    "hybrid + query understanding (default)": ({}, "hybrid", True),
}


def main() -> None:
    from corpus.reader import read_folder
    from eval.datasets import GOLD, load_dataset, load_gold
    from eval.pipeline import index_for
    from eval.runner import run
    from index.encoders.factory import load_embedder
    from index.search.retriever import Retriever
    from service.settings import Settings

    arguments = parser(__doc__, "modes-latest.json", iapp=True)
    arguments.add_argument("--sets", default="gold,iapp", help="which of gold, iapp to run")
    args = arguments.parse_args()

    settings = Settings()
    embedder = load_embedder(settings.encoder_config())
    sets = []
    if "gold" in args.sets.split(","):
        documents, _ = read_folder(settings.corpus_dir)
        sets.append(("gold", load_gold(GOLD, documents), index_for(settings, embedder, documents, settings.index_dir)))
    if "iapp" in args.sets.split(",") and args.iapp != 0:
        iapp = load_dataset(IAPP)
        cache = settings.home / "data" / "eval-cache" / IAPP.name
        index = index_for(settings, embedder, iapp.documents, cache, progress=True)
        sets.append(("iapp", iapp.sample(args.iapp, args.seed), index))

    figures: dict[str, dict] = {}
    for name, (overrides, mode, expand) in CONFIGURATIONS.items():
        figures[name] = {}
        for set_name, eval_set, index in sets:
            retriever = Retriever(embedder, index, replace(settings.search_config(), **overrides))
            s = run(eval_set, retriever, mode=mode, expand=expand).summary
            no_answer = {k: s["no_answer"][k] for k in ("unanswerable_flagged", "answerable_flagged")}
            figures[name][set_name] = {k: s[k] for k in COLUMNS} | {"no_answer": no_answer}
            print(f"{name} / {set_name}: {json.dumps(figures[name][set_name])}", flush=True)

    print()
    set_names = [n for n, _, _ in sets]
    print("| configuration | " + " | ".join(f"{n}: hit@1 / hit@5 / hit@10 / MRR@10 / answer" for n in set_names) + " |")
    print("|---|" + "---|" * len(set_names))
    for name, per_set in figures.items():
        cells = [" / ".join(f"{per_set[n][k]:.3f}" for k in COLUMNS) for n in set_names]
        print(f"| {name} | " + " | ".join(cells) + " |")
    write_result(args.out, figures)


if __name__ == "__main__":
    main()
