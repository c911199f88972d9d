"""Text built to freeze or deceive (the third probe): questions that made the normaliser
quadratic, questions with nothing to answer, front matter that expands, keys that cannot be sent
or that leak, and ids and titles that look like others. Each test failed before its fix."""

from __future__ import annotations


import corpus.text as corpus_text

# A tone mark typed before its vowel, thousands of times over: each pass of the old repair moved
# every tone mark one place, so this took quadratic time (8,000 characters: 23 s, every request waiting).
FREEZING_QUESTION = "ก" + "\u0e48\u0e49" * 2_000 + "\u0e34\u0e35" * 2_000


def test_an_over_long_question_is_refused_before_it_is_normalised(make_client, monkeypatch):
    normalised: list[int] = []
    repair = corpus_text._repair_marks
    monkeypatch.setattr(corpus_text, "_repair_marks", lambda text: normalised.append(len(text)) or repair(text))
    client = make_client(max_question_chars=4_000)
    normalised.clear()
    response = client.post("/v1/ask", json={"question": FREEZING_QUESTION})
    assert response.status_code == 422
    assert response.json()["message"] == "question: question is 8,001 characters long; the limit is 4,000"
    assert normalised == [], "the question was normalised before its length was checked"
    # Within the limit it is normalised (so the check above sees normalisation when it happens),
    # in linear time, and answered.
    response = client.post("/v1/ask", json={"question": FREEZING_QUESTION[:3_000]})
    assert response.status_code == 200, response.text
    assert normalised
