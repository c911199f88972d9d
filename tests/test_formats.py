"""Reading real file types with Thai content: PDF (plain, PUA glyphs, split Sara Am), HTML, DOCX.

The fixtures (tests/fixtures/formats) were made by tests/fixtures/formats/source/make_samples.py
with fpdf2 and a TLWG Thai font; each comes with the text it was made from.
"""

from __future__ import annotations

import json
from pathlib import Path

import pypdf
import pytest

from corpus.formats import extract
from corpus.reader import document_from_bytes, read_folder
from corpus.text import normalize_text
from service.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures" / "formats"
TRUTH = (FIXTURES / "thai.truth.txt").read_text("utf-8")
PUA = range(0xF700, 0xF71B)


def words(text: str) -> str:
    """Whitespace collapsed: PDF line wraps are not the source's."""
    return " ".join(text.split())


def read(name: str):
    return document_from_bytes((FIXTURES / name).read_bytes(), "doc", Path(name).suffix)


@pytest.mark.parametrize("name", ["thai-plain.pdf", "thai-pua.pdf", "thai-pua-saraam.pdf"])
def test_a_thai_pdf_reads_back_exactly_its_text_and_metadata(name):
    doc = read(name)
    assert words(doc.text) == words(normalize_text(TRUTH))
    assert doc.title == "รายงานการประชุมคณะกรรมการพัฒนารัฐบาลดิจิทัล ครั้งที่ ๓/๒๕๖๕"
    assert doc.date == "2022-06-15"


def test_pua_glyphs_and_a_split_sara_am_in_the_text_layer_are_repaired():
    raw = "".join(p.extract_text() for p in pypdf.PdfReader(FIXTURES / "thai-pua-saraam.pdf").pages)
    assert sum(ord(c) in PUA for c in raw) >= 30, "the fixture's text layer really holds PUA glyphs"
    assert "\u0e4d\u0e32" in raw, "and Sara Am split into Nikhahit + Sara Aa"
    doc = read("thai-pua-saraam.pdf")
    assert not any(ord(c) in PUA for c in doc.text) and "\u0e4d\u0e32" not in doc.text
    assert "ดำเนินการ" in doc.text and "ที่ประชุม" in doc.text


@pytest.mark.parametrize("name", ["news1.html", "gov2.html"])
def test_html_gives_the_article_without_menus_banners_or_scripts(name):
    truth = json.loads((FIXTURES / name.replace(".html", ".truth.json")).read_text("utf-8"))
    doc = read(name)
    text = words(doc.text)
    assert all(words(normalize_text(p)) in text for p in truth["paras"])
    assert [junk for junk in truth["junk"] if words(normalize_text(junk)) in text] == []
    assert (doc.title, doc.date, doc.source_url) == (truth["title"], truth["date"], truth["url"])
    for row in truth["table"] or []:
        assert all(normalize_text(cell) in doc.text for cell in row), "table cells are kept"


def test_docx_gives_paragraphs_and_table_rows_in_order_with_its_title():
    truth = json.loads((FIXTURES / "thai.docx.truth.json").read_text("utf-8"))
    doc = read("thai.docx")
    assert doc.title == truth["title"] and doc.date == "2023-03-01"
    position = 0
    for kind, content in truth["blocks"]:
        pieces = [" | ".join(row) for row in content] if kind == "table" else [content]
        for piece in pieces:
            found = doc.text.find(normalize_text(piece), position)
            assert found >= 0, f"{piece[:30]!r} missing or out of order"
            position = found


@pytest.mark.parametrize(
    ("data", "suffix", "words_"),
    [
        (b"%PDF-1.4 not really", ".pdf", "not a readable PDF"),
        (b"PK\x03\x04 broken zip", ".docx", "not a readable .docx"),
        (b"<html><body><script>var a = 1;</script></body></html>", ".html", "no article text"),
        (b"\x00\x01", ".xlsx", "unsupported file type '.xlsx'"),
    ],
)
def test_a_file_that_cannot_be_read_says_why(data, suffix, words_):
    with pytest.raises(ValueError, match=words_):
        extract(data, suffix)


def test_a_pdf_without_a_text_layer_asks_for_ocr(tmp_path):
    writer = pypdf.PdfWriter()
    writer.add_blank_page(200, 200)
    path = tmp_path / "scan.pdf"
    writer.write(path)
    with pytest.raises(ValueError, match="no text layer"):
        extract(path.read_bytes(), ".pdf")


def test_a_folder_of_mixed_formats_is_read_and_bad_files_are_named(tmp_path):
    for name in ("thai-pua.pdf", "news1.html", "thai.docx"):
        (tmp_path / name).write_bytes((FIXTURES / name).read_bytes())
    (tmp_path / "thai.json").write_text(json.dumps({"title": "ชื่อจากไฟล์ข้าง"}), "utf-8")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    documents, problems = read_folder(tmp_path)
    assert {d.doc_id for d in documents} == {"thai-pua", "news1", "thai"}
    assert {d.doc_id: d.title for d in documents}["thai"] == "ชื่อจากไฟล์ข้าง", "a sidecar wins over the file"
    assert [(p.path, "not a readable PDF" in p.reason) for p in problems] == [("broken.pdf", True)]


def test_an_uploaded_pdf_is_indexed_and_found(make_client):
    key = "admin-key-0123456789abcdef"
    client = make_client(admin_key=Settings(admin_key=key).admin_key)
    files = {"file": ("รายงาน.pdf", (FIXTURES / "thai-pua.pdf").read_bytes(), "application/pdf")}
    response = client.post("/v1/documents", files=files, headers={"X-API-Key": key})
    assert response.status_code == 201, response.text
    doc = client.get("/v1/documents/รายงาน").json()
    assert doc["title"].startswith("รายงานการประชุมคณะกรรมการพัฒนารัฐบาลดิจิทัล")
    assert not any(ord(c) in PUA for c in doc["text"])
