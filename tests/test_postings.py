"""The compiled BM25 top k: the same sums and the same order as adding every posting in numpy."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from index.folder import postings
from service.settings import PROJECT_ROOT


def _csc(rng, num_docs: int, num_words: int, per_word: int, levels: int):
    """Random postings whose shares take few values, so that many passages tie."""
    indptr, indices, data = [0], [], []
    for _ in range(num_words):
        docs = rng.choice(num_docs, size=rng.integers(0, per_word + 1), replace=False)
        indices.extend(docs.tolist())
        data.extend((rng.integers(1, levels + 1, size=len(docs)) / levels).tolist())
        indptr.append(len(indices))
    return np.array(data, np.float32), np.array(indices, np.int32), np.array(indptr, np.int64)


def _reference(data, indices, indptr, columns, num_docs, k):
    scores = np.zeros(num_docs, dtype=np.float32)
    for c in columns:  # word by word, as index.folder.keyword did with numpy
        scores[indices[indptr[c] : indptr[c + 1]]] += data[indptr[c] : indptr[c + 1]]
    order = np.lexsort((np.arange(num_docs), -scores))  # best first, lower id first among equals
    order = order[scores[order] > 0][:k]
    return order, scores[order]


@pytest.mark.parametrize("seed", range(20))
def test_top_k_has_the_same_ids_scores_and_tie_order_as_full_sums(seed):
    rng = np.random.default_rng(seed)
    num_docs = int(rng.integers(1, 3000))
    data, indices, indptr = _csc(rng, num_docs, 30, min(num_docs, 400), levels=int(rng.integers(1, 5)))
    columns = rng.integers(0, 30, size=int(rng.integers(1, 8)))  # repeated words count again
    k = int(rng.integers(1, 150))
    ids, scores = postings.Postings(data, indices, indptr, num_docs).top_k(columns, k)
    want_ids, want_scores = _reference(data, indices, indptr, columns, num_docs, k)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_array_equal(scores, want_scores)  # bit for bit: the same float32 additions


@pytest.mark.parametrize("seed", range(10))
def test_a_filtered_top_k_is_the_full_sums_best_among_the_allowed_passages(seed):
    rng = np.random.default_rng(100 + seed)
    num_docs = int(rng.integers(1, 3000))
    data, indices, indptr = _csc(rng, num_docs, 30, min(num_docs, 400), levels=int(rng.integers(1, 5)))
    columns = rng.integers(0, 30, size=int(rng.integers(1, 8)))
    k = int(rng.integers(1, 150))
    allowed = rng.random(num_docs) < rng.choice([0.01, 0.5, 0.99])
    allowed.flags.writeable = False  # as the filter's shared mask is
    ids, scores = postings.Postings(data, indices, indptr, num_docs).top_k(columns, k, allowed)
    all_ids, all_scores = _reference(data, indices, indptr, columns, num_docs, num_docs)
    keep = allowed[all_ids]
    np.testing.assert_array_equal(ids, all_ids[keep][:k])
    np.testing.assert_array_equal(scores, all_scores[keep][:k])
    assert postings.Postings(data, indices, indptr, num_docs).top_k(columns, k, np.zeros(num_docs, bool))[0].size == 0


def test_fewer_matching_passages_than_k_gives_only_those():
    data, indices, indptr = np.array([0.5, 0.5], np.float32), np.array([7, 3], np.int32), np.array([0, 2, 2])
    table = postings.Postings(data, indices, indptr, 10)
    ids, scores = table.top_k(np.array([0, 1]), 100)
    assert ids.tolist() == [3, 7] and scores.tolist() == [0.5, 0.5]
    assert table.top_k(np.array([1]), 5)[0].tolist() == []
    assert table.top_k(np.array([0]), 0)[0].tolist() == []


def test_a_score_buffer_used_again_starts_from_zero():
    # Buffers are kept between questions: a second question must not add to the first's sums.
    rng = np.random.default_rng(1)
    data, indices, indptr = _csc(rng, 800, 12, 300, levels=3)
    table = postings.Postings(data, indices, indptr, 800)
    for columns in ([0, 1, 2], [3], [0, 1, 2], [5, 5, 7]):
        ids, scores = table.top_k(np.array(columns), 50)
        want_ids, want_scores = _reference(data, indices, indptr, columns, 800, 50)
        np.testing.assert_array_equal(ids, want_ids)
        np.testing.assert_array_equal(scores, want_scores)


def test_memory_mapped_postings_are_read_in_place(tmp_path):
    rng = np.random.default_rng(0)
    arrays = _csc(rng, 500, 10, 100, levels=3)
    mapped = []
    for name, array in zip(("data", "indices", "indptr"), arrays):
        np.save(tmp_path / f"{name}.npy", array)
        mapped.append(np.load(tmp_path / f"{name}.npy", mmap_mode="r"))
    columns = np.array([1, 4, 4])
    got = postings.Postings(*mapped, 500).top_k(columns, 20)
    want = postings.Postings(*arrays, 500).top_k(columns, 20)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_warm_up_compiles_what_a_loaded_index_searches_so_the_first_question_does_not(tmp_path):
    # In a fresh interpreter: compiled signatures are per process, and other tests add some.
    script = f"""
from index.folder import postings
from index.folder.keyword import KeywordIndex
index = KeywordIndex.build(["ไทยได้รับรางวัล ASEAN ICT Award", "การประชุมรัฐมนตรีอาเซียนด้านดิจิทัล"])
index.save({str(tmp_path / "kw")!r})
loaded = KeywordIndex.load({str(tmp_path / "kw")!r})  # warms up
compiled = len(postings._top_k.signatures)
assert loaded.search("รางวัล ICT", 2)[0][0] == 0
assert len(postings._top_k.signatures) == compiled, postings._top_k.signatures
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-1500:]


def test_k_beyond_the_passages_gives_every_matching_passage():
    data, indices, indptr = np.array([1.0, 2.0], np.float32), np.array([0, 1], np.int32), np.array([0, 2])
    ids, scores = postings.Postings(data, indices, indptr, 2).top_k([0], 10**9)
    assert ids.tolist() == [1, 0] and scores.tolist() == [2.0, 1.0]
