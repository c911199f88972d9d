"""The reader's choices, measured: how many passages it reads, how much of each (tokens a row
holds), int8 or fp32, the blend weight of its order, and the no-answer margin.

    python -m benchmarks.reader_choices [--weights DIR] [--iapp N] [--out [FILE]]

Chosen on iApp ``valid`` (never trained on); the gold set's figures are printed beside them for
each choice, not used to make it (docs/decisions/017-reader.md). Retrieval runs once per question
(the service's hybrid search, without reading); the reader then reads the top ``--depth`` passages
in each configuration, and every (passages read, weight) pair is scored from those readings.

- reader alone: the gold passage given (windows over all of it; the best span wins): exact match
  and character F1 against iApp's answer.
- end to end: hit@1 after the new order, the answer's exact match and F1 (iApp), or whether it
  matches the evidence (gold set: one holds the other, or F1 >= 0.5), and its median length.
- no answer: the best margin among the passages read for answerable questions, against the same
  questions with their gold document's passages taken out (iApp: the documents are silent), and
  the gold set's unanswerable questions. The margin is set where 5% of answerable iApp questions
  are flagged.
- cost: one reader call for n passages, in ms (one question at a time, the reader's threads).
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from pathlib import Path

import numpy as np

from benchmarks import common
from corpus.reader import read_folder
from eval import metrics
from eval.datasets import GOLD, load_dataset, load_gold
from eval.pipeline import index_for
from index.encoders.factory import load_embedder
from index.reader.export import ensure_reader_export
from index.reader.runtime import Reader
from index.search.read_top import reading_window
from index.search.retriever import Retriever
from service.settings import Settings

READS = (1, 2, 3, 4, 5, 10)
WEIGHTS = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0)
FLAG_ANSWERABLE = 0.05  # the share of answerable iApp questions the margin may flag


@dataclasses.dataclass
class Asked:
    """One question's retrieval: its top passages, their scores and relevance, the gold answers."""

    question: str
    answerable: bool
    hits: list
    scores: list[float]
    relevant: list[bool]
    gold_doc: list[bool]  # the passage comes from an evidence document
    answers: list[str]
    evidence: list[tuple[str, int, int]]


def asked(retriever: Retriever, eval_set, depth: int) -> list[Asked]:
    out = []
    for q in eval_set.questions:
        hits = retriever.search(q.question, top_k=depth, read=False).passages
        spans = [(p.doc_id, s, e) for p in q.evidence for s, e in p.spans]
        docs = {p.doc_id for p in q.evidence}
        relevant = [
            any(d == h.passage.doc_id and h.passage.char_start <= s and e <= h.passage.char_end for d, s, e in spans)
            for h in hits
        ]
        texts = {d: retriever.document(d).text for d in docs}
        answers = [texts[d][s:e] for d, s, e in spans]
        out.append(
            Asked(
                q.question,
                q.answerable,
                hits,
                [h.score for h in hits],
                relevant,
                [h.passage.doc_id in docs for h in hits],
                answers,
                spans,
            )
        )
    return out


def read_all(reader: Reader, questions: list[Asked]) -> list[list]:
    return [reader.read(a.question, [reading_window(h) for h in a.hits]) for a in questions]


def _auc(positive: list[float], negative: list[float]) -> float:
    if not positive or not negative:
        return float("nan")
    p, n = np.asarray(positive), np.asarray(negative)
    return float((p[:, None] > n[None, :]).mean() + 0.5 * (p[:, None] == n[None, :]).mean())


def _flagged(values: list[float], margin: float) -> float:
    return float(np.mean([v < margin for v in values])) if values else float("nan")


def _answer_scores(a: Asked, text: str, span) -> dict:
    f1 = max((metrics.char_f1(text, g) for g in a.answers), default=0.0)
    exact = any(metrics.exact_match(text, g) for g in a.answers)
    holds = held = False
    for d, s, e in a.evidence:
        if span is not None and d == span[0]:
            holds |= span[1] <= s and e <= span[2]
            held |= s <= span[1] and span[2] <= e
    return {"em": exact, "f1": f1, "matches": holds or held or f1 >= 0.5, "chars": len(text)}


def score(questions: list[Asked], readings: list[list], n: int, w: float) -> dict:
    """Figures for reading the first ``n`` passages and blending with weight ``w``."""
    from index.search.reading import blend

    hit1, answers, answerable_margins, silent_margins, unanswerable_margins = [], [], [], [], []
    for a, spans in zip(questions, readings):
        k = min(n, len(a.hits))
        if k == 0:
            continue
        margins = [s.margin if s else -1e9 for s in spans[:k]]
        if not a.answerable:
            unanswerable_margins.append(max(margins))
            continue
        order = blend(a.scores[:k], margins, w)
        top = int(np.argmax(order))
        hit1.append(a.relevant[top])
        span = spans[top]
        text = a.hits[top].document.text[span.char_start : span.char_end] if span else ""
        answers.append(_answer_scores(a, text, (a.hits[top].passage.doc_id, span.char_start, span.char_end)))
        answerable_margins.append(max(margins))
        silent = [m for m, g in zip(spans[: len(a.hits)], a.gold_doc) if not g][:k]
        if silent:
            silent_margins.append(max(s.margin for s in silent))
    return {
        "hit@1": float(np.mean(hit1)) if hit1 else float("nan"),
        "em": float(np.mean([x["em"] for x in answers])) if answers else float("nan"),
        "f1": float(np.mean([x["f1"] for x in answers])) if answers else float("nan"),
        "matches": float(np.mean([x["matches"] for x in answers])) if answers else float("nan"),
        "median_chars": float(statistics.median([x["chars"] for x in answers])) if answers else float("nan"),
        "margins": {"answerable": answerable_margins, "silent": silent_margins, "unanswerable": unanswerable_margins},
    }


def sweep(iapp_asked, iapp_read, gold_asked, gold_read, n: int, w: float) -> list[dict]:
    """For no-answer margins from -4 to 4: the shares flagged of iApp's answerable questions, of the
    same with their documents silent, and of the gold set's answerable and unanswerable ones."""
    i, g = score(iapp_asked, iapp_read, n, w)["margins"], score(gold_asked, gold_read, n, w)["margins"]
    return [
        {
            "margin": float(m),
            "iapp_answerable_flagged": _flagged(i["answerable"], m),
            "iapp_silent_flagged": _flagged(i["silent"], m),
            "gold_answerable_flagged": _flagged(g["answerable"], m),
            "gold_unanswerable_flagged": _flagged(g["unanswerable"], m),
        }
        for m in np.arange(-4.0, 4.01, 0.5)
    ]


def gold_passage_given(reader: Reader, eval_set, documents: dict) -> dict:
    """The reader alone: windows over the whole gold passage (half a window's stride), best span."""
    em, f1 = [], []
    for q in eval_set.questions:
        piece = q.evidence[0]
        text = documents[piece.doc_id].text
        gold = text[piece.spans[0][0] : piece.spans[0][1]]
        best = reader.read_passage(q.question, text)
        answer = text[best.char_start : best.char_end]
        em.append(metrics.exact_match(answer, gold))
        f1.append(metrics.char_f1(answer, gold))
    return {"questions": len(em), "em": float(np.mean(em)), "f1": float(np.mean(f1))}


def cost(reader: Reader, questions: list[Asked], n: int, count: int = 40) -> float:
    times = []
    for a in questions[:count]:
        windows = [reading_window(h) for h in a.hits[:n]]
        started = time.perf_counter()
        reader.read(a.question, windows)
        times.append((time.perf_counter() - started) * 1000)
    return float(statistics.median(times))


def main() -> None:
    p = common.parser(__doc__, "reader-choices.json", iapp=True)
    p.add_argument("--weights", type=Path, default=None, help="reader weights (default: KHAMTOP_READER_WEIGHTS)")
    p.add_argument("--export", type=Path, default=None, help="its ONNX export (default: the set-up's)")
    p.add_argument("--lengths", default="160,224", help="tokens a row holds, comma-separated")
    p.add_argument("--precisions", default="int8,fp32")
    p.add_argument("--depth", type=int, default=10, help="passages retrieved and read")
    p.add_argument("--reads", type=int, default=3, help="passages read, for the margin sweep")
    p.add_argument("--weight", type=float, default=0.5, help="the blend weight, for the margin sweep")
    args = p.parse_args()
    settings = Settings()
    base = settings.reader_config()
    weights = args.weights or base.weights
    export = args.export or base.export_dir
    ensure_reader_export(weights, base.encoder_dir, export)
    embedder = load_embedder(settings.encoder_config())
    config = dataclasses.replace(settings.search_config(), read_candidates=args.depth)

    iapp = load_dataset(common.IAPP)
    valid = iapp.of_split("valid").sample(args.iapp or None, args.seed)
    iapp_index = index_for(settings, embedder, iapp.documents, settings.home / "data" / "eval-cache" / common.IAPP.name)
    iapp_retriever = Retriever(embedder, iapp_index, config)
    documents, _ = read_folder(settings.corpus_dir)
    gold = load_gold(GOLD, documents)
    gold_retriever = Retriever(embedder, index_for(settings, embedder, documents, settings.index_dir), config)
    started = time.perf_counter()
    iapp_asked = asked(iapp_retriever, valid, args.depth)
    gold_asked = asked(gold_retriever, gold, args.depth)
    print(
        f"retrieval: {len(iapp_asked)} iApp + {len(gold_asked)} gold questions, {time.perf_counter() - started:.0f} s"
    )

    result: dict = {"weights": str(weights), "configs": {}}
    for precision in args.precisions.split(","):
        for length in map(int, args.lengths.split(",")):
            name = f"{precision}-{length}"
            reader = Reader(
                dataclasses.replace(base, weights=weights, export_dir=export, precision=precision, max_length=length)
            )
            started = time.perf_counter()
            alone = gold_passage_given(reader, valid, {d.doc_id: d for d in iapp.documents})
            iapp_read, gold_read = read_all(reader, iapp_asked), read_all(reader, gold_asked)
            took = time.perf_counter() - started
            figures = {"reader_alone": alone, "cost_ms": {n: cost(reader, iapp_asked, n) for n in (1, 2, 3, 5)}}
            table = {}
            for n in READS:
                for w in WEIGHTS:
                    i, g = score(iapp_asked, iapp_read, n, w), score(gold_asked, gold_read, n, w)
                    answerable = i["margins"]["answerable"]
                    margin = float(np.quantile(answerable, FLAG_ANSWERABLE)) if answerable else float("nan")
                    table[f"{n}/{w}"] = {
                        "iapp": {k: v for k, v in i.items() if k != "margins"}
                        | {
                            "auc": _auc(answerable, i["margins"]["silent"]),
                            "margin": margin,
                            "silent_flagged": _flagged(i["margins"]["silent"], margin),
                        },
                        "gold": {k: v for k, v in g.items() if k != "margins"}
                        | {
                            "auc": _auc(g["margins"]["answerable"], g["margins"]["unanswerable"]),
                            "unanswerable_flagged": _flagged(g["margins"]["unanswerable"], margin),
                            "answerable_flagged": _flagged(g["margins"]["answerable"], margin),
                        },
                    }
            figures["table"] = table
            figures["margin_sweep"] = sweep(iapp_asked, iapp_read, gold_asked, gold_read, args.reads, args.weight)
            result["configs"][name] = figures
            print(
                f"\n== {name}: reader alone EM {alone['em']:.3f} F1 {alone['f1']:.3f}; "
                f"cost ms for 1/2/3/5 passages {figures['cost_ms']}; {took:.0f} s"
            )
            print(
                f"{'n/w':>8} | {'iApp hit@1':>10} {'EM':>6} {'F1':>6} {'AUC':>6} {'silent':>7} | "
                f"{'gold hit@1':>10} {'match':>6} {'chars':>6} {'AUC':>6} {'unans':>6} {'ans':>6}"
            )
            print(f"no-answer margin ({args.reads} read, weight {args.weight}): flagged shares")
            for row in figures["margin_sweep"]:
                print(
                    f"  {row['margin']:+.1f}: iApp answerable {row['iapp_answerable_flagged']:.3f}, silent "
                    f"{row['iapp_silent_flagged']:.3f}; gold answerable {row['gold_answerable_flagged']:.3f}, "
                    f"unanswerable {row['gold_unanswerable_flagged']:.3f}"
                )
            for key, row in table.items():
                i, g = row["iapp"], row["gold"]
                print(
                    f"{key:>8} | {i['hit@1']:>10.3f} {i['em']:>6.3f} {i['f1']:>6.3f} {i['auc']:>6.3f} "
                    f"{i['silent_flagged']:>7.3f} | {g['hit@1']:>10.3f} {g['matches']:>6.3f} {g['median_chars']:>6.0f} "
                    f"{g['auc']:>6.3f} {g['unanswerable_flagged']:>6.3f} {g['answerable_flagged']:>6.3f}"
                )
    common.write_result(args.out, result)


if __name__ == "__main__":
    main()
