"""The answering sentence, the no-answer flag and near-duplicate passages (fake embedder)."""

from __future__ import annotations

import pytest

from index.folder.load import load_index
from index.search.retriever import Retriever
from tests.helpers import make_retriever

QUESTION = "ไทยได้รับรางวัล ASEAN ICT Award กี่รางวัล"


@pytest.fixture
def retriever(fake_index, fake_embedder) -> Retriever:
    return make_retriever(fake_embedder, load_index(fake_index, fake_embedder), answer_threshold=0.0)


def test_each_passage_highlights_one_of_its_own_sentences(retriever):
    index = retriever.index
    for hit in retriever.search(QUESTION, top_k=5).passages:
        h = hit.highlight
        assert hit.passage.char_start <= h.char_start < h.char_end <= hit.passage.char_end
        sentence_bounds = [
            (
                max(index.sentences[i].char_start, hit.passage.char_start),
                min(index.sentences[i].char_end, hit.passage.char_end),
            )
            for i in index.chunk_sentences[hit.passage.id]
        ]
        assert (h.char_start, h.char_end) in sentence_bounds


def test_the_answer_is_the_best_highlighted_sentence(retriever):
    answer = retriever.search(QUESTION, top_k=5)
    assert answer.best is not None
    assert answer.best.highlight.score == max(h.highlight.score for h in answer.passages) == answer.confidence
    text = answer.best.document.text[answer.best.highlight.char_start : answer.best.highlight.char_end]
    assert "ASEAN ICT Award" in text


def test_nothing_above_the_threshold_means_no_answer(fake_index, fake_embedder):
    strict = make_retriever(fake_embedder, load_index(fake_index, fake_embedder), answer_threshold=1.9)
    answer = strict.search(QUESTION, top_k=3)
    assert answer.best is None and 0 < answer.confidence < 1.9
    assert len(answer.passages) == 3, "the passages are still returned"


@pytest.mark.parametrize(("threshold", "answered"), [(0.0, True), (1.9, False)])
def test_api_gives_the_answer_sentence_with_its_citation_or_says_none(make_client, threshold, answered):
    client = make_client(answer_threshold=threshold)
    body = client.post("/v1/ask", json={"question": QUESTION, "top_k": 3}).json()
    assert body["no_answer"] is not answered
    for p in body["passages"]:
        doc = client.get(f"/v1/documents/{p['citation']['doc_id']}").json()["text"]
        assert doc[p["highlight"]["char_start"] : p["highlight"]["char_end"]] == p["highlight"]["text"]
    if answered:
        answer = body["answer"]
        c = answer["citation"]
        doc = client.get(f"/v1/documents/{c['doc_id']}").json()["text"]
        # Not read: the answer is the sentence, inside its passage, whose citation it carries.
        assert doc[answer["char_start"] : answer["char_end"]] == answer["text"] == answer["sentence"]["text"]
        assert c["char_start"] <= answer["char_start"] < answer["char_end"] <= c["char_end"]
        passage = body["passages"][answer["passage_rank"] - 1]
        assert answer["text"] == passage["highlight"]["text"] and passage["citation"] == c
        assert body["read"] is False
    else:
        assert body["answer"] is None and body["confidence"] < threshold
