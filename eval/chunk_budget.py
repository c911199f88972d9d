"""Measure retrieval quality against the chunk budget (how the default was chosen).

    python -m eval.chunk_budget --budgets 100,150,200 --questions 1000

For each budget it indexes the bundled corpus and the iApp dev passages
(``../shared/datasets/iapp-wiki-qa-dev``) with the configured model and runs the same evaluation
as ``khamtop eval``: a seeded sample of iApp questions (a hit is a chunk that covers the answer
span), the gold set and the ten smoke questions on the bundled corpus, with dense search (the
budget decides what the encoder sees). iApp is slow on two cores
(about 5 minutes a budget); ``--sets gold,smoke`` takes seconds.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
IAPP = HERE.parent.parent / "shared" / "datasets" / "iapp-wiki-qa-dev"


def main() -> None:
    from corpus.reader import read_folder
    from eval.datasets import load_dataset, load_gold
    from eval.runner import run
    from index.chunking import ChunkerConfig
    from index.encoders.factory import load_embedder
    from index.search import Retriever
    from index.write import build_index
    from index.load import load_index
    from service.settings import BUNDLED_CORPUS, Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default="100,150,200")
    parser.add_argument("--questions", type=int, default=1000, help="iApp questions, sampled with --seed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sets", default="iapp,gold,smoke", help="which of iapp, gold, smoke to run")
    args = parser.parse_args()
    wanted = set(args.sets.split(","))

    embedder = load_embedder(Settings().encoder_config())
    bundled, _ = read_folder(BUNDLED_CORPUS)
    sets = []
    if "iapp" in wanted:
        iapp = load_dataset(IAPP).sample(args.questions, args.seed)
        sets.append((iapp, iapp.documents))
    for name in ("gold", "smoke"):
        if name in wanted:
            sets.append((load_gold(HERE / f"{name}.jsonl", bundled), bundled))

    for budget in (int(b) for b in args.budgets.split(",")):
        config = ChunkerConfig(chunk_tokens=budget, overlap_tokens=budget // 5)
        figures = []
        for eval_set, documents in sets:
            with tempfile.TemporaryDirectory() as tmp:
                manifest = build_index(documents, embedder, config, Path(tmp) / "index", progress=True)
                # Passage vectors only (sentence_weight 0), as the budget was chosen.
                retriever = Retriever(embedder, load_index(Path(tmp) / "index", embedder), sentence_weight=0.0)
                s = run(eval_set, retriever, mode="dense", expand=False).summary
            figures.append(
                f"{eval_set.name}: {manifest['corpus']['chunks']} chunks, hit@1 {s['hit@1']:.3f} "
                f"hit@5 {s['hit@5']:.3f} hit@10 {s['hit@10']:.3f} MRR@10 {s['mrr@10']:.3f} nDCG@10 {s['ndcg@10']:.3f}"
            )
        print(f"budget {budget}: " + " | ".join(figures), flush=True)


if __name__ == "__main__":
    main()
