"""Stored vectors: int8 sentence rows close to float32, no drift across updates, mapped files."""

from __future__ import annotations

import numpy as np
import pytest

from corpus.document import Document
from index.folder.layout import PASSAGE_VECTORS_FILE
from index.build.write import build_index, update_index
from index.folder.load import load_index, resolve
from index.folder.vectors import Int8Rows, map_npy, quantize_rows
from tests.fakes import FakeEmbedder
from tests.helpers import index_config


def unit_rows(n: int, dim: int = 384, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_int8_rows_keep_cosines_within_a_few_thousandths():
    vectors, questions = unit_rows(2000), unit_rows(50, seed=1)
    rows = Int8Rows.of(vectors)
    assert rows.codes.dtype == np.int8 and rows.codes.nbytes == vectors.nbytes // 4
    error = np.abs(questions @ vectors.T - questions @ rows[:].T)
    assert error.max() < 2.5e-3 and error.mean() < 5e-4
    ids = [7, 3, 1999]
    np.testing.assert_allclose(rows[ids], vectors[ids], atol=2e-3)
    assert rows[5].shape == (384,) and rows.shape == (2000, 384) and len(rows) == 2000


def test_quantising_dequantised_rows_gives_the_same_codes():
    # Updates carry unchanged documents' vectors over through float32: they must not drift.
    codes, scales = quantize_rows(unit_rows(500))
    again, again_scales = quantize_rows(Int8Rows(codes, scales)[:])
    assert (again == codes).all()
    np.testing.assert_allclose(again_scales, scales, rtol=1e-6)


def test_a_zero_row_stays_zero_and_bad_shapes_are_refused():
    rows = Int8Rows.of(np.zeros((2, 8), np.float32))
    assert not rows[:].any()
    with pytest.raises(ValueError):
        Int8Rows(np.zeros((2, 8), np.float32), np.ones(2, np.float32))
    with pytest.raises(ValueError):
        Int8Rows(np.zeros((2, 8), np.int8), np.ones(3, np.float32))


def test_a_mapped_file_is_read_only_and_equal_to_what_was_saved(tmp_path):
    saved = unit_rows(100, dim=16)
    np.save(tmp_path / "v.npy", saved)
    mapped = map_npy(tmp_path / "v.npy")
    assert (mapped == saved).all() and not mapped.flags.writeable
    np.save(tmp_path / "empty.npy", np.zeros((0, 16), np.float32))
    assert map_npy(tmp_path / "empty.npy").shape == (0, 16)


def test_updates_over_an_approximate_index_keep_the_exact_vectors(tmp_path):
    # HNSW stores SQ8 copies; updates must rebuild from the exact float32 file, not from them.
    embedder, config = FakeEmbedder(), index_config(64, 8, exact_up_to=1)
    a = Document("a", "คณะรัฐมนตรีมีมติเห็นชอบร่างปฏิญญาว่าด้วยการพัฒนาดิจิทัล " * 6, "มติคณะรัฐมนตรี")
    b = Document("b", "ประเทศไทยได้รับ 4 รางวัล ASEAN ICT Awards 2021 ในการประชุม " * 5, "รางวัล")
    build_index([a], embedder, config, tmp_path / "idx")
    first = load_index(tmp_path / "idx", embedder)
    assert first.manifest["faiss"]["type"] == "IndexHNSWSQ"
    before = np.array(first.passage_vectors)
    sentences_before = first.sentence_vectors.codes.copy()
    for _ in range(3):  # add, remove, add again: a's vectors pass through three versions
        update_index(tmp_path / "idx", embedder, config, upsert=[b])
        update_index(tmp_path / "idx", embedder, config, remove=["b"])
    last = load_index(tmp_path / "idx", embedder)
    assert (np.asarray(last.passage_vectors) == before).all()
    assert (last.sentence_vectors.codes == sentences_before).all()
    assert np.load(resolve(tmp_path / "idx") / PASSAGE_VECTORS_FILE).dtype == np.float32


def test_candidates_read_in_two_parts_score_to_the_bit_as_one_product(_fake_index_once):
    # The retriever reads the keyword candidates' vectors while the question is being encoded,
    # and the rest after: the scores must not depend on where that split falls (BLAS computes a
    # row differently by its place in a block, so a product per part would move the last bits).

    embedder = FakeEmbedder()
    index = load_index(_fake_index_once, embedder)
    assert isinstance(index.sentence_vectors, Int8Rows)
    engine = index.engine()
    vector = embedder.embed_queries(["ไทยได้รับรางวัล ASEAN ICT Award กี่รางวัล"])
    rng = np.random.default_rng(0)
    for _ in range(30):
        ids = rng.choice(len(index.chunks), size=int(rng.integers(1, len(index.chunks))), replace=False).tolist()
        q = vector[0]
        # The formula the scores have always had: one product over all candidates' rows.
        rows = np.concatenate([list(index.chunk_sentences[c]) for c in ids]).astype(np.int64)
        sims = (index.sentence_vectors.codes[rows].astype(np.float32) @ q).astype(np.float64)
        sims *= index.sentence_vectors.scales[rows]
        cosines = (index.passage_vectors[ids] @ q).astype(np.float64)
        best, at = cosines.copy(), 0
        for i, c in enumerate(ids):
            n = len(index.chunk_sentences[c])
            if n:
                best[i] = sims[at : at + n].max()
            at += n
        want = dict(zip(ids, (0.5 * cosines + 0.5 * best).tolist()))
        split = int(rng.integers(0, len(ids) + 1))
        assert engine.dense_scores(vector, ids, 0.5) == want
        assert engine.dense_scores(vector, ids, 0.5, engine.prefetch(ids[:split])) == want
    assert engine.dense_scores(vector, [], 0.5) == {}
