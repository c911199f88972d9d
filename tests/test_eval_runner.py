"""The evaluation runner and its reports, on the bundled corpus with the fake embedder."""

from __future__ import annotations

import json

import pytest

from corpus.document import Document
from eval.datasets import DatasetError, EvalQuestion, EvalSet, EvidencePiece, load_dataset, load_gold
from eval.report import write_html, write_json
from eval.runner import run
from index.build.write import build_index
from index.folder.load import load_index
from tests.fakes import FakeEmbedder
from tests.helpers import index_config, make_retriever

DOCS = [
    Document("award", "ไทยได้รับ 4 รางวัล ASEAN ICT Award 2021 ในพิธีมอบรางวัล", "รางวัล"),
    Document("fund", "ในปี 2565 ได้อนุมัติงบประมาณจากกองทุน ASEAN ICT Fund 329,600 ดอลลาร์สหรัฐ", "กองทุน"),
    Document("meeting", "การประชุมจัดขึ้นผ่านระบบการประชุมทางไกล ระหว่างวันที่ 27 – 28 มกราคม 2565", "การประชุม"),
]


def span(doc: Document, text: str) -> tuple[tuple[int, int], ...]:
    start = doc.text.index(text)
    return ((start, start + len(text)),)


@pytest.fixture
def retriever(tmp_path):
    embedder = FakeEmbedder()
    build_index(DOCS, embedder, index_config(64, 8), tmp_path / "idx")
    return make_retriever(embedder, load_index(tmp_path / "idx", embedder))


def write_gold(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")


def test_gold_evidence_is_located_in_the_stored_text(tmp_path):
    write_gold(
        tmp_path / "g.jsonl", [{"id": "a", "question": "กี่รางวัล", "evidence": [{"doc_id": "award", "text": "4 รางวัล"}]}]
    )
    (q,) = load_gold(tmp_path / "g.jsonl", DOCS).questions
    assert q.evidence[0].spans == ((10, 18),)
    assert DOCS[0].text[10:18] == "4 รางวัล"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"id": "a", "question": "q", "evidence": [{"doc_id": "nope", "text": "x"}]}, "no document 'nope'"),
        ({"id": "a", "question": "q", "evidence": [{"doc_id": "award", "text": "ไม่มีในเอกสาร"}]}, "is not in award"),
        ({"id": "a", "evidence": []}, "missing field 'question'"),
    ],
)
def test_a_bad_gold_line_is_refused_naming_the_line(tmp_path, row, message):
    write_gold(tmp_path / "g.jsonl", [row])
    with pytest.raises(DatasetError, match=message) as err:
        load_gold(tmp_path / "g.jsonl", DOCS)
    assert "g.jsonl:1" in str(err.value)


def test_runner_scores_hits_and_unanswerable_questions(retriever):
    questions = [
        EvalQuestion(
            "fund",
            "กองทุน ASEAN ICT Fund อนุมัติเงินเท่าไร",
            True,
            (EvidencePiece("fund", "329,600", span(DOCS[1], "329,600")),),
        ),
        EvalQuestion(
            "award", "ASEAN ICT Award ไทยได้กี่รางวัล", True, (EvidencePiece("award", "4 รางวัล", span(DOCS[0], "4 รางวัล")),)
        ),
        EvalQuestion("none", "ราคาทองคำวันนี้", False, ()),
    ]
    result = run(EvalSet("t", questions), retriever)
    by_id = {q.id: q for q in result.questions}
    assert by_id["fund"].first_relevant_rank == 1 and by_id["award"].first_relevant_rank == 1
    assert by_id["fund"].passages[0].relevant and not by_id["fund"].passages[1].relevant
    s = result.summary
    assert (s["answerable"], s["unanswerable"], s["hit@1"], s["mrr@10"]) == (2, 1, 1.0, 1.0)
    assert s["top_score"]["unanswerable"]["n"] == 1
    assert s["hit_curve"][0] == 1.0 and len(s["hit_curve"]) == 10
    assert s["document_hit@1"] == 1.0
    assert s["latency_ms"]["p50"] > 0
    # Each document is one sentence here, so the answer sentence holds the evidence.
    answer = by_id["fund"].answer
    assert (answer["doc_id"], answer["char_start"], answer["char_end"]) == ("fund", 0, len(DOCS[1].text))
    assert answer["text"] == DOCS[1].text
    assert s["answer_contains_evidence"] == 1.0 and s["answer_overlaps_evidence"] == 1.0
    # A whole sentence for a short piece of evidence: it holds it, but is no exact match.
    assert s["answer_matches_evidence"] == 1.0 and s["answer_exact_match"] == 0.0 and s["answer_f1"] < 0.5
    assert s["answer_median_chars"] == pytest.approx((len(DOCS[0].text) + len(DOCS[1].text)) / 2)
    assert s["no_answer"]["confidence"]["unanswerable"]["n"] == 1


def test_the_no_answer_flag_is_counted_for_both_kinds_of_question(retriever):
    index = retriever.index
    questions = [
        EvalQuestion("award", "ASEAN ICT Award", True, (EvidencePiece("award", "4 รางวัล", span(DOCS[0], "4 รางวัล")),)),
        EvalQuestion("none", "ราคาทองคำวันนี้", False, ()),
    ]
    strict = make_retriever(retriever.embedder, index, answer_threshold=1.9)  # every question is flagged
    s = run(EvalSet("t", questions), strict).summary["no_answer"]
    assert (s["unanswerable_flagged"], s["answerable_flagged"]) == (1.0, 1.0)
    lenient = make_retriever(retriever.embedder, index, answer_threshold=-1.0)  # everything passes
    s = run(EvalSet("t", questions), lenient).summary["no_answer"]
    assert (s["unanswerable_flagged"], s["answerable_flagged"]) == (0.0, 0.0)


def test_evidence_split_across_chunks_is_reported_as_uncoverable(retriever):
    # The span runs over two documents' worth of text: no chunk can cover it.
    q = EvalQuestion("x", "การประชุม", True, (EvidencePiece("meeting", "", ((0, 10_000),)),))
    result = run(EvalSet("t", [q]), retriever)
    assert result.summary["uncoverable"] == 1
    assert result.questions[0].first_relevant_rank is None
    assert result.questions[0].first_document_rank == 1, "the right document was found, just not the span"


def test_reports_are_written_and_the_html_is_self_contained(retriever, tmp_path):
    q = EvalQuestion(
        "fund",
        "กองทุน ASEAN ICT Fund",
        True,
        (EvidencePiece("fund", "329,600", span(DOCS[1], "329,600")),),
        tags=("amount",),
    )
    result = run(EvalSet("t", [q]), retriever)
    write_json(result, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text("utf-8"))["summary"]["hit@1"] == 1.0
    write_html(result, retriever.index.documents, tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text("utf-8")
    assert "<mark>329,600</mark>" in page, "the evidence is highlighted in the passage"
    assert "<svg" in page and "hit@1 = 1.000" in page
    assert "holds the evidence" in page, "the answer sentence is shown and judged"
    assert "http://" not in page and "https://" not in page and "<link" not in page, "no network needed"


def test_external_dataset_spans_move_with_normalisation(tmp_path):
    (tmp_path / "contexts.jsonl").write_text(
        json.dumps({"id": "c1", "title": "t", "text": "ก\u200bข ค้ำ ผลคือ 42"}, ensure_ascii=False) + "\n", "utf-8"
    )
    raw = "ก\u200bข ค้ำ ผลคือ 42"
    start = raw.index("42")
    (tmp_path / "retrieval.jsonl").write_text(
        json.dumps(
            {
                "id": "q1",
                "question": "ผลคือเท่าไร",
                "gold_context_ids": ["c1"],
                "answer_spans": [{"context_id": "c1", "start": start, "end": start + 2, "text": "42"}],
            },
            ensure_ascii=False,
        )
        + "\n",
        "utf-8",
    )
    data = load_dataset(tmp_path)
    (doc,) = data.documents
    (piece,) = data.questions[0].evidence
    s, e = piece.spans[0]
    assert doc.text[s:e] == "42" and len(doc.text) == len(raw) - 1


def test_sampling_is_seeded_and_bounded():
    qs = [EvalQuestion(str(i), "q", False, ()) for i in range(50)]
    one, two = EvalSet("s", qs).sample(10, seed=3), EvalSet("s", qs).sample(10, seed=3)
    assert [q.id for q in one.questions] == [q.id for q in two.questions] and len(one.questions) == 10
    assert EvalSet("s", qs).sample(None).questions == qs
