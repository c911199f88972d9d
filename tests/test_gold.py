"""The gold question set (eval/gold.jsonl) is well formed and its evidence is real.

Fast: reads the bundled corpus exactly as the service stores it, no model.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from corpus.reader import read_folder
from service.settings import BUNDLED_CORPUS, PROJECT_ROOT

GOLD = PROJECT_ROOT / "eval" / "gold.jsonl"
FIELDS = ["id", "question", "language", "answerable", "evidence", "tags"]
ALLOWED_TAGS = {
    "paraphrase",
    "lexical",
    "english",
    "number-format",
    "era",
    "abbreviation",
    "multi-doc",
    "unanswerable",
    "list",
    "date",
    "amount",
    "person",
    "place",
    "organisation",
}
ERA_OFFSET = 543  # Buddhist Era = Christian Era + 543

_THAI_TO_ARABIC = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
_NUMBER = re.compile(r"[0-9๐-๙]+(?:,[0-9๐-๙]{3})*(?:\.[0-9๐-๙]+)?")
_THAI_LETTER = re.compile("[\u0e01-\u0e4e]")


def to_arabic(text: str) -> str:
    """Thai digits ๐–๙ written as Arabic digits 0–9; everything else unchanged."""
    return text.translate(_THAI_TO_ARABIC)


def numbers(text: str) -> list[tuple[str, str]]:
    """Each number in ``text`` as (value in Arabic digits without thousands commas, script),
    script being "thai", "arabic" or "mixed"."""
    found = []
    for match in _NUMBER.finditer(text):
        digits = [c for c in match.group() if c.isdigit()]
        thai = sum("๐" <= c <= "๙" for c in digits)
        script = "thai" if thai == len(digits) else "arabic" if thai == 0 else "mixed"
        found.append((to_arabic(match.group()).replace(",", ""), script))
    return found


def years(text: str) -> set[int]:
    """Four-digit numbers that could be years, in either era and either script."""
    return {int(value) for value, _ in numbers(text) if re.fullmatch(r"\d{4}", value) and 1900 <= int(value) <= 2700}


def load_gold(path: Path = GOLD) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        assert line.strip(), f"blank line {n} in {path.name}"
        rows.append(json.loads(line))
    return rows


@pytest.fixture(scope="module")
def gold() -> list[dict]:
    return load_gold()


@pytest.fixture(scope="module")
def stored_texts() -> dict[str, str]:
    documents, problems = read_folder(BUNDLED_CORPUS)
    assert not problems
    return {d.doc_id: d.text for d in documents}


def _evidence_text(row: dict) -> str:
    return "\n".join(e["text"] for e in row["evidence"])


# --- the helpers themselves ---------------------------------------------------------------


def test_thai_digits_are_read_as_arabic_digits():
    assert to_arabic("๒๕๖๒ และ 2019") == "2562 และ 2019"
    assert numbers("รวม ๔,๑๒๑ Gbps คิดเป็น ๖๗.๑๑ %") == [("4121", "thai"), ("67.11", "thai")]
    assert numbers("ปี ค.ศ. 2019-202๐") == [("2019", "arabic"), ("2020", "mixed")]


def test_years_are_four_digit_numbers_in_either_script():
    assert years("ระหว่างวันที่ ๒๘ – ๒๙ มีนาคม ๒๕๖๒") == {2562}
    assert years("ASEAN Digital Masterplan 2025 ราคา 329,600 ดอลลาร์") == {2025}


# --- format -------------------------------------------------------------------------------


def test_every_line_has_the_documented_fields_in_order(gold):
    for row in gold:
        assert list(row) == FIELDS, row.get("id")
        assert isinstance(row["question"], str) and row["question"].strip() == row["question"] != ""
        assert isinstance(row["answerable"], bool)
        assert isinstance(row["evidence"], list) and isinstance(row["tags"], list)


def test_ids_are_unique_and_numbered_g001_upwards(gold):
    ids = [row["id"] for row in gold]
    assert all(re.fullmatch(r"g\d{3}", i) for i in ids), ids
    assert len(set(ids)) == len(ids)
    assert ids == [f"g{n:03d}" for n in range(1, len(ids) + 1)]


def test_no_question_is_asked_twice(gold):
    repeated = [q for q, n in Counter(row["question"] for row in gold).items() if n > 1]
    assert not repeated


def test_tags_come_from_the_documented_list_without_repeats(gold):
    for row in gold:
        assert set(row["tags"]) <= ALLOWED_TAGS, (row["id"], set(row["tags"]) - ALLOWED_TAGS)
        assert len(set(row["tags"])) == len(row["tags"]), row["id"]


def test_language_matches_the_question_and_the_english_tag(gold):
    for row in gold:
        assert row["language"] in {"th", "en"}, row["id"]
        assert (row["language"] == "en") == ("english" in row["tags"]), row["id"]
        has_thai = bool(_THAI_LETTER.search(row["question"]))
        assert has_thai == (row["language"] == "th"), row["id"]


# --- evidence -----------------------------------------------------------------------------


def test_every_evidence_span_is_exact_text_of_an_existing_document(gold, stored_texts):
    for row in gold:
        for evidence in row["evidence"]:
            assert list(evidence) == ["doc_id", "text"], row["id"]
            assert evidence["doc_id"] in stored_texts, (row["id"], evidence["doc_id"])
            assert evidence["text"].strip(), row["id"]
            assert evidence["text"] in stored_texts[evidence["doc_id"]], (row["id"], evidence["text"])


def test_every_evidence_span_occurs_once_so_it_names_one_place(gold, stored_texts):
    for row in gold:
        for evidence in row["evidence"]:
            assert stored_texts[evidence["doc_id"]].count(evidence["text"]) == 1, (row["id"], evidence["text"])


def test_evidence_spans_are_short_enough_to_fall_inside_one_passage(gold):
    for row in gold:
        for evidence in row["evidence"]:
            assert 5 <= len(evidence["text"]) <= 200, (row["id"], len(evidence["text"]))


def test_answerable_questions_have_evidence_and_unanswerable_ones_none(gold):
    for row in gold:
        if row["answerable"]:
            assert row["evidence"], row["id"]
            assert "unanswerable" not in row["tags"], row["id"]
        else:
            assert row["evidence"] == [], row["id"]
            assert "unanswerable" in row["tags"], row["id"]


def test_multi_doc_questions_cite_two_documents_and_only_they_do(gold):
    for row in gold:
        documents = {e["doc_id"] for e in row["evidence"]}
        assert ("multi-doc" in row["tags"]) == (len(documents) >= 2), row["id"]


def test_number_format_questions_write_a_number_of_the_evidence_in_the_other_script(gold):
    """`number-format`: some number in the question appears in the evidence with the same value
    but in the other digit script (Thai ๐–๙ against Arabic 0–9)."""
    for row in (r for r in gold if "number-format" in r["tags"]):
        asked = {(v, s) for v, s in numbers(row["question"]) if s != "mixed"}
        cited = {(v, s) for v, s in numbers(_evidence_text(row)) if s != "mixed"}
        assert asked, f"{row['id']}: no number in the question"
        assert any(v == w and s != t for v, s in asked for w, t in cited), (
            f"{row['id']}: no number of the question is in the evidence in the other script: "
            f"{sorted(asked)} vs {sorted(cited)}"
        )


def test_era_questions_give_a_year_of_the_evidence_in_the_other_era(gold):
    """`era`: a year in the question differs from a year in the evidence by exactly 543."""
    for row in (r for r in gold if "era" in r["tags"]):
        asked, cited = years(row["question"]), years(_evidence_text(row))
        assert asked, f"{row['id']}: no year in the question"
        assert any(abs(a - c) == ERA_OFFSET for a in asked for c in cited), (
            f"{row['id']}: question years {sorted(asked)}, evidence years {sorted(cited)}"
        )


# --- the coverage the gold set must keep ---------------------------------------------------


def test_the_set_has_the_counts_the_issue_demands(gold):
    tags = Counter(tag for row in gold for tag in row["tags"])
    assert len(gold) >= 100
    assert sum(1 for row in gold if "english" in row["tags"] and row["language"] == "en") >= 15
    assert sum(1 for row in gold if {"number-format", "era"} & set(row["tags"])) >= 15
    assert tags["abbreviation"] >= 8
    assert tags["multi-doc"] >= 5
    assert sum(1 for row in gold if not row["answerable"]) >= 12


def test_most_thai_questions_are_paraphrased(gold):
    thai = [row for row in gold if row["language"] == "th" and row["answerable"]]
    paraphrased = [row for row in thai if "paraphrase" in row["tags"]]
    assert len(paraphrased) > len(thai) / 2


def test_every_bundled_document_is_asked_about_and_the_largest_most(gold, stored_texts):
    per_document = Counter(e["doc_id"] for row in gold for e in {e["doc_id"]: e for e in row["evidence"]}.values())
    assert set(per_document) == set(stored_texts)
    largest = max(stored_texts, key=lambda doc_id: len(stored_texts[doc_id]))
    assert per_document.most_common(1)[0][0] == largest
