"""Keyword search over Thai words: segmentation, BM25 and its compiled top k, titles, expansion."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corpus.document import Document
from index.folder.keyword import KeywordIndex, Tokenizer, match_form
from index.search.retriever import Retriever
from index.store.manifest import IndexLoadError
from index.build.write import build_index
from index.folder.load import load_index, resolve
from service.settings import BUNDLED_ABBREVIATIONS
from tests.fakes import FakeEmbedder
from tests.helpers import index_config, make_retriever


@given(st.text())
def test_matching_form_keeps_every_offset(text):
    assert len(match_form(text)) == len(text)


def test_matching_form_unifies_digits_case_and_spaces():
    assert match_form("พ.ศ. ๒๕๖๒ ASEAN\u00a0ICT") == "พ.ศ. 2562 asean ict"


def test_tokenizer_gives_thai_words_not_fragments_and_drops_stopwords():
    words = Tokenizer()("คณะรัฐมนตรีมีมติรับทราบผลการประชุม ASEAN ICT Award และ ๒๕๖๔")
    assert words[:4] == ["คณะรัฐมนตรี", "มีมติ", "รับทราบ", "การประชุม"]
    assert "asean" in words
    assert "2564" in words, "Thai digits match Arabic ones"
    assert "และ" not in words, "Thai stopword"
    assert not any(w.startswith(("ั", "ิ", "่", "้")) for w in words), "no word starts with a vowel or tone mark"


def test_punctuation_is_not_part_of_a_word():
    assert Tokenizer()('"ตอร์" (ดศ.), ICT!') == ["ตอร์", "ด", "ศ", "ict"]


def test_keyword_index_ranks_by_shared_words_and_ignores_unknown_ones():
    texts = ["การประชุมรัฐมนตรีอาเซียนด้านดิจิทัล", "ไทยได้รับรางวัล ASEAN ICT Award", "ศูนย์ต่อต้านการทุจริต"]
    index = KeywordIndex.build(texts)
    assert [i for i, _ in index.search("รางวัล ICT", 3)] == [1]
    assert index.search("ทุจริต xyzzy", 3)[0][0] == 2
    assert index.search("คำที่ไม่มี qwerty", 3) == []


def test_keyword_index_survives_save_and_load(tmp_path):
    index = KeywordIndex.build(["ไทยได้รับรางวัล", "ประชุมทางไกล"])
    index.save(tmp_path / "kw")
    assert KeywordIndex.load(tmp_path / "kw").search("ประชุม", 2) == index.search("ประชุม", 2)


def test_keyword_scores_are_bm25s_own_sums_repeated_words_included(bundled_documents):
    import numpy as np

    texts = [d.text[i : i + 600] for d in bundled_documents for i in range(0, len(d.text), 500)]
    index = KeywordIndex.build(texts)
    for question in ("ไทยได้รับรางวัล ASEAN ICT Award กี่รางวัล", "ประชุม ประชุม ดิจิทัล อาเซียน", "ศูนย์ต่อต้านการทุจริต"):
        words = [w for w in index.tokenize(question) if w in index.bm25.vocab_dict]
        scores = index.numpy_scores(words)
        np.testing.assert_allclose(scores, index.bm25.get_scores(words), rtol=1e-6)
        # search (compiled, index.folder.postings) chooses exactly the best of these sums.
        best = [i for i in np.lexsort((np.arange(len(scores)), -scores)) if scores[i] > 0][:5]
        assert index.search(question, 5) == [(int(i), float(scores[i])) for i in best]
        assert index.search(question, 5) == index.search(question, 5, index.tokenize(question))
    assert index.search("ดิจิทัล", 0) == []


def test_a_damaged_keyword_file_is_refused(tmp_path, bundled_documents):
    embedder = FakeEmbedder()
    build_index(bundled_documents[:1], embedder, index_config(), tmp_path / "idx")
    vocab = resolve(tmp_path / "idx") / "keyword" / "vocab.index.json"
    vocab.write_text(vocab.read_text("utf-8").replace("ประชุม", "ประชม", 1), "utf-8")
    with pytest.raises(IndexLoadError, match="keyword/vocab.index.json does not match its checksum"):
        load_index(tmp_path / "idx", embedder)


def retriever_over(tmp_path, documents, **options) -> Retriever:
    """A retriever (fake embedder) over a few documents made up for one test."""
    embedder = FakeEmbedder()
    build_index(documents, embedder, index_config(), tmp_path / "idx")
    return make_retriever(embedder, load_index(tmp_path / "idx", embedder), **options)


def test_an_abbreviation_finds_the_passage_that_spells_it_out(tmp_path):
    docs = [
        Document("cabinet", "คณะรัฐมนตรีมีมติเห็นชอบร่างปฏิญญา", "มติ"),
        Document("other", "การประชุมเจ้าหน้าที่อาวุโสด้านโทรคมนาคม", "อื่น"),
    ]
    retriever = retriever_over(tmp_path, docs, expansion_file=BUNDLED_ABBREVIATIONS)
    assert retriever.search("ครม.", top_k=1, mode="keyword", expand=False).passages == []
    (hit,) = retriever.search("ครม.", top_k=1, mode="keyword").passages
    assert hit.document.doc_id == "cabinet"


def test_a_passage_is_found_by_its_document_title(tmp_path):
    docs = [
        Document("centre", "มีหน้าที่รับเรื่องร้องเรียนและประสานงานกับหน่วยงานอื่น", "ศูนย์ปฏิบัติการต่อต้านการทุจริต"),
        Document("award", "ไทยได้รับ 4 รางวัล ASEAN ICT Award", "รางวัล"),
    ]
    (hit,) = retriever_over(tmp_path, docs).search("ศูนย์ต่อต้านการทุจริต", top_k=1, mode="keyword").passages
    assert hit.document.doc_id == "centre"
    assert hit.passage.text == docs[0].text, "the stored passage and its citation do not include the title"


def test_asking_for_no_results_returns_none(bundled_documents):
    from index.folder.keyword import KeywordIndex

    index = KeywordIndex.build([d.text for d in bundled_documents])
    assert index.search("ASEAN Digital Hub", 0) == [] and index.search("ASEAN Digital Hub", 3)


def test_a_bm25_plus_index_ranks_by_bm25s_own_scores(bundled_documents):
    # BM25L and BM25+ add a share for absent words, so they keep bm25s's own sums (numpy), not
    # the compiled postings sum: the ranking must still be bm25s's, best first, lower id on ties.
    import bm25s
    import numpy as np

    from index.folder.keyword import Tokenizer

    tokenizer = Tokenizer()
    texts = [d.text[i : i + 600] for d in bundled_documents for i in range(0, len(d.text), 500)]
    bm25 = bm25s.BM25(method="bm25+")
    bm25.index([tokenizer(t) or [""] for t in texts], show_progress=False)
    index = KeywordIndex(bm25, tokenizer)
    words = [w for w in tokenizer("ประชุมรัฐมนตรีอาเซียนด้านดิจิทัล") if w in bm25.vocab_dict]
    scores = bm25.get_scores(words)
    best = [i for i in np.lexsort((np.arange(len(scores)), -scores)) if scores[i] > 0][:7]
    assert index.search("ประชุมรัฐมนตรีอาเซียนด้านดิจิทัล", 7) == [(int(i), float(scores[i])) for i in best]
