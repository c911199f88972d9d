"""Choosing the answer among the reader's spans, and how sure to be of it: the confidence ladder.

The reader proposes its best few spans in each passage read. Each is worth its margin over "no
answer", plus a bonus when its kind is the kind the question asks for (``index.search.answer_kinds``),
less a penalty when it is plainly another kind or only repeats the question's own words. The
answer's passage is chosen from a blend of retrieval's score and that worth (z-scores over the
passages read, as ``index.search.reading.blend``); the ranking shown is blended with its own weight, so
that the answer can come from the second passage without the list being reordered.

The ladder then says how much of it to show (docs/decisions/019-answers.md):

- ``words``: the span's exact words, when its margin reaches ``words_margin`` and its kind does not
  contradict the question;
- ``sentence``: the sentence that holds it, without bold words, when the passage looks right but
  the span does not;
- ``none``: "not in the documents", when the best margin is below ``none_margin`` or no sentence
  reaches the sentence threshold. The passages are still listed as the evidence there is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from index.search.answer_kinds import Asked, fits, kinds_of
from index.folder.keyword import match_form
from index.reader.features import Span
from index.search.reading import blend, enclosing

AnswerKind = Literal["words", "sentence", "none"]
# Characters on each side of a span that its kind is read from (a title before a name, a unit
# after a number).
AROUND = 16


@dataclass(frozen=True)
class Candidate:
    """One of the reader's spans: its text, a few characters around it, its score and its row's
    no-answer score, and where it lies in the document."""

    text: str
    before: str
    after: str
    score: float
    null: float
    char_start: int
    char_end: int

    @property
    def margin(self) -> float:
        return self.score - self.null

    @classmethod
    def of(cls, text: str, span: Span) -> Candidate:
        """The reader's ``span`` of the document ``text``, with the characters its kind is read from."""
        start, end = span.char_start, span.char_end
        return cls(
            text[start:end],
            text[max(0, start - AROUND) : start],
            text[end : end + AROUND],
            span.score,
            span.null,
            start,
            end,
        )


@dataclass(frozen=True)
class ReadPassage:
    """A passage read: retrieval's score, the reader's candidates (best first), and its sentences
    as (start, end, score), clipped to the passage."""

    score: float
    candidates: list[Candidate]
    sentences: list[tuple[int, int, float]]


@dataclass(frozen=True)
class ChoiceConfig:
    read: int  # how many of the first passages are read
    weight: float  # the ranking shown: w x reader z-score + (1 - w) x retrieval z-score
    answer_weight: float  # the answer's passage: the same blend, with its own weight
    kind_bonus: float  # added to a span's margin when its kind is the one asked for
    kind_penalty: float  # taken off when its kind is plainly another
    copy_penalty: float  # taken off a span that only repeats the question's words
    words_margin: float  # the ladder: exact words from this margin up
    none_margin: float  # the ladder: nothing answers below this margin
    sentence_threshold: float  # the ladder: nothing answers when no sentence scores this much

    @classmethod
    def from_search(cls, config) -> ChoiceConfig:
        """From ``index.search.results.SearchConfig`` (the settings)."""
        return cls(
            read=config.read_candidates,
            weight=config.read_weight,
            answer_weight=config.answer_weight,
            kind_bonus=config.kind_bonus,
            kind_penalty=config.kind_penalty,
            copy_penalty=config.copy_penalty,
            words_margin=config.words_margin,
            none_margin=config.no_answer_margin,
            sentence_threshold=config.answer_threshold,
        )


@dataclass(frozen=True)
class Decision:
    order: list[int]  # the passages read, in the order shown (indices into those given)
    best: list[Candidate | None]  # each passage's best candidate by worth (None: the reader found none)
    passage: int | None  # the answer's passage (None: the reader found no span anywhere)
    kind: AnswerKind
    sentence: tuple[int, int] | None  # the sentence(s) holding the answer's span
    margin: float  # the best margin among the passages read (what ``none_margin`` is compared to)
    fits: bool | None  # whether the answer's kind is the one asked for (None: cannot tell)

    @property
    def candidate(self) -> Candidate | None:
        return None if self.passage is None else self.best[self.passage]


# Words that introduce an answer rather than being part of it ("ณ กรุงเทพ", "ได้แก่ ไทย").
_LEADING = re.compile(r"^(?:ณ|คือ|ได้แก่|อันได้แก่|เช่น)\s+(?=\S)")


def trimmed(candidate: Candidate) -> Candidate:
    """The span without a leading word that only introduces it; offsets stay exact."""
    m = _LEADING.match(candidate.text)
    if m is None:
        return candidate
    cut = m.end()
    return Candidate(
        candidate.text[cut:],
        candidate.before + candidate.text[:cut],
        candidate.after,
        candidate.score,
        candidate.null,
        candidate.char_start + cut,
        candidate.char_end,
    )


def _squeezed(text: str) -> str:
    return "".join(match_form(text).split())


# A span whose character trigrams are mostly the question's repeats it ("การประชุมผู้นำ ACMECS
# ครั้งที่ ๘" for "ประชุมผู้นำ ACMECS ครั้งที่ 8 ... จัดที่ไหน").
COPY_SHARE = 0.75


def copies_question(candidate: Candidate, question: str) -> bool:
    """Whether the span only repeats the question's words (in match form, spaces ignored)."""
    span, asked = _squeezed(candidate.text), _squeezed(question)
    if len(span) < 2:
        return False
    if span in asked:
        return True
    if any(number not in asked for number in re.findall(r"\d+", span)):
        return False  # "6 ประเทศ" for กี่ประเทศ brings a number the question lacks
    grams = [span[i : i + 3] for i in range(len(span) - 2)]
    return bool(grams) and sum(g in asked for g in grams) >= COPY_SHARE * len(grams)


def worth(candidate: Candidate, asked: Asked, question: str, config: ChoiceConfig) -> tuple[float, bool | None]:
    """A span's worth (its margin, moved by its kind and by copying) and whether its kind fits."""
    fit = fits(asked, kinds_of(candidate.text, candidate.before, candidate.after), candidate.text, candidate.after)
    value = candidate.margin
    if fit is True:
        value += config.kind_bonus
    elif fit is False:
        value -= config.kind_penalty
    if config.copy_penalty and copies_question(candidate, question):
        value -= config.copy_penalty
    return value, fit


def _filled(values: list[float]) -> list[float]:
    """-inf (a passage without a span) as the lowest finite value, so that z-scores stay finite."""
    finite = [v for v in values if v != float("-inf")]
    floor = min(finite) if finite else 0.0
    return [v if v != float("-inf") else floor for v in values]


def choose(
    asked: Asked, passages: list[ReadPassage], config: ChoiceConfig, question: str = "", listed: int | None = None
) -> Decision:
    """The order of the passages read, the answer's span and its rung on the ladder. ``listed``:
    how many passages the response lists; the answer comes from one of them."""
    n = min(config.read, len(passages))
    best: list[Candidate | None] = []
    values: list[float] = []
    fit_of: list[bool | None] = []
    for p in passages[:n]:
        scored = [(worth(c, asked, question, config), c) for c in map(trimmed, p.candidates)]
        if not scored:
            best.append(None)
            values.append(float("-inf"))
            fit_of.append(None)
            continue
        # The first of equals: the reader's own order breaks ties.
        (value, fit), top = max(scored, key=lambda t: t[0][0])
        best.append(top)
        values.append(value)
        fit_of.append(fit)
    finite = [v for v in values if v != float("-inf")]
    if not finite:
        return Decision(list(range(n)), best, None, "none", None, float("-inf"), None)
    retrieval = [p.score for p in passages[:n]]
    # The list shown is ordered by the reader's own best margin in each passage (how sure it is
    # that the passage answers); the answer's passage by the spans' worth, kinds included.
    margins = [max((c.margin for c in p.candidates), default=float("-inf")) for p in passages[:n]]
    shown = blend(retrieval, _filled(margins), config.weight)
    order = sorted(range(n), key=lambda i: (-shown[i], i))
    pick = blend(retrieval, _filled(values), config.answer_weight)
    eligible = order[: listed if listed is not None else n]
    answer = max((i for i in eligible if best[i] is not None), key=lambda i: (pick[i], -i), default=None)
    if answer is None:
        return Decision(order, best, None, "none", None, float("-inf"), None)
    chosen = best[answer]
    assert chosen is not None
    sentences = [(s, e) for s, e, _ in passages[answer].sentences]
    sentence = enclosing(sentences, chosen.char_start, chosen.char_end)
    # How sure the reader is that something read answers: its best margin, kinds aside.
    margin = max(margins)
    best_sentence = max((sc for p in passages[:n] for _, _, sc in p.sentences), default=float("-inf"))
    if margin < config.none_margin or best_sentence < config.sentence_threshold:
        kind: AnswerKind = "none"
    elif chosen.margin >= config.words_margin and fit_of[answer] is not False and not copies_question(chosen, question):
        kind = "words"
    else:
        kind = "sentence"
    return Decision(order, best, answer, kind, sentence, margin, fit_of[answer])
