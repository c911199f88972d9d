"""Measure retrieval quality against the chunk budget (how the default was chosen).

    python -m benchmarks.chunk_budget --budgets 100,150,200 --questions 1000

For each budget it indexes the bundled corpus and the iApp dev passages
(``../shared/datasets/iapp-wiki-qa-dev``) with the configured model and runs the same evaluation
as ``khamtop eval``: a seeded sample of iApp questions (a hit is a chunk that covers the answer
span), the gold set and the ten smoke questions on the bundled corpus, with dense search (the
budget decides what the encoder sees). iApp is slow on two cores
(about 5 minutes a budget); ``--sets gold,smoke`` takes seconds.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

from benchmarks.common import IAPP, parser, write_result


def main() -> None:
    from corpus.reader import read_folder
    from eval.datasets import GOLD, load_dataset, load_gold
    from eval.runner import run
    from index.encoders.factory import load_embedder
    from index.folder.load import load_index
    from index.search.retriever import Retriever
    from index.build.write import build_index
    from service.settings import BUNDLED_CORPUS, Settings

    arguments = parser(__doc__, "chunk-budget-latest.json")
    arguments.add_argument("--budgets", default="100,150,200", help="passage budgets in tokens, comma-separated")
    arguments.add_argument("--questions", type=int, default=1000, help="iApp questions, sampled with --seed")
    arguments.add_argument("--seed", type=int, default=0)
    arguments.add_argument("--sets", default="iapp,gold,smoke", help="which of iapp, gold, smoke to run")
    args = arguments.parse_args()
    wanted = set(args.sets.split(","))

    settings = Settings()
    embedder = load_embedder(settings.encoder_config())
    # Passage vectors only (sentence_weight 0), as the budget was chosen.
    search = replace(settings.search_config(), sentence_weight=0.0)
    bundled, _ = read_folder(BUNDLED_CORPUS)
    sets = []
    if "iapp" in wanted:
        iapp = load_dataset(IAPP).sample(args.questions, args.seed)
        sets.append((iapp, iapp.documents))
    for name in ("gold", "smoke"):
        if name in wanted:
            sets.append((load_gold(GOLD.with_name(f"{name}.jsonl"), bundled), bundled))

    figures: dict[int, dict] = {}
    for budget in (int(b) for b in args.budgets.split(",")):
        chunker = replace(settings.chunker_config(), chunk_tokens=budget, overlap_tokens=budget // 5)
        config = replace(settings.index_config(), chunker=chunker)
        figures[budget] = {}
        for eval_set, documents in sets:
            with tempfile.TemporaryDirectory() as tmp:
                manifest = build_index(documents, embedder, config, Path(tmp) / "index", progress=True)
                retriever = Retriever(embedder, load_index(Path(tmp) / "index", embedder), search)
                s = run(eval_set, retriever, mode="dense", expand=False).summary
            figures[budget][eval_set.name] = {"chunks": manifest["corpus"]["chunks"]} | {
                k: s[k] for k in ("hit@1", "hit@5", "hit@10", "mrr@10", "ndcg@10")
            }
        line = " | ".join(
            f"{name}: {f['chunks']} chunks, hit@1 {f['hit@1']:.3f} hit@5 {f['hit@5']:.3f} hit@10 {f['hit@10']:.3f} "
            f"MRR@10 {f['mrr@10']:.3f} nDCG@10 {f['ndcg@10']:.3f}"
            for name, f in figures[budget].items()
        )
        print(f"budget {budget}: {line}", flush=True)
    write_result(args.out, figures)


if __name__ == "__main__":
    main()
