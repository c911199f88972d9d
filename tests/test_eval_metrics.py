"""Each metric against values worked out by hand, including several relevant passages and ties."""

from __future__ import annotations

import math

import pytest

from eval.metrics import (
    Returned,
    evidence_recall_at,
    first_relevant_rank,
    ndcg_at,
    order,
    percentile,
    reciprocal_rank_at,
)


def ranked(*chunk_ids: int) -> list[Returned]:
    """Passages in the given order, scores strictly decreasing."""
    return [Returned(c, 1.0 - i / 100) for i, c in enumerate(chunk_ids)]


def test_hit_and_reciprocal_rank_use_the_first_relevant_passage():
    r = ranked(7, 3, 9, 4)
    assert first_relevant_rank(r, {9, 4}) == 3
    assert [first_relevant_rank(r[:k], {9, 4}) is not None for k in (1, 2, 3, 10)] == [False, False, True, True]
    assert reciprocal_rank_at(r, {9, 4}, 10) == pytest.approx(1 / 3)
    assert reciprocal_rank_at(r, {9, 4}, 2) == 0.0, "a relevant passage below the cut-off earns nothing"
    assert reciprocal_rank_at(r, set(), 10) == 0.0


def test_ndcg_with_one_relevant_passage():
    # Relevant at rank 2: DCG = 1/log2(3) = 0.6309; ideal = 1/log2(2) = 1.
    assert ndcg_at(ranked(1, 2, 3), {2}, 10) == pytest.approx(0.630930, abs=1e-6)


def test_ndcg_with_several_relevant_passages_counts_the_ideal_over_all_of_them():
    # Relevant {2, 5, 8}; returned 2 at rank 1 and 5 at rank 3; 8 is never returned.
    # DCG  = 1/log2(2) + 1/log2(4)            = 1 + 0.5           = 1.5
    # IDCG = 1/log2(2) + 1/log2(3) + 1/log2(4) = 1 + 0.63093 + 0.5 = 2.13093
    # nDCG = 0.703918. Frameworks that build the ideal only from the returned relevant passages
    # (IDCG = 1 + 0.63093) report 0.920 here.
    assert ndcg_at(ranked(2, 9, 5, 4), {2, 5, 8}, 10) == pytest.approx(1.5 / 2.130930, abs=1e-6)


def test_ndcg_ideal_is_capped_at_k():
    # 12 relevant passages, all 10 returned ones relevant: perfect at k = 10.
    assert ndcg_at(ranked(*range(10)), set(range(12)), 10) == pytest.approx(1.0)
    assert ndcg_at(ranked(20, 21), {1}, 10) == 0.0
    assert ndcg_at(ranked(1), set(), 10) == 0.0


def test_evidence_recall_counts_pieces_of_evidence_found():
    # Two pieces of evidence: the first covered by chunks {1, 2}, the second by {7}.
    covers = [{1, 2}, {7}]
    assert evidence_recall_at(ranked(2, 5, 7), covers, 2) == 0.5
    assert evidence_recall_at(ranked(2, 5, 7), covers, 3) == 1.0
    assert evidence_recall_at(ranked(5), covers, 10) == 0.0
    assert evidence_recall_at(ranked(5), [], 10) == 0.0


def test_ties_are_broken_by_chunk_id_whatever_order_the_index_returns():
    a = [Returned(8, 0.9), Returned(3, 0.9), Returned(5, 0.8)]
    b = [Returned(3, 0.9), Returned(8, 0.9), Returned(5, 0.8)]
    assert order(a) == order(b) == [Returned(3, 0.9), Returned(8, 0.9), Returned(5, 0.8)]
    # With relevant {8}, the tie puts it second in both cases: MRR 0.5, not 1 or 0.5 by luck.
    assert reciprocal_rank_at(order(a), {8}, 10) == reciprocal_rank_at(order(b), {8}, 10) == 0.5


def test_percentiles_interpolate_linearly():
    values = [10, 20, 30, 40]
    assert percentile(values, 50) == 25
    assert percentile(values, 95) == pytest.approx(38.5)
    assert percentile([5], 95) == 5
    assert math.isnan(percentile([], 50))
