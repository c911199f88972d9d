"""Measure retrieval quality against the chunk budget (how the default was chosen).

    python -m eval.chunk_budget --budgets 100,150,200 --questions 1000

For each budget it indexes the bundled corpus and the iApp dev passages
(``../shared/datasets/iapp-wiki-qa-dev``) with the configured model and runs the same evaluation
as ``khamtop eval``: the ten reworded questions of ``eval/smoke.jsonl`` on the bundled corpus, and
a seeded sample of iApp questions (a hit is a chunk that covers the answer span). Slow on two
cores: about 4 minutes a budget.
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
    from index.embedding import load_embedder
    from index.search import Retriever
    from index.store import build_index, load_index
    from service.settings import BUNDLED_CORPUS, Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default="100,150,200")
    parser.add_argument("--questions", type=int, default=1000, help="iApp questions, sampled with --seed")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    embedder = load_embedder(Settings())
    bundled, _ = read_folder(BUNDLED_CORPUS)
    smoke = load_gold(HERE / "smoke.jsonl", bundled)
    iapp = load_dataset(IAPP).sample(args.questions, args.seed)

    for budget in (int(b) for b in args.budgets.split(",")):
        config = ChunkerConfig(chunk_tokens=budget, overlap_tokens=budget // 5)
        figures = []
        for eval_set, documents in ((iapp, iapp.documents), (smoke, bundled)):
            with tempfile.TemporaryDirectory() as tmp:
                manifest = build_index(documents, embedder, config, Path(tmp) / "index", progress=True)
                s = run(eval_set, Retriever(embedder, load_index(Path(tmp) / "index", embedder))).summary
            figures.append(
                f"{eval_set.name}: {manifest['corpus']['chunks']} chunks, hit@1 {s['hit@1']:.3f} "
                f"hit@5 {s['hit@5']:.3f} hit@10 {s['hit@10']:.3f} MRR@10 {s['mrr@10']:.3f} nDCG@10 {s['ndcg@10']:.3f}"
            )
        print(f"budget {budget}: " + " | ".join(figures), flush=True)


if __name__ == "__main__":
    main()
