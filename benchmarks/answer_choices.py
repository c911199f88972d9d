"""How the answer is chosen, measured: the reader's candidate spans, answer kinds, reordering, and
the confidence ladder's thresholds, on every set we may choose on.

    python -m benchmarks.answer_choices [--iapp N] [--gen DIR] [--precision int8|fp32] [--out [FILE]]

Retrieval runs once per question (the service's hybrid search, unread); the reader then reads the
first ``--read`` passages once, keeping each passage's ``--top`` best spans, and every policy is
scored from those readings (``index.search.answer_choice`` is the code the service runs). Sets:

- iApp ``valid`` (Wikipedia; never trained on): choosing.
- generated thaigov ``valid`` (``training.thaigov_questions``, items from the held-out months):
  choosing, in the register of government documents.
- thaigov-faq (70 pairs, contexts indexed): choosing and reporting; long answers.
- the gold set: printed beside them, never chosen on.

"silent": the answerable questions with their gold documents' passages taken out (the first
passages of other documents are read): the documents do not answer, so the answer should be
"not in the documents". The gold set's unanswerable questions play that part for it.
"""

from __future__ import annotations

import dataclasses
import pickle
import time
from pathlib import Path

import numpy as np

from benchmarks import common
from corpus.reader import read_folder
from eval import metrics
from eval.datasets import GOLD, EvalSet, load_dataset, load_gold
from eval.pipeline import index_for
from index.search.answer_choice import Candidate, ChoiceConfig, choose
from index.search.answer_kinds import asked_for
from index.encoders.factory import load_embedder
from index.reader.export import ensure_reader_export
from index.reader.runtime import Reader
from index.search.read_top import reading_window
from index.search.retriever import Retriever
from service.settings import Settings

FAQ = common.ROOT.parent / "shared" / "datasets" / "thaigov-faq"


@dataclasses.dataclass
class Read:
    """One passage read: its retrieval score, whether it is relevant, its sentences, the reader's
    candidate spans (with a few characters around each, for their kinds)."""

    score: float
    relevant: bool
    gold_doc: bool
    doc_id: str
    sentences: list[tuple[int, int, float]]
    candidates: list[Candidate]


@dataclasses.dataclass
class Asked:
    question: str
    answerable: bool
    relevant_top: bool  # retrieval's first passage is relevant
    read: list[Read]
    silent: list[Read]  # the first passages of other documents than the gold ones
    answers: list[str]
    evidence: list[tuple[str, int, int]]


def _reads(reader: Reader, question: str, hits, relevant, gold, index, top: int) -> list[Read]:
    spans = reader.candidates(question, [reading_window(h) for h in hits], top)
    out = []
    for hit, rel, g, found in zip(hits, relevant, gold, spans):
        text = hit.document.text
        ids = index.chunk_sentences[hit.passage.id]
        sentences = []
        for sid in ids:
            s = index.sentences[sid]
            sentences.append((max(s.char_start, hit.passage.char_start), min(s.char_end, hit.passage.char_end), 0.0))
        if hit.highlight is not None:
            h = hit.highlight
            sentences = [(a, b, h.score if (a, b) == (h.char_start, h.char_end) else sc) for a, b, sc in sentences]
        cands = [Candidate.of(text, s) for s in found]
        out.append(Read(hit.score, rel, g, hit.passage.doc_id, sentences, cands))
    return out


def collect(retriever: Retriever, reader: Reader, eval_set: EvalSet, depth: int, n_read: int, top: int) -> list[Asked]:
    out = []
    for q in eval_set.questions:
        hits = retriever.search(q.question, top_k=depth, read=False).passages
        spans = [(p.doc_id, s, e) for p in q.evidence for s, e in p.spans]
        docs = {p.doc_id for p in q.evidence}
        relevant = [
            any(d == h.passage.doc_id and h.passage.char_start <= s and e <= h.passage.char_end for d, s, e in spans)
            or (not spans and h.passage.doc_id in docs)
            for h in hits
        ]
        gold = [h.passage.doc_id in docs for h in hits]
        texts = {d: retriever.document(d).text for d in docs}
        answers = [texts[d][s:e] for d, s, e in spans]
        read = _reads(reader, q.question, hits[:n_read], relevant, gold, retriever.index, top)
        others = [i for i, g in enumerate(gold) if not g][:n_read]
        silent = (
            _reads(
                reader,
                q.question,
                [hits[i] for i in others],
                [False] * len(others),
                [False] * len(others),
                retriever.index,
                top,
            )
            if q.answerable
            else []
        )
        out.append(Asked(q.question, q.answerable, bool(relevant and relevant[0]), read, silent, answers, spans))
    return out


class _Unpickler(pickle.Unpickler):
    """Caches written by this module run as ``__main__`` read from any module."""

    def find_class(self, module: str, name: str):
        if module == "__main__" and name in ("Asked", "Read"):
            return globals()[name]
        if module in ("index.answer_choice", "index.answer_kinds"):  # caches from before index/search/
            module = module.replace("index.", "index.search.", 1)
        return super().find_class(module, name)


def load_cache(path: Path) -> list[Asked]:
    with path.open("rb") as f:
        return _Unpickler(f).load()


def _answer_figures(a: Asked, text: str, where: tuple[str, int, int] | None) -> dict:
    f1 = max((metrics.char_f1(text, g) for g in a.answers), default=0.0)
    exact = any(metrics.exact_match(text, g) for g in a.answers)
    holds = held = False
    for d, s, e in a.evidence:
        if where is not None and d == where[0]:
            holds |= where[1] <= s and e <= where[2]
            held |= s <= where[1] and where[2] <= e
    return {"em": exact, "f1": f1, "matches": holds or held or f1 >= 0.5}


def evaluate(asked: list[Asked], config: ChoiceConfig, texts: dict[str, str]) -> dict:
    """Every figure of one policy on one set."""
    hit1, words, ladder, flagged_answerable, flagged_silent = [], [], [], [], []
    kinds = {"words": 0, "sentence": 0, "none": 0}
    right = {"words": 0, "sentence": 0}
    for a in asked:
        q_kind = asked_for(a.question)
        if not a.answerable:
            decision = choose(q_kind, _views(a.read), config, a.question)
            flagged_silent.append(decision.kind == "none")
            continue
        decision = choose(q_kind, _views(a.read), config, a.question)
        hit1.append(a.read[decision.order[0]].relevant if a.read else False)
        if decision.passage is None:
            words.append({"em": False, "f1": 0.0, "matches": False})
            kinds["none"] += 1
            flagged_answerable.append(True)
            ladder.append(False)
        else:
            r = a.read[decision.passage]
            c = decision.candidate
            words.append(_answer_figures(a, c.text, (r.doc_id, c.char_start, c.char_end)))
            flagged_answerable.append(decision.kind == "none")
            kinds[decision.kind] += 1
            if decision.kind == "words":
                ok = words[-1]["matches"]
            elif decision.kind == "sentence":
                s, e = decision.sentence
                ok = _answer_figures(a, texts[r.doc_id][s:e], (r.doc_id, s, e))["matches"]
            else:
                ok = False
            if decision.kind in right:
                right[decision.kind] += ok
            ladder.append(ok)
        if a.silent:
            flagged_silent.append(choose(q_kind, _views(a.silent), config, a.question).kind == "none")
    n = max(1, len(words))
    return {
        "hit@1": float(np.mean(hit1)) if hit1 else float("nan"),
        "em": float(np.mean([w["em"] for w in words])) if words else float("nan"),
        "f1": float(np.mean([w["f1"] for w in words])) if words else float("nan"),
        "words_match": float(np.mean([w["matches"] for w in words])) if words else float("nan"),
        "ladder_match": float(np.mean(ladder)) if ladder else float("nan"),
        "shares": {k: v / n for k, v in kinds.items()},
        "rung_accuracy": {k: (right[k] / kinds[k] if kinds[k] else float("nan")) for k in right},
        "answerable_flagged": float(np.mean(flagged_answerable)) if flagged_answerable else float("nan"),
        "silent_flagged": float(np.mean(flagged_silent)) if flagged_silent else float("nan"),
    }


def _views(reads: list[Read]):
    from index.search.answer_choice import ReadPassage

    return [ReadPassage(r.score, r.candidates, r.sentences) for r in reads]


def main() -> None:
    p = common.parser(__doc__, "answer-choices.json", iapp=True)
    p.add_argument("--gen", type=Path, default=common.ROOT / "data" / "thaigov-gen" / "valid")
    p.add_argument("--gen-limit", type=int, default=800)
    p.add_argument("--precision", default="int8")
    p.add_argument("--export", type=Path, default=None, help="the reader's ONNX export (default: the set-up's)")
    p.add_argument("--label", default=None, help="names the cache of this export (default: the precision)")
    p.add_argument("--sets", default="iapp,thaigov-gen,thaigov-faq,gold", help="which sets, comma-separated")
    p.add_argument("--grid", choices=("order", "ladder"), default="ladder", help="which policies to score")
    p.add_argument("--read", type=int, default=5)
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--cache", type=Path, default=common.ROOT / "data" / "answer-choices")
    args = p.parse_args()
    settings = Settings()
    base = settings.reader_config()
    ensure_reader_export(base.weights, base.encoder_dir, base.export_dir)
    export = args.export or base.export_dir
    reader = Reader(dataclasses.replace(base, precision=args.precision, export_dir=export))
    label = args.label or args.precision
    wanted = set(args.sets.split(","))
    embedder = load_embedder(settings.encoder_config())
    config = settings.search_config()
    args.cache.mkdir(parents=True, exist_ok=True)

    sets: dict[str, tuple[list[Asked], dict[str, str]]] = {}

    def run(name: str, eval_set: EvalSet, index_dir: Path, documents) -> None:
        if name not in wanted:
            return
        cache = args.cache / f"{name}-{label}-{args.read}-{args.top}.pkl"
        texts = {d.doc_id: d.text for d in documents}
        if cache.is_file():
            sets[name] = (load_cache(cache), texts)
            return
        retriever = Retriever(embedder, index_for(settings, embedder, documents, index_dir), config)
        started = time.perf_counter()
        asked = collect(retriever, reader, eval_set, 10, args.read, args.top)
        print(f"{name}: {len(asked)} questions read in {time.perf_counter() - started:.0f} s", flush=True)
        cache.write_bytes(pickle.dumps(asked))
        sets[name] = (asked, texts)

    iapp = load_dataset(common.IAPP)
    run(
        "iapp",
        iapp.of_split("valid").sample(args.iapp or None, args.seed),
        settings.home / "data" / "eval-cache" / common.IAPP.name,
        iapp.documents,
    )
    if args.gen.is_dir():
        gen = load_dataset(args.gen)
        run(
            "thaigov-gen",
            gen.sample(args.gen_limit, args.seed),
            settings.home / "data" / "eval-cache" / "thaigov-gen",
            gen.documents,
        )
    faq = load_dataset(FAQ)
    run("thaigov-faq", faq, settings.home / "data" / "eval-cache" / "thaigov-faq", faq.documents)
    documents, _ = read_folder(settings.corpus_dir)
    run("gold", load_gold(GOLD, documents), settings.index_dir, documents)

    policies = order_grid(config) if args.grid == "order" else ladder_grid(config)
    result: dict = {"precision": args.precision, "read": args.read, "top": args.top, "policies": {}}
    header = f"{'policy':<44}" + "".join(
        f" | {n[:11]:>11} hit1 EM   F1   wm   lm   w/s/n (ok w/s)    fl-a fl-s" for n in sets
    )
    print(header)
    for name, policy in policies.items():
        row = {}
        line = f"{name:<44}"
        for set_name, (asked, texts) in sets.items():
            f = evaluate(asked, policy, texts)
            row[set_name] = f
            s, ok = f["shares"], f["rung_accuracy"]
            line += (
                f" | {f['hit@1']:.3f} {f['em']:.2f} {f['f1']:.2f} {f['words_match']:.2f} {f['ladder_match']:.2f} "
                f"{s['words']:.2f}/{s['sentence']:.2f}/{s['none']:.2f} ({ok['words']:.2f}/{ok['sentence']:.2f}) "
                f"{f['answerable_flagged']:.2f} {f['silent_flagged']:.2f}"
            )
        print(line, flush=True)
        result["policies"][name] = {"config": dataclasses.asdict(policy), "sets": row}
    common.write_result(args.out, result)


def order_grid(config) -> dict[str, ChoiceConfig]:
    """Passages read, the order's weight, and the kinds' bonus and penalty."""
    base = ChoiceConfig.from_search(config)
    grid = {"service (this checkout)": base}
    grid["before: read 3, weight 0.5, no kinds, no copies"] = dataclasses.replace(
        base,
        read=3,
        weight=0.5,
        answer_weight=0.5,
        kind_bonus=0.0,
        kind_penalty=0.0,
        copy_penalty=0.0,
        words_margin=-1e9,
    )
    for read in (1, 3, 5):
        for weight in (0.0, 0.25, 0.5):
            for bonus, penalty in ((0.0, 0.0), (1.0, 2.0), (2.0, 4.0), (3.0, 6.0)):
                grid[f"read {read} w {weight} kinds +{bonus}/-{penalty}"] = dataclasses.replace(
                    base, read=read, weight=weight, answer_weight=0.5, kind_bonus=bonus, kind_penalty=penalty
                )
    return grid


def ladder_grid(config) -> dict[str, ChoiceConfig]:
    """From the service's settings: the answer's passage weight, and the ladder's thresholds."""
    base = ChoiceConfig.from_search(config)
    grid = {"service (this checkout)": base}
    for weight in (0.0, 0.25, 0.5, 0.75, 1.0):
        grid[f"answer weight {weight}"] = dataclasses.replace(base, answer_weight=weight)
    for copy in (0.0, 2.0, 4.0):
        grid[f"copy penalty {copy}"] = dataclasses.replace(base, copy_penalty=copy)
    for margin in (-100.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0):
        grid[f"words margin {margin}"] = dataclasses.replace(base, words_margin=margin)
    for margin in (-8.0, -7.0, -6.0, -5.4, -4.5, -3.5, -2.5):
        grid[f"no-answer margin {margin}"] = dataclasses.replace(base, none_margin=margin)
    for threshold in (0.75, 0.8, 0.85, 0.9):
        grid[f"sentence threshold {threshold}"] = dataclasses.replace(base, sentence_threshold=threshold)
    return grid


if __name__ == "__main__":
    main()
