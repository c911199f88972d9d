"""Ranking metrics over one question's returned passages, and their aggregation.

A question has a set of *relevant* passages (every indexed chunk that covers an evidence span) and
a ranked list of *returned* passages. Gains are binary. nDCG's ideal DCG is computed over all
relevant passages, not only the returned ones (the mistake two well-known frameworks made, which
inflates nDCG when a system returns few relevant passages).

Ties in score are broken by chunk id, so a result never depends on the order in which the index
happened to return equal scores.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Returned:
    chunk_id: int
    score: float


def order(returned: Iterable[Returned]) -> list[Returned]:
    """Best first; equal scores in chunk-id order."""
    return sorted(returned, key=lambda r: (-r.score, r.chunk_id))


def first_relevant_rank(ranked: Sequence[Returned], relevant: set[int]) -> int | None:
    for rank, r in enumerate(ranked, start=1):
        if r.chunk_id in relevant:
            return rank
    return None


def reciprocal_rank_at(ranked: Sequence[Returned], relevant: set[int], k: int) -> float:
    rank = first_relevant_rank(ranked[:k], relevant)
    return 1.0 / rank if rank is not None else 0.0


def ndcg_at(ranked: Sequence[Returned], relevant: set[int], k: int) -> float:
    """Binary-gain nDCG@k; the ideal ranking puts min(|relevant|, k) relevant passages first."""
    if not relevant:
        return 0.0
    dcg = sum(1.0 / math.log2(rank + 1) for rank, r in enumerate(ranked[:k], start=1) if r.chunk_id in relevant)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(relevant), k) + 1))
    return dcg / ideal


def evidence_recall_at(ranked: Sequence[Returned], covers: Sequence[set[int]], k: int) -> float:
    """Share of the evidence pieces (each given as the set of chunks covering it) found in the top k."""
    if not covers:
        return 0.0
    top = {r.chunk_id for r in ranked[:k]}
    return sum(1.0 for chunks in covers if chunks & top) / len(covers)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (as numpy's default), q in [0, 100]."""
    if not values:
        return float("nan")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else float("nan")


def _chars(text: str) -> str:
    return "".join(text.split())


def exact_match(answer: str, gold: str) -> bool:
    """Equal once whitespace is removed (Thai has no spaces between words; a space is formatting)."""
    return _chars(answer) == _chars(gold)


def char_f1(answer: str, gold: str) -> float:
    """F1 over the characters both share (as multisets), whitespace removed: SQuAD's token F1 with
    characters for tokens, since Thai words are not separated."""
    a, g = _chars(answer), _chars(gold)
    if not a or not g:
        return float(a == g)
    counts: dict[str, int] = {}
    for ch in g:
        counts[ch] = counts.get(ch, 0) + 1
    common = 0
    for ch in a:
        if counts.get(ch, 0) > 0:
            counts[ch] -= 1
            common += 1
    if common == 0:
        return 0.0
    precision, recall = common / len(a), common / len(g)
    return 2 * precision * recall / (precision + recall)
