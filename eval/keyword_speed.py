"""BM25's top 100 for the gold questions: numpy against the compiled kernel (index/postings.py).

    python -m eval.keyword_speed --index DIR [--k 100] [--rounds 3]

``DIR``: a built index (its ``CURRENT`` version), for example a 1M copy kept by
``khamtop bench --replicate 1000000 --keep-replica DIR``. Both ways must give the same ids and
scores for every question (it stops if not); it prints each one's p50 per question, segmentation
excluded.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main() -> None:
    from eval.bench import machine, workload
    from index import postings
    from index.keyword import KeywordIndex, top_k_of
    from index.versions import read_current
    from service.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    current = read_current(args.index)
    if current is None:
        raise SystemExit(f"no index at {args.index} (no CURRENT file)")
    keyword = KeywordIndex.load(args.index / current / "keyword")
    bm25 = keyword._bm25
    scores = bm25.scores
    table = postings.Postings(scores["data"], scores["indices"], scores["indptr"], scores["num_docs"])
    questions = workload(Settings().corpus_dir, None, None).questions
    words = [[w for w in keyword.tokenize(q) if w in bm25.vocab_dict] for q in questions]
    words = [w for w in words if w]
    timings: dict[str, list[float]] = {"numpy": [], "compiled": []}
    postings_per_question = []
    for _ in range(args.rounds):
        for ws in words:
            columns = [bm25.vocab_dict[w] for w in ws]
            postings_per_question.append(sum(int(scores["indptr"][c + 1] - scores["indptr"][c]) for c in columns))
            started = time.perf_counter()
            ids, best = table.top_k(columns, args.k)
            timings["compiled"].append(time.perf_counter() - started)
            started = time.perf_counter()
            want_ids, want_scores = top_k_of(keyword._scores(ws), args.k)
            timings["numpy"].append(time.perf_counter() - started)
            if not (np.array_equal(ids, want_ids) and np.array_equal(best, want_scores)):
                raise SystemExit(f"the two differ for the words {ws}")
    report = {
        "machine": machine(),
        "index": str(args.index),
        "passages": int(scores["num_docs"]),
        "questions": len(words),
        "postings_per_question_p50": float(np.median(postings_per_question)),
        "p50_ms": {name: float(np.median(t) * 1000) for name, t in timings.items()},
    }
    print(
        f"{report['passages']:,} passages, {len(words)} questions, {report['postings_per_question_p50']:,.0f} postings "
        f"a question (p50): numpy {report['p50_ms']['numpy']:.2f} ms, compiled {report['p50_ms']['compiled']:.2f} ms "
        "p50, identical results"
    )
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n", "utf-8")


if __name__ == "__main__":
    main()
