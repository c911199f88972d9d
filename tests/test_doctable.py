"""Documents stored as mapped code points: exact text and spans for any character."""

from __future__ import annotations

import numpy as np
import pytest

from corpus.document import Document
from index.folder.doctable import DocumentTable, write_documents

DOCS = [
    Document("a", "ไทยได้รับ 4 รางวัล 🏆 ASEAN ICT Award", "รางวัล", source_url="https://example.org/a", date="2021-11-01"),
    Document("ว่าง", "", "เอกสารว่าง"),
    Document("c", "ผู้ใช้ 😀😀 ตอบ\u2028บรรทัดใหม่", "อีโมจิ", language="th"),
]


def test_texts_and_metadata_come_back_exactly_with_spans_counted_in_characters(tmp_path):
    write_documents(tmp_path, DOCS)
    table = DocumentTable.load(tmp_path)
    assert list(table) == ["a", "ว่าง", "c"] and len(table) == 3 and "c" in table and "x" not in table
    assert [table[d.doc_id] for d in DOCS] == DOCS
    text = DOCS[2].text
    start = text.index("ตอบ")  # after two characters outside the BMP: a UTF-16 offset would be off by two
    assert table.text_span("c", start, start + 3) == "ตอบ" == text[start : start + 3]
    assert table.span(1, 0, 5) == "" and table.span(0, 5, 2) == ""
    assert list(table.lengths) == [len(d.text) for d in DOCS]
    assert not (tmp_path / "documents.jsonl").read_text("utf-8").count("ASEAN"), "texts are not in the metadata"


def test_offsets_that_do_not_fit_the_texts_are_refused(tmp_path):
    write_documents(tmp_path, DOCS)
    codes = np.load(tmp_path / "texts.npy")
    with pytest.raises(ValueError):
        DocumentTable([{"doc_id": "a"}], codes, np.array([0, len(codes) + 1]))
    with pytest.raises(ValueError):
        DocumentTable([{"doc_id": "a"}, {"doc_id": "b"}], codes[:5], np.array([0, 10, 5]))  # backwards
