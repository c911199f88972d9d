"""The reader over a question's top passages: its spans in each, the answer chosen among them
(index.search.answer_choice), and those passages in the order the choice shows them."""

from __future__ import annotations

import dataclasses

from index.reader.features import Span
from index.reader.runtime import Reader, Window
from index.search.answer_choice import Candidate, ChoiceConfig, Decision, ReadPassage, choose
from index.search.answer_kinds import asked_for
from index.search.reading import enclosing
from index.search.results import RankedPassage
from index.search.sentences import Highlight


def reading_window(hit: RankedPassage) -> Window:
    """What the reader reads of a passage: as much of it as a row holds, around its best sentence."""
    p, h = hit.passage, hit.highlight
    focus = (h.char_start + h.char_end) // 2 if h else p.char_start
    return Window(hit.document.text, p.char_start, p.char_end, focus)


def read_top(
    reader: Reader, config, query: str, hits: list[RankedPassage], sentences: list[list[Highlight]], top_k: int
) -> tuple[list[RankedPassage], RankedPassage | None, Decision | None]:
    """The reader's spans in each of the first ``config.read_candidates`` passages, the answer
    chosen among them, those passages in the order shown (the others after them, as they were),
    the answer's passage and the decision. ``sentences``: each hit's scored sentences."""
    n = min(config.read_candidates, len(hits))
    if n == 0:
        return hits, None, None
    windows = [reading_window(hit) for hit in hits[:n]]
    found = reader.candidates(query, windows, config.span_candidates)
    passages = []
    for hit, spans, sents in zip(hits[:n], found, sentences[:n]):
        text = hit.document.text
        candidates = [Candidate.of(text, s) for s in spans]
        passages.append(ReadPassage(hit.score, candidates, [(h.char_start, h.char_end, h.score) for h in sents]))
    decision = choose(asked_for(query), passages, ChoiceConfig.from_search(config), query, top_k)
    read = []
    for hit, best, found_sentences in zip(hits[:n], decision.best, sentences[:n]):
        if best is None:
            read.append(hit)
            continue
        # The passage's highlight becomes the sentence that holds its best span, marked inside it.
        bounds = [(s.char_start, s.char_end) for s in found_sentences]
        start, end = enclosing(bounds, best.char_start, best.char_end)
        start, end = max(start, hit.passage.char_start), min(end, hit.passage.char_end)
        same = next((s for s in found_sentences if (s.char_start, s.char_end) == (start, end)), None)
        score = same.score if same else (hit.highlight.score if hit.highlight else 0.0)
        span = Span(best.char_start, best.char_end, best.score, best.null)
        highlight = Highlight(start, end, score, span)
        read.append(dataclasses.replace(hit, highlight=highlight, reader_score=best.margin))
    answer = read[decision.passage] if decision.passage is not None else None
    ranked = [read[i] for i in decision.order] + hits[n:]
    ranked = [dataclasses.replace(h, rank=r) for r, h in enumerate(ranked, start=1)]
    if answer is not None:
        answer = next(h for h in ranked if h.passage.id == answer.passage.id)
    return ranked, answer, decision
