"""Search: every mode, reciprocal rank fusion, and near-duplicate passages (fake embedder)."""

from __future__ import annotations

import pytest

from corpus.document import Document
from index.folder.load import load_index
from index.search.candidates import fuse
from index.build.write import build_index
from tests.fakes import FakeEmbedder
from tests.helpers import index_config, make_retriever


def test_reciprocal_rank_fusion_rewards_agreement():
    # Chunk 2 is second in both lists: 2/(60+2) beats 1/(60+1) for chunks first in only one.
    fused = fuse([[(1, 0.9), (2, 0.8)], [(3, 12.0), (2, 9.0)]], k=60)
    assert fused[0][0] == 2
    assert fused[0][1] == pytest.approx(2 / 62)
    assert [c for c, _ in fused[1:]] == [1, 3], "ties keep the lower chunk id first"


@pytest.fixture(scope="module")
def retriever(_fake_index_once):
    """The bundled corpus's fake index, built once for the session: these tests only read it."""
    embedder = FakeEmbedder()
    return make_retriever(embedder, load_index(_fake_index_once, embedder))


@pytest.mark.parametrize("mode", ["dense", "keyword", "hybrid"])
def test_every_mode_returns_cited_passages(retriever, mode):
    hits = retriever.search("ASEAN ICT Award ไทยได้รับกี่รางวัล", top_k=3, mode=mode).passages
    assert 1 <= len(hits) <= 3
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    for hit in hits:
        assert hit.document.text[hit.passage.char_start : hit.passage.char_end] == hit.passage.text
    assert hits[0].document.doc_id == "adgmin-2-results-2022"


def test_keyword_mode_matches_thai_digits_with_arabic_ones(retriever):
    # The document writes ๒๒ มกราคม ๒๕๖๔; the question uses Arabic digits.
    (hit,) = retriever.search("นายเนวินธุ์ 22 มกราคม 2564", top_k=1, mode="keyword").passages
    assert hit.document.doc_id == "adgmin-1-dialogue-partners-2021"


def test_unknown_mode_is_refused(retriever):
    with pytest.raises(ValueError, match="unknown search mode"):
        retriever.search("ครม.", top_k=1, mode="fuzzy")


def _duplicated_corpus(tmp_path, embedder):
    award = "ประเทศไทยได้รับรางวัล ASEAN ICT Award จำนวน 4 รางวัล ในปี 2564"
    docs = [
        Document("news", award, "ข่าว"),
        Document("news-copy", award + " ", "ข่าว"),  # the same passage republished
        Document("meeting", "ที่ประชุมรับทราบผลการมอบรางวัล ASEAN ICT Award", "ประชุม"),
    ]
    build_index(docs, embedder, index_config(), tmp_path / "idx")
    return load_index(tmp_path / "idx", embedder)


def test_the_same_passage_in_two_documents_fills_one_rank_not_two(tmp_path, fake_embedder):
    index = _duplicated_corpus(tmp_path, fake_embedder)
    hits = make_retriever(fake_embedder, index).search("รางวัล ASEAN ICT Award", top_k=2).passages
    assert {h.document.doc_id for h in hits} in ({"news", "meeting"}, {"news-copy", "meeting"})
    undeduplicated = make_retriever(fake_embedder, index, dedup=False).search("รางวัล ASEAN ICT Award", top_k=2).passages
    assert {h.document.doc_id for h in undeduplicated} == {"news", "news-copy"}
