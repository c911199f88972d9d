"""What the documents fail to answer, from the question log (service.question_log): the questions
that got no answer or a "not helpful", with their near-duplicates grouped, counted and ranked;
the questions asked most; and the share answered, day by day.

Near-duplicates are found by their words, not their characters: a Thai question is segmented
(PyThaiNLP, the keyword search's tokenizer: stopwords out, one normaliser) and two questions are
one group when their word sets overlap by ``SAME_QUESTION`` (Jaccard) or more. Each question joins
the first group whose first question it is that close to; the groups are then ranked by size.
The work is bounded by ``MAX_QUESTIONS``: the newest are kept.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from corpus.filters import bound

SAME_QUESTION = 0.6
MAX_QUESTIONS = 20_000
CANDIDATES = 200  # groups a question is compared with (those sharing a word with it, oldest first)
EXAMPLES = 5


@dataclass
class Group:
    question: str  # the first (oldest) question of the group, as asked (masked)
    words: frozenset
    count: int = 0
    no_answer: int = 0
    not_helpful: int = 0
    examples: list[str] = field(default_factory=list)
    last_asked: float = 0.0

    def as_dict(self) -> dict:
        return {
            "question": self.question,
            "count": self.count,
            "no_answer": self.no_answer,
            "not_helpful": self.not_helpful,
            "examples": self.examples,
            "last_asked": _iso(self.last_asked),
        }


DEFAULT_DAYS = 30


@lru_cache(maxsize=1)
def question_words():
    """The keyword search's tokenizer (loaded at the first report, not at import)."""
    from index.folder.keyword import Tokenizer

    return Tokenizer()


def report_range(since: str | None, until: str | None, now: float | None = None) -> tuple[float, float]:
    """Epoch seconds from the first day of ``since`` to the end of ``until`` (dates in either era,
    corpus.filters.bound); default: the last ``DEFAULT_DAYS`` days. FilterError for a bad date."""
    now = time.time() if now is None else now
    start = (
        datetime.combine(bound(since, False), datetime.min.time(), UTC).timestamp()
        if since
        else now - DEFAULT_DAYS * 86_400
    )
    end = (
        (datetime.combine(bound(until, True), datetime.min.time(), UTC) + timedelta(days=1)).timestamp()
        if until
        else float("inf")
    )
    return start, end


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds")


def _jaccard(a: frozenset, b: frozenset) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def group_questions(rows: list[dict], words_of) -> list[Group]:
    """``rows`` (the log's, oldest first) in near-duplicate groups, largest first. A question is
    compared only with the groups that share a word with it (at most ``CANDIDATES`` of them), so
    the work grows with the questions, not with their square."""
    groups: list[Group] = []
    seen: dict[frozenset, Group] = {}
    having: dict[str, list[int]] = {}  # word -> the groups whose first question has it
    for row in rows[-MAX_QUESTIONS:]:
        words = frozenset(words_of(row["question"]))
        group = seen.get(words)
        if group is None:
            near = sorted({i for w in words for i in having.get(w, ())})[:CANDIDATES]
            group = next((groups[i] for i in near if _jaccard(words, groups[i].words) >= SAME_QUESTION), None)
        if group is None:
            group = Group(row["question"], words)
            for w in words:
                having.setdefault(w, []).append(len(groups))
            groups.append(group)
        seen.setdefault(words, group)
        group.count += 1
        group.no_answer += bool(row["no_answer"])
        group.not_helpful += row.get("helpful") is False
        group.last_asked = max(group.last_asked, row["asked_at"])
        if row["question"] not in group.examples and len(group.examples) < EXAMPLES:
            group.examples.append(row["question"])
    return sorted(groups, key=lambda g: (-g.count, -g.last_asked))


def report(rows: list[dict], words_of, top: int = 20) -> dict:
    """The content-gap report of one collection's ``rows`` (the log's, oldest first)."""
    # Each wording segmented once: the gaps are grouped, then all the questions again.
    words_of = lru_cache(maxsize=None)(words_of)
    gaps = [r for r in rows if r["no_answer"] or r.get("helpful") is False]
    days: dict[str, Counter] = {}
    askers: dict[str, set] = {}
    for r in rows:
        day = _iso(r["asked_at"])[:10]
        count = days.setdefault(day, Counter())
        count["asked"] += 1
        count["answered"] += not r["no_answer"]
        count["helpful"] += r.get("helpful") is True
        count["not_helpful"] += r.get("helpful") is False
        if r.get("asker"):
            askers.setdefault(day, set()).add(r["asker"])
    return {
        "questions": len(rows),
        "answered_share": round(sum(not r["no_answer"] for r in rows) / len(rows), 4) if rows else None,
        "gaps": [g.as_dict() for g in group_questions(gaps, words_of)[:top]],
        "top_questions": [g.as_dict() for g in group_questions(rows, words_of)[:top]],
        "by_day": [
            {
                "day": day,
                "asked": c["asked"],
                "answered_share": round(c["answered"] / c["asked"], 4),
                "helpful": c["helpful"],
                "not_helpful": c["not_helpful"],
                "askers": len(askers.get(day, ())),
            }
            for day, c in sorted(days.items())
        ],
    }
