"""One run of every search configuration on both question sets: the table in README "Search modes".

    python -m eval.modes_table                 # gold set + all 6,503 iApp questions (~40 min on 2 cores)
    python -m eval.modes_table --iapp 1000     # a seeded sample of iApp questions
    python -m eval.modes_table --sets gold     # seconds

Indexes are found or built like ``khamtop eval`` does (the iApp index is cached in
data/eval-cache/). Each row is the same index searched another way.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
IAPP = HERE.parent.parent / "shared" / "datasets" / "iapp-wiki-qa-dev"

COLUMNS = ("hit@1", "hit@5", "hit@10", "mrr@10", "answer_contains_evidence")
# name -> (Retriever settings, search mode, query expansion)
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
    from index.search import Retriever
    from service.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="gold,iapp", help="which of gold, iapp to run")
    parser.add_argument("--iapp", type=int, default=None, help="a seeded sample of N iApp questions (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    args = parser.parse_args()

    settings = Settings()
    embedder = load_embedder(settings.encoder_config())
    sets = []
    if "gold" in args.sets.split(","):
        documents, _ = read_folder(settings.corpus_dir)
        sets.append(("gold", load_gold(GOLD, documents), index_for(settings, embedder, documents, settings.index_dir)))
    if "iapp" in args.sets.split(","):
        iapp = load_dataset(IAPP)
        cache = settings.home / "data" / "eval-cache" / IAPP.name
        index = index_for(settings, embedder, iapp.documents, cache, progress=True)
        sets.append(("iapp", iapp.sample(args.iapp, args.seed), index))

    figures: dict[str, dict] = {}
    for name, (overrides, mode, expand) in CONFIGURATIONS.items():
        figures[name] = {}
        for set_name, eval_set, index in sets:
            retriever = Retriever.from_settings(settings, embedder, index)
            for key, value in overrides.items():
                setattr(retriever, key, value)
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
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n", "utf-8")


if __name__ == "__main__":
    main()
