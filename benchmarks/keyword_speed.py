"""BM25's top 100 for the gold questions: numpy against the compiled kernel (index/folder/postings.py).

    python -m benchmarks.keyword_speed --index DIR [--k 100] [--rounds 3]

``DIR``: a built index (its ``CURRENT`` version), for example a 1M copy kept by
``khamtop bench --replicate 1000000 --keep-replica DIR``. Both ways must give the same ids and
scores for every question (it stops if not); it prints each one's p50 per question, segmentation
excluded.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from benchmarks.common import gold_questions, parser, write_result


def main() -> None:
    from index.folder import postings
    from index.folder.keyword import KeywordIndex, top_k_of
    from index.folder.layout import KEYWORD_DIR
    from index.store.versions import current_path

    arguments = parser(__doc__, "keyword-speed-latest.json")
    arguments.add_argument("--index", type=Path, required=True, help="a built index's folder")
    arguments.add_argument("--k", type=int, default=100, help="how many of the best chunks")
    arguments.add_argument("--rounds", type=int, default=3, help="times each question is asked")
    args = arguments.parse_args()

    folder = current_path(args.index)
    if folder is None:
        raise SystemExit(f"no index at {args.index} (no CURRENT file)")
    keyword = KeywordIndex.load(folder / KEYWORD_DIR)
    bm25 = keyword.bm25
    scores = bm25.scores
    table = postings.Postings(scores["data"], scores["indices"], scores["indptr"], scores["num_docs"])
    questions = gold_questions()
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
            want_ids, want_scores = top_k_of(keyword.numpy_scores(ws), args.k)
            timings["numpy"].append(time.perf_counter() - started)
            if not (np.array_equal(ids, want_ids) and np.array_equal(best, want_scores)):
                raise SystemExit(f"the two differ for the words {ws}")
    report = {
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
    write_result(args.out, report)


if __name__ == "__main__":
    main()
