"""One function from a question to a response, used by the route, the CLI and the evaluation: the
default mode, the search, the timing and the response's shape are decided here once."""

from __future__ import annotations

import time
from dataclasses import dataclass

from corpus.document import TAG_NAME
from corpus.text import normalize_text, too_little_to_answer
from corpus.filters import Filter, FilterError, bound
from index.search.results import RankedPassage, SearchResult
from index.search.retriever import Retriever
from service.schemas import Answer, AskRequest, AskResponse, Citation, FilterIn, Highlight, Passage, TextSpan


@dataclass(frozen=True)
class Answered:
    response: AskResponse  # what the API returns
    result: SearchResult  # the search behind it (the evaluation reads passage ids and the answer candidate)


def filter_of(given: FilterIn | None) -> Filter | None:
    """A request's (or a scoped key's) filter; FilterError naming what cannot be read."""
    if given is None:
        return None
    listed = lambda v: tuple(v) if isinstance(v, list) else (v,)  # noqa: E731
    # An empty part would read as no filter at all: said, rather than taken as "everything".
    if given.language is not None and not any(x.strip() for x in listed(given.language)):
        raise FilterError("language: give at least one language")
    if any(not any(x.strip() for x in listed(v)) for v in given.tags.values()):
        raise FilterError("tags: give each tag at least one value")
    for name in given.tags:  # no document has another name: say so, on every backend alike
        if not TAG_NAME.fullmatch(name):
            raise FilterError(
                f"tags: {name[:50]!r} is not a tag name (lower-case letters, digits, _ and -, from a letter)"
            )
    if given.date_from == "" or given.date_to == "":
        raise FilterError("a date bound is empty: leave it out, or give a date")
    return Filter(
        tags=tuple(
            sorted((name, tuple(normalize_text(x).strip() for x in listed(v))) for name, v in given.tags.items())
        ),
        date_from=bound(given.date_from, end=False) if given.date_from else None,
        date_to=bound(given.date_to, end=True) if given.date_to else None,
        languages=listed(given.language) if given.language else (),
    )


def answer_question(
    retriever: Retriever, request: AskRequest, started: float | None = None, fixed: Filter | None = None
) -> Answered:
    """Search for ``request`` and shape the response; ``took_ms`` counts from ``started``
    (``time.perf_counter()``; default: now), so a route can include the time spent waiting.
    ``fixed``: a filter the request can narrow and not widen (a scoped key's). Raises
    FilterError (index.search.filters) for a filter that cannot be applied."""
    started = time.perf_counter() if started is None else started
    mode = request.mode or retriever.config.mode
    asked = filter_of(request.filter)
    only = fixed.both(asked) if fixed is not None else asked
    result = retriever.search(request.question, request.top_k, mode, request.expand, request.read, only)
    return Answered(_response(request.question, mode, result, (time.perf_counter() - started) * 1000), result)


def _citation(hit: RankedPassage, start: int, end: int) -> Citation:
    doc = hit.document
    return Citation(doc_id=doc.doc_id, title=doc.title, source_url=doc.source_url, char_start=start, char_end=end)


def _text_span(hit: RankedPassage, start: int, end: int) -> TextSpan:
    return TextSpan(char_start=start, char_end=end, text=hit.document.text[start:end])


def _passage(hit: RankedPassage) -> Passage:
    h = hit.highlight
    return Passage(
        rank=hit.rank,
        score=round(hit.score, 6),
        text=hit.passage.text,
        citation=_citation(hit, hit.passage.char_start, hit.passage.char_end),
        highlight=Highlight(
            char_start=h.char_start,
            char_end=h.char_end,
            text=hit.document.text[h.char_start : h.char_end],
            score=round(h.score, 6),
            span=_text_span(hit, h.span.char_start, h.span.char_end) if h.span else None,
        )
        if h
        else None,
        reader_score=round(hit.reader_score, 6) if hit.reader_score is not None else None,
    )


def _answer(best: RankedPassage, read: bool, kind: str) -> Answer | None:
    h = best.highlight
    if h is None:
        return None
    sentence = _text_span(best, h.char_start, h.char_end)
    exact = read and kind == "words" and h.span is not None
    words = _text_span(best, h.span.char_start, h.span.char_end) if exact else sentence
    return Answer(
        kind="words" if exact else "sentence",
        text=words.text,
        char_start=words.char_start,
        char_end=words.char_end,
        sentence=sentence,
        passage_rank=best.rank,
        score=round(best.reader_score if read and best.reader_score is not None else h.score, 6),
        citation=_citation(best, best.passage.char_start, best.passage.char_end),
    )


def _response(question: str, mode: str, answer: SearchResult, took_ms: float) -> AskResponse:
    best = answer.best
    # A question of one letter (or none) gets no answer, however well a sentence scores; its
    # passages are still listed.
    shown = _answer(best, answer.read, answer.kind) if best is not None and not too_little_to_answer(question) else None
    return AskResponse(
        question=question,
        mode=mode,
        answer=shown,
        no_answer=shown is None,
        confidence=round(answer.confidence, 6),
        read=answer.read,
        expanded_with=list(answer.expanded_with),
        passages=[_passage(h) for h in answer.passages],
        index_version=answer.index_version,
        took_ms=round(took_ms, 2),
    )
