"""How often the reader's answer changes with its precision: int8 (weights in 8 or 7 bits)
against fp32, on iApp valid and the gold set.

    python -m benchmarks.answer_choices --precision fp32 --sets iapp,gold
    python -m benchmarks.answer_choices --label int8-7bit --sets iapp,gold       # the 7-bit export
    python -m benchmarks.answer_choices --label int8 --export DIR --sets iapp,gold  # an 8-bit export
    python -m benchmarks.reader_precision [--labels fp32,int8,int8-7bit] [--out [FILE]]

Reads the caches those runs left in data/answer-choices/ (the same retrieval, each precision's
readings) and scores each with the service's answer choice (``index.search.answer_choice``): the share
of questions whose answer (its document and characters), its rung on the ladder, or the first
passage shown differs from fp32's, and each precision's quality figures.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks import common
from benchmarks.answer_choices import _views, evaluate, load_cache
from corpus.reader import read_folder
from eval.datasets import load_dataset
from index.search.answer_choice import ChoiceConfig, choose
from index.search.answer_kinds import asked_for
from service.settings import Settings


def _decisions(asked, config):
    out = []
    for a in asked:
        d = choose(asked_for(a.question), _views(a.read), config, a.question)
        where = None
        if d.candidate is not None:
            where = (a.read[d.passage].doc_id, d.candidate.char_start, d.candidate.char_end)
        out.append((where, d.kind, d.order[0] if d.order else None))
    return out


def main() -> None:
    p = common.parser(__doc__, "reader-precision.json")
    p.add_argument("--labels", default="fp32,int8,int8-7bit")
    p.add_argument("--cache", default=str(common.ROOT / "data" / "answer-choices"))
    args = p.parse_args()
    settings = Settings()
    config = ChoiceConfig.from_search(settings.search_config())
    labels = args.labels.split(",")
    result: dict = {}
    for name in ("iapp", "gold"):
        runs = {}
        for label in labels:
            runs[label] = load_cache(Path(args.cache) / f"{name}-{label}-5-10.pkl")
        reference = _decisions(runs[labels[0]], config)
        if name == "iapp":
            documents = {d.doc_id: d.text for d in load_dataset(common.IAPP).documents}
        else:
            documents = {d.doc_id: d.text for d in read_folder(settings.corpus_dir)[0]}
        result[name] = {}
        for label in labels:
            mine = _decisions(runs[label], config)
            n = len(mine)
            figures = evaluate(runs[label], config, documents)
            row = {
                "questions": n,
                "answer_differs": sum(m[0] != r[0] for m, r in zip(mine, reference)) / n,
                "rung_differs": sum(m[1] != r[1] for m, r in zip(mine, reference)) / n,
                "first_passage_differs": sum(m[2] != r[2] for m, r in zip(mine, reference)) / n,
            }
            row |= {k: figures[k] for k in ("hit@1", "em", "f1", "words_match", "ladder_match")}
            result[name][label] = row
            print(
                f"{name:>5} {label:>10}: "
                + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items())
            )
    common.write_result(args.out, result)


if __name__ == "__main__":
    main()
