"""Run a question set against a retriever and compute the figures the owners read."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field

from eval import metrics
from eval.datasets import EvalQuestion, EvalSet
from index.search.results import Mode
from index.search.retriever import Retriever
from service.answering import answer_question
from service.schemas import AskRequest, FilterIn
from index.folder.spans import Passage

K_VALUES = (1, 3, 5, 10)
DEPTH = 10


@dataclass
class ReturnedPassage:
    rank: int
    score: float
    chunk_id: int
    doc_id: str
    char_start: int
    char_end: int
    relevant: bool


@dataclass
class QuestionResult:
    id: str
    question: str
    answerable: bool
    tags: list[str]
    evidence: list[dict]
    first_relevant_rank: int | None
    first_document_rank: int | None  # first passage from an evidence document, covering or not
    reciprocal_rank: float
    ndcg: float
    evidence_recall_5: float
    evidence_recall_10: float
    coverable: bool  # some indexed chunk covers the evidence (else chunking made it unfindable)
    top_score: float
    latency_ms: float
    # The answer (the reader's words, or the best sentence when not read), and whether it was withheld.
    answer: dict | None = None  # doc_id, char_start, char_end, text, sentence_start, sentence_end
    confidence: float = 0.0
    flagged_no_answer: bool = False
    answer_contains_evidence: bool = False
    answer_overlaps_evidence: bool = False
    evidence_contains_answer: bool = False
    answer_exact_match: bool = False  # equal to a piece of evidence, whitespace aside
    answer_f1: float = 0.0  # the best character F1 against a piece of evidence
    # The confidence ladder: what the response shows ("words", "sentence" or "none"), and whether
    # what it shows (the words, or the sentence) matches the evidence.
    answer_kind: str = "none"
    shown_matches: bool = False
    passages: list[ReturnedPassage] = field(default_factory=list)

    def hit(self, k: int) -> bool:
        return self.first_relevant_rank is not None and self.first_relevant_rank <= k

    def document_hit(self, k: int) -> bool:
        return self.first_document_rank is not None and self.first_document_rank <= k


@dataclass
class EvalResult:
    name: str
    index: dict
    summary: dict
    questions: list[QuestionResult]

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "index": self.index,
            "summary": self.summary,
            "questions": [asdict(q) for q in self.questions],
        }


def _chunks_by_doc(chunks: list[Passage]) -> dict[str, list[Passage]]:
    by_doc: dict[str, list[Passage]] = defaultdict(list)
    for chunk in chunks:
        by_doc[chunk.doc_id].append(chunk)
    return by_doc


def _covering(piece, by_doc) -> set[int]:
    """Chunks that cover the evidence piece: ``[char_start, char_end)`` contains one of its spans."""
    chunks = by_doc.get(piece.doc_id, [])
    if not piece.spans:
        return {c.id for c in chunks}
    return {c.id for c in chunks for s, e in piece.spans if c.char_start <= s and e <= c.char_end}


def _distribution(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "min": min(values),
        "p25": metrics.percentile(values, 25),
        "median": metrics.percentile(values, 50),
        "p75": metrics.percentile(values, 75),
        "max": max(values),
    }


def _spans(q: EvalQuestion) -> list[tuple[str, int, int]]:
    return [(p.doc_id, s, e) for p in q.evidence for s, e in p.spans]


def _answer_of(top) -> dict | None:
    if top is None or top.highlight is None:
        return None
    h = top.highlight
    start, end = (h.span.char_start, h.span.char_end) if h.span else (h.char_start, h.char_end)
    return {
        "doc_id": top.passage.doc_id,
        "char_start": start,
        "char_end": end,
        "text": top.document.text[start:end],
        "sentence_start": h.char_start,
        "sentence_end": h.char_end,
    }


def evaluate_question(
    q: EvalQuestion,
    retriever: Retriever,
    by_doc,
    mode: Mode | None = None,
    expand: bool = True,
    read: bool = True,
    only: FilterIn | None = None,
) -> QuestionResult:
    # The same path as the API's (service.answering), so the figures are the service's.
    request = AskRequest(question=q.question, top_k=DEPTH, mode=mode, expand=expand, read=read, filter=only)
    answered = answer_question(retriever, request)
    latency_ms = answered.response.took_ms
    result = answered.result
    hits = result.passages
    # The answer is judged before the threshold: whether it would be shown is measured
    # separately (flagged_no_answer).
    answer = _answer_of(result.candidate)
    contains = overlaps = held = exact = False
    f1 = 0.0
    if answer:
        for doc_id, s, e in _spans(q):
            if doc_id == answer["doc_id"]:
                contains |= answer["char_start"] <= s and e <= answer["char_end"]
                overlaps |= answer["char_start"] < e and s < answer["char_end"]
                held |= s <= answer["char_start"] and answer["char_end"] <= e
                gold = by_doc_text(retriever, doc_id)[s:e]
                exact |= metrics.exact_match(answer["text"], gold)
                f1 = max(f1, metrics.char_f1(answer["text"], gold))
    kind = result.kind
    shown_matches = False
    if kind != "none" and answer:
        s0, e0 = (
            (answer["char_start"], answer["char_end"])
            if kind == "words"
            else (answer["sentence_start"], answer["sentence_end"])
        )
        shown_matches = _matches(q, retriever, answer["doc_id"], s0, e0)
    returned = [metrics.Returned(h.passage.id, h.score) for h in hits]
    # Read, the service's order is the reader's blend, not the retrieval scores' order.
    ranked = returned if result.read else metrics.order(returned)
    chunk_of = {h.passage.id: h.passage for h in hits}
    covers = [_covering(p, by_doc) for p in q.evidence]
    relevant = set().union(*covers) if covers else set()
    evidence_docs = {p.doc_id for p in q.evidence}
    same_document = {r.chunk_id for r in ranked if chunk_of[r.chunk_id].doc_id in evidence_docs}
    return QuestionResult(
        id=q.id,
        question=q.question,
        answerable=q.answerable,
        tags=list(q.tags),
        evidence=[{"doc_id": p.doc_id, "text": p.text, "spans": [list(s) for s in p.spans]} for p in q.evidence],
        first_relevant_rank=metrics.first_relevant_rank(ranked, relevant),
        first_document_rank=metrics.first_relevant_rank(ranked, same_document),
        reciprocal_rank=metrics.reciprocal_rank_at(ranked, relevant, DEPTH),
        ndcg=metrics.ndcg_at(ranked, relevant, DEPTH),
        evidence_recall_5=metrics.evidence_recall_at(ranked, covers, 5),
        evidence_recall_10=metrics.evidence_recall_at(ranked, covers, 10),
        coverable=bool(relevant),
        top_score=ranked[0].score if ranked else float("nan"),
        latency_ms=latency_ms,
        answer=answer,
        confidence=result.confidence,
        flagged_no_answer=result.best is None,
        answer_contains_evidence=contains,
        answer_overlaps_evidence=overlaps,
        evidence_contains_answer=held,
        answer_exact_match=exact,
        answer_f1=f1,
        answer_kind=kind,
        shown_matches=shown_matches,
        passages=[
            ReturnedPassage(
                rank,
                r.score,
                r.chunk_id,
                chunk_of[r.chunk_id].doc_id,
                chunk_of[r.chunk_id].char_start,
                chunk_of[r.chunk_id].char_end,
                r.chunk_id in relevant,
            )
            for rank, r in enumerate(ranked, start=1)
        ],
    )


def _matches(q: EvalQuestion, retriever: Retriever, doc_id: str, start: int, end: int) -> bool:
    """Whether [start, end) of the document matches a piece of evidence (``answer_matches``' rule)."""
    text = by_doc_text(retriever, doc_id)
    for d, s, e in _spans(q):
        if d != doc_id:
            continue
        if (start <= s and e <= end) or (s <= start and end <= e):
            return True
        if metrics.char_f1(text[start:end], text[s:e]) >= 0.5:
            return True
    return False


def by_doc_text(retriever: Retriever, doc_id: str) -> str:
    doc = retriever.document(doc_id)
    return doc.text if doc else ""


def answer_matches(r: QuestionResult) -> bool:
    """The answer matches the evidence: one holds the other, or their character F1 is at least 0.5."""
    return r.answer_contains_evidence or r.evidence_contains_answer or r.answer_f1 >= 0.5


def summarise(results: list[QuestionResult]) -> dict:
    answerable = [r for r in results if r.answerable]
    summary: dict = {
        "questions": len(results),
        "answerable": len(answerable),
        "unanswerable": len(results) - len(answerable),
        "uncoverable": sum(not r.coverable for r in answerable),
    }
    for k in K_VALUES:
        summary[f"hit@{k}"] = metrics.mean(float(r.hit(k)) for r in answerable)
    # The coarser view of passage-level benchmarks: any passage of the right document counts.
    for k in (1, 5, 10):
        summary[f"document_hit@{k}"] = metrics.mean(float(r.document_hit(k)) for r in answerable)
    summary["hit_curve"] = [metrics.mean(float(r.hit(k)) for r in answerable) for k in range(1, DEPTH + 1)]
    summary["mrr@10"] = metrics.mean(r.reciprocal_rank for r in answerable)
    summary["ndcg@10"] = metrics.mean(r.ndcg for r in answerable)
    summary["evidence_recall@5"] = metrics.mean(r.evidence_recall_5 for r in answerable)
    summary["evidence_recall@10"] = metrics.mean(r.evidence_recall_10 for r in answerable)
    latencies = [r.latency_ms for r in results]
    summary["answer_contains_evidence"] = metrics.mean(float(r.answer_contains_evidence) for r in answerable)
    summary["answer_overlaps_evidence"] = metrics.mean(float(r.answer_overlaps_evidence) for r in answerable)
    summary["evidence_contains_answer"] = metrics.mean(float(r.evidence_contains_answer) for r in answerable)
    summary["answer_exact_match"] = metrics.mean(float(r.answer_exact_match) for r in answerable)
    summary["answer_f1"] = metrics.mean(r.answer_f1 for r in answerable)
    summary["answer_matches_evidence"] = metrics.mean(float(answer_matches(r)) for r in answerable)
    lengths = [r.answer["char_end"] - r.answer["char_start"] for r in answerable if r.answer]
    summary["answer_median_chars"] = metrics.percentile(lengths, 50) if lengths else 0.0
    unanswerable = [r for r in results if not r.answerable]
    rungs = ("words", "sentence", "none")
    summary["ladder"] = {
        "answer_shown_matches": metrics.mean(float(r.shown_matches) for r in answerable),
        "answerable_shares": {k: metrics.mean(float(r.answer_kind == k) for r in answerable) for k in rungs},
        "unanswerable_shares": {k: metrics.mean(float(r.answer_kind == k) for r in unanswerable) for k in rungs},
        "accuracy": {
            k: metrics.mean(float(r.shown_matches) for r in answerable if r.answer_kind == k) for k in rungs[:2]
        },
    }
    summary["no_answer"] = {
        "unanswerable_flagged": metrics.mean(float(r.flagged_no_answer) for r in unanswerable),
        "answerable_flagged": metrics.mean(float(r.flagged_no_answer) for r in answerable),
        "confidence": {
            "answerable": _distribution([r.confidence for r in answerable]),
            "unanswerable": _distribution([r.confidence for r in unanswerable]),
        },
    }
    summary["latency_ms"] = {"p50": metrics.percentile(latencies, 50), "p95": metrics.percentile(latencies, 95)}
    summary["top_score"] = {
        "answerable": _distribution([r.top_score for r in answerable]),
        "unanswerable": _distribution([r.top_score for r in results if not r.answerable]),
    }
    by_tag: dict[str, list[QuestionResult]] = defaultdict(list)
    for r in answerable:
        for tag in r.tags:
            by_tag[tag].append(r)
    summary["by_tag"] = {
        tag: {
            "n": len(rs),
            "hit@1": metrics.mean(float(r.hit(1)) for r in rs),
            "hit@5": metrics.mean(float(r.hit(5)) for r in rs),
        }
        for tag, rs in sorted(by_tag.items())
    }
    return summary


def run(
    eval_set: EvalSet,
    retriever: Retriever,
    progress: bool = False,
    mode: Mode | None = None,
    expand: bool = True,
    read: bool = True,
    only: FilterIn | None = None,
) -> EvalResult:
    """``only``: a filter every question is asked with (as the API's ``filter``)."""
    from tqdm import tqdm

    mode = mode or retriever.config.mode
    by_doc = _chunks_by_doc(retriever.index.chunks)
    retriever.search("warm-up", top_k=1, mode=mode)  # the first call pays one-off costs; keep it out of latency
    results = [
        evaluate_question(q, retriever, by_doc, mode, expand, read, only)
        for q in tqdm(eval_set.questions, desc="questions", unit="q", disable=not progress)
    ]
    manifest = retriever.index.manifest
    index_info = {
        "path": str(retriever.index.path),
        "mode": mode,
        "query_expansion": expand and retriever.expander is not None,
        "read": read and retriever.reader is not None,
        "answer_threshold": (
            retriever.config.no_answer_margin if read and retriever.reader else retriever.config.answer_threshold
        ),
        "dedup": retriever.config.dedup,
        "filter": only.model_dump(exclude_defaults=True) if only is not None else None,
        "model": manifest["model"]["id"],
        "chunker": manifest["chunker"],
        "chunks": manifest["corpus"]["chunks"],
        "documents": manifest["corpus"]["documents"],
    }
    return EvalResult(eval_set.name, index_info, summarise(results), results)
