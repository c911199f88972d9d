"""Reading the top passages (a fake reader here; the real one is in test_reader_model.py): the
answer is the reader's span with exact offsets, the passages are reordered, no_answer follows the
reader's margin, and `read: false` gives the answer sentence as before."""

from __future__ import annotations

import numpy as np
import pytest

from index.folder.load import load_index
from index.reader.features import Encoded, ReaderTokenizer, Rows, best_spans, span_candidates, token_span
from index.search.reading import blend, enclosing, zscores
from tests.fakes import FakeReader
from tests.helpers import search_config

QUESTION = "ไทยได้รับรางวัล ASEAN ICT Award กี่รางวัล"
ANSWER = "4 รางวัล"


def test_the_answer_is_the_readers_exact_words_inside_their_sentence_and_passage(make_client):
    reader = FakeReader([ANSWER])
    client = make_client(reader=reader, answer_threshold=-1.0)
    body = client.post("/v1/ask", json={"question": QUESTION, "top_k": 3}).json()
    assert body["read"] is True and body["no_answer"] is False
    answer = body["answer"]
    doc = client.get(f"/v1/documents/{answer['citation']['doc_id']}").json()["text"]
    assert answer["text"] == ANSWER == doc[answer["char_start"] : answer["char_end"]]
    sentence = answer["sentence"]
    assert sentence["text"] == doc[sentence["char_start"] : sentence["char_end"]]
    assert sentence["char_start"] <= answer["char_start"] < answer["char_end"] <= sentence["char_end"]
    assert sentence["text"] != ANSWER, "the sentence around the words, not the words again"
    c = answer["citation"]
    assert c["char_start"] <= sentence["char_start"] and sentence["char_end"] <= c["char_end"]
    # The passage that holds the words comes first, and its highlight marks them.
    first = body["passages"][0]
    assert answer["passage_rank"] == 1 and first["citation"] == c
    assert first["highlight"]["span"]["text"] == ANSWER
    assert first["highlight"]["text"] == sentence["text"]
    assert first["reader_score"] == pytest.approx(5.0)
    # The reader read the question once, with the configured number of passages.
    assert len(reader.calls) == 1 and len(reader.calls[0][1]) == 3


def test_the_readers_order_moves_the_answering_passage_up(fake_index, fake_embedder):
    from index.search.retriever import Retriever

    index = load_index(fake_index, fake_embedder)
    plain = Retriever(fake_embedder, index, search_config())
    before = plain.search(QUESTION, top_k=5, read=False).passages
    # A phrase of the third passage only: the reader prefers it, so it comes first.
    third = before[2]
    words = third.passage.text.strip()[:30]
    assert words not in before[0].passage.text and words not in before[1].passage.text
    reader = FakeReader([words])
    read = Retriever(fake_embedder, index, search_config(read_candidates=3, read_weight=0.9), reader=reader)
    after = read.search(QUESTION, top_k=5)
    assert after.read and after.passages[0].passage.id == third.passage.id
    assert [h.rank for h in after.passages] == [1, 2, 3, 4, 5]
    # Passages below those read keep their order.
    assert [h.passage.id for h in after.passages[3:]] == [h.passage.id for h in before[3:]]
    # With weight 0 the order is retrieval's.
    neutral = Retriever(fake_embedder, index, search_config(read_candidates=3, read_weight=0.0), reader=reader)
    assert [h.passage.id for h in neutral.search(QUESTION, top_k=5).passages] == [h.passage.id for h in before]


def test_the_reader_reads_its_candidates_even_when_fewer_passages_are_asked_for(fake_index, fake_embedder):
    from index.search.retriever import Retriever

    reader = FakeReader([ANSWER])
    r = Retriever(fake_embedder, load_index(fake_index, fake_embedder), search_config(read_candidates=4), reader=reader)
    result = r.search(QUESTION, top_k=1)
    assert len(result.passages) == 1 and len(reader.calls[0][1]) == 4


@pytest.mark.parametrize(("margin", "answered"), [(0.0, True), (6.0, False)])
def test_no_answer_follows_the_readers_margin(make_client, margin, answered):
    client = make_client(reader=FakeReader([ANSWER]), no_answer_margin=margin, answer_threshold=-1.0)
    body = client.post("/v1/ask", json={"question": QUESTION}).json()
    assert body["no_answer"] is not answered and body["confidence"] == pytest.approx(5.0)
    assert (body["answer"] is not None) is answered
    assert body["passages"], "the passages are returned either way"


def test_a_read_answer_needs_a_close_enough_sentence_too(make_client):
    # The reader is sure (+5), but no sentence reaches the sentence threshold: off-topic.
    client = make_client(reader=FakeReader([ANSWER]), no_answer_margin=0.0, answer_threshold=1.9)
    body = client.post("/v1/ask", json={"question": QUESTION}).json()
    assert body["no_answer"] is True and body["answer"] is None and body["confidence"] == pytest.approx(5.0)


def test_a_question_no_window_answers_is_flagged(make_client):
    body = (
        make_client(reader=FakeReader(["ไม่มีในเอกสารใดเลย"]), no_answer_margin=0.0)
        .post("/v1/ask", json={"question": QUESTION})
        .json()
    )
    assert body["no_answer"] is True and body["answer"] is None and body["confidence"] == pytest.approx(-5.0)


def test_read_false_gives_the_answer_sentence_without_reading(make_client):
    reader = FakeReader([ANSWER])
    client = make_client(reader=reader, answer_threshold=0.0)
    body = client.post("/v1/ask", json={"question": QUESTION, "read": False}).json()
    assert body["read"] is False and reader.calls == []
    answer = body["answer"]
    assert answer["text"] == answer["sentence"]["text"]
    assert all(p["reader_score"] is None and p["highlight"]["span"] is None for p in body["passages"])


def test_with_the_reader_turned_off_a_request_to_read_is_answered_unread(make_client):
    body = make_client(answer_threshold=0.0).post("/v1/ask", json={"question": QUESTION, "read": True}).json()
    assert body["read"] is False and body["answer"] is not None


def test_read_must_be_a_boolean(make_client):
    response = make_client().post("/v1/ask", json={"question": QUESTION, "read": "yes"})
    assert response.status_code == 422 and "read" in response.json()["message"]


# The pieces


def _rows(n_context: int, start: int = 3) -> Rows:
    offsets = np.array([[i * 2, i * 2 + 2] for i in range(n_context)], dtype=np.int64)
    length = start + n_context + 1
    return Rows(np.zeros((1, length), np.int64), np.ones((1, length), np.int64), np.array([start]), [offsets])


def test_the_best_span_is_the_highest_start_plus_end_within_the_length_limit():
    rows = _rows(6)
    start = np.full((1, 10), -10.0)
    end = np.full((1, 10), -10.0)
    start[0, 3 + 1], end[0, 3 + 2] = 4.0, 3.0  # tokens 1..2: chars 2..6
    start[0, 0], end[0, 0] = 1.0, 1.0  # "no answer": 2
    (span,) = best_spans(rows, start, end, max_answer_tokens=5)
    assert (span.char_start, span.char_end, span.score, span.null) == (2, 6, 7.0, 2.0)
    assert span.margin == 5.0
    # An end too far from its start is not allowed: the best allowed pair wins instead.
    end[0, 3 + 2], end[0, 3 + 5] = -10.0, 9.0
    (span,) = best_spans(rows, start, end, max_answer_tokens=2)
    assert (span.char_start, span.char_end) != (2, 12)
    (span,) = best_spans(rows, start, end, max_answer_tokens=5)
    assert (span.char_start, span.char_end) == (2, 12)


def test_a_span_is_trimmed_of_the_spaces_its_tokens_carry():
    rows = _rows(3)
    start, end = np.zeros((1, 7)), np.zeros((1, 7))
    start[0, 3], end[0, 4] = 5.0, 5.0
    (span,) = best_spans(rows, start, end, 5, texts=[" ab c  "])
    assert (span.char_start, span.char_end) == (1, 3), 'tokens 0-1 are " ab ": the spaces go'


def test_a_span_of_spaces_alone_is_passed_over_for_the_best_span_with_text():
    rows = _rows(3)
    start, end = np.zeros((1, 7)), np.zeros((1, 7))
    start[0, 3], end[0, 3] = 5.0, 5.0  # token 0: "  " only
    (span,) = best_spans(rows, start, end, 5, texts=["  ab  "])
    assert (span.char_start, span.char_end) == (2, 4), "tokens 0-1 trimmed: the words, not the spaces"
    # A row whose every span is spaces has no answer.
    assert best_spans(_rows(1), start[:, :5], end[:, :5], 5, texts=["  "]) == [None]


def test_a_span_never_crosses_a_line_break():
    # Tokens of two characters: "ab", "19", " \n", "3.", "xy". The best-scoring span runs into
    # the next line's list number ("โควิด-19\n3."); the answer stops at the line's end instead.
    text = "ab19 \n3.xy"
    rows = _rows(5)
    start, end = np.zeros((1, 9)), np.zeros((1, 9))
    start[0, 3 + 1], end[0, 3 + 3] = 6.0, 6.0  # tokens 1..3: "19 \n3."
    end[0, 3 + 2] = 5.0  # tokens 1..2: "19 \n", "19" once trimmed
    (span,) = best_spans(rows, start, end, 5, texts=[text])
    assert "\n" not in text[span.char_start : span.char_end]
    assert text[span.char_start : span.char_end] == "19"


def test_span_candidates_are_distinct_and_best_first():
    rows = _rows(6)
    start, end = np.zeros((1, 10)), np.zeros((1, 10))
    start[0, 3 + 1], end[0, 3 + 2] = 4.0, 3.0
    start[0, 3 + 4], end[0, 3 + 4], end[0, 3 + 1] = 2.0, 2.0, -1.0
    (found,) = span_candidates(rows, start, end, 2, texts=["abcdefghijkl"], top=3)
    assert [(s.char_start, s.char_end) for s in found][:2] == [(2, 6), (8, 10)]
    assert len({(s.char_start, s.char_end) for s in found}) == len(found) == 3
    assert [s.score for s in found] == sorted((s.score for s in found), reverse=True)


def test_token_span_finds_the_tokens_of_a_character_span():
    offsets = np.array([[0, 3], [3, 5], [6, 9]])
    assert token_span(offsets, 3, 9) == (1, 2)
    assert token_span(offsets, 4, 5) == (1, 1)
    assert token_span(offsets, 7, 12) is None, "runs past the tokens"


def test_rows_hold_question_and_context_and_cut_a_long_context(real_model_dir):
    tokenizer = ReaderTokenizer(real_model_dir / "tokenizer.json", max_length=16, max_question_tokens=4)
    question = tokenizer.question("ประเทศไทยได้รับรางวัลกี่รางวัล")
    assert len(question) == 4
    text = "ประเทศไทยได้รับรางวัล ASEAN ICT Award 4 รางวัล ในปี 2564 ที่จัดขึ้นในประเทศ"
    encoded = tokenizer.encode(text)
    assert (np.diff(encoded.offsets[:, 0]) >= 0).all() and encoded.offsets[-1, 1] == len(text)
    rows = tokenizer.rows(question, [(encoded, 100), (Encoded(encoded.ids[:2], encoded.offsets[:2]), 100)])
    assert rows.input_ids.shape == (2, 16) and rows.attention_mask[1].sum() == 4 + 2 + 3
    assert list(rows.input_ids[0, :1]) == [0] and rows.input_ids[0, 5] == 2 and rows.input_ids[0, 15] == 2
    assert len(rows.offsets[0]) == 16 - 4 - 3 and rows.offsets[0][0, 0] == 100 + encoded.offsets[0, 0]


def test_zscores_and_the_blend():
    assert list(zscores([2.0, 2.0])) == [0.0, 0.0]
    z = zscores([1.0, 2.0, 3.0])
    assert z.mean() == pytest.approx(0.0) and z.std() == pytest.approx(1.0)
    assert list(np.argsort(-blend([3.0, 2.0, 1.0], [1.0, 2.0, 30.0], 1.0))) == [2, 1, 0]
    assert list(np.argsort(-blend([3.0, 2.0, 1.0], [1.0, 2.0, 30.0], 0.0))) == [0, 1, 2]


def test_the_enclosing_sentences_of_a_span():
    sentences = [(0, 10), (10, 20), (20, 30)]
    assert enclosing(sentences, 12, 15) == (10, 20)
    assert enclosing(sentences, 8, 12) == (0, 20), "a span across a boundary takes both sentences"
    assert enclosing([], 3, 5) == (3, 5)


def test_the_evaluation_scores_the_readers_order_not_the_retrieval_scores(fake_index, fake_embedder):
    from eval.datasets import EvalQuestion, EvalSet, EvidencePiece
    from eval.runner import run
    from index.search.retriever import Retriever

    index = load_index(fake_index, fake_embedder)
    third = Retriever(fake_embedder, index, search_config()).search(QUESTION, top_k=5, read=False).passages[2]
    words = third.passage.text.strip()[:30]
    start = third.document.text.index(words, third.passage.char_start)
    evidence = EvidencePiece(third.passage.doc_id, words, ((start, start + len(words)),))
    eval_set = EvalSet("t", [EvalQuestion("q", QUESTION, True, (evidence,))])
    read = Retriever(
        fake_embedder, index, search_config(read_weight=0.9, answer_weight=0.9), reader=FakeReader([words])
    )
    (result,) = run(eval_set, read).questions
    assert result.first_relevant_rank == 1 and result.answer_exact_match and result.answer_f1 == 1.0
    (unread,) = run(eval_set, read, read=False).questions
    assert unread.first_relevant_rank == 3


def test_a_read_search_with_nothing_to_read_has_a_finite_confidence(make_client):
    client = make_client(reader=FakeReader([ANSWER]))
    body = client.post("/v1/ask", json={"question": "qqqzzzxxyy", "mode": "keyword"}).json()
    assert body["passages"] == [] and body["no_answer"] is True and body["read"] is True
    assert body["confidence"] < -1000, "below any margin, and valid JSON"
