"""Measure retrieval quality against the chunk budget (how the default was chosen).

    python -m eval.chunk_budget --budgets 100,150,200 --questions 1000

For each budget it indexes the bundled corpus and the iApp dev passages
(``../shared/datasets/iapp-wiki-qa-dev``) with the configured model, then prints hit@k and MRR@10:
on iApp a hit is a chunk from a gold passage; on the bundled corpus, a chunk of the right document
that contains the evidence of ``eval/smoke.jsonl``. Slow on two cores (about 4 minutes a budget).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from eval.smoke import HERE, load_questions

IAPP = HERE.parent.parent / "shared" / "datasets" / "iapp-wiki-qa-dev"


def main() -> None:
    from corpus.reader import Document, read_folder
    from index.chunking import ChunkerConfig
    from index.embedding import load_embedder
    from index.search import Retriever
    from index.store import build_index, load_index
    from index.text import normalize_text
    from service.settings import BUNDLED_CORPUS, Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default="100,150,200")
    parser.add_argument("--questions", type=int, default=1000, help="iApp questions, sampled with --seed")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    settings = Settings()
    embedder = load_embedder(settings)
    bundled, _ = read_folder(BUNDLED_CORPUS)
    contexts = [json.loads(line) for line in (IAPP / "contexts.jsonl").open(encoding="utf-8")]
    iapp_docs = [Document(c["id"], normalize_text(c["text"]), c["title"]) for c in contexts]
    questions = [json.loads(line) for line in (IAPP / "retrieval.jsonl").open(encoding="utf-8")]
    random.Random(args.seed).shuffle(questions)
    questions = questions[: args.questions]
    smoke = load_questions()

    for budget in (int(b) for b in args.budgets.split(",")):
        config = ChunkerConfig(chunk_tokens=budget, overlap_tokens=budget // 5)
        with tempfile.TemporaryDirectory() as tmp:
            build_index(bundled, embedder, config, Path(tmp) / "bundled")
            retriever = Retriever(embedder, load_index(Path(tmp) / "bundled", embedder))
            ranks = []
            for q in smoke:
                hits = retriever.search(q["question"], top_k=5)
                ranks.append(
                    next(
                        (h.rank for h in hits if h.document.doc_id == q["doc_id"] and q["evidence"] in h.chunk.text),
                        None,
                    )
                )
            started = time.perf_counter()
            manifest = build_index(iapp_docs, embedder, config, Path(tmp) / "iapp", progress=True)
            build_s = time.perf_counter() - started
            retriever = Retriever(embedder, load_index(Path(tmp) / "iapp", embedder))
            hit = {1: 0, 5: 0, 10: 0}
            mrr = 0.0
            for q in questions:
                hits = retriever.search(q["question"], top_k=10)
                rank = next((h.rank for h in hits if h.document.doc_id in q["gold_context_ids"]), None)
                if rank:
                    mrr += 1 / rank
                    for k in hit:
                        hit[k] += rank <= k
        n = len(questions)
        print(
            f"budget {budget}: iApp {manifest['corpus']['chunks']} chunks (built in {build_s:.0f} s), "
            f"{n} questions: hit@1 {hit[1] / n:.3f} hit@5 {hit[5] / n:.3f} hit@10 {hit[10] / n:.3f} "
            f"MRR@10 {mrr / n:.3f} | bundled: hit@1 {sum(r == 1 for r in ranks) / len(smoke):.1f} "
            f"hit@5 {sum(r is not None for r in ranks) / len(smoke):.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
