"""Reading any folder of .txt/.md files, with metadata from front matter or a sidecar."""

from __future__ import annotations

import json

import pytest

from corpus.reader import CorpusError, read_folder
from service.settings import BUNDLED_CORPUS


def write(path, text, encoding="utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))


def test_doc_ids_are_relative_paths_without_extension(tmp_path):
    write(tmp_path / "a.txt", "เอกสารหนึ่ง")
    write(tmp_path / "laws" / "pdpa.md", "# พ.ร.บ. คุ้มครองข้อมูลส่วนบุคคล\nเนื้อหา")
    write(tmp_path / "notes.csv", "ignored")
    write(tmp_path / ".hidden" / "x.txt", "ignored")
    docs, problems = read_folder(tmp_path)
    assert [d.doc_id for d in docs] == ["a", "laws/pdpa"]
    assert not problems
    assert docs[1].title == "พ.ร.บ. คุ้มครองข้อมูลส่วนบุคคล", "title defaults to the first line"


def test_front_matter_gives_metadata_and_is_not_part_of_the_text(tmp_path):
    write(
        tmp_path / "news.md",
        "---\ntitle: ข่าวดีอี\nsource_url: https://example.go.th/1\ndate: 2021-01-22\nlanguage: th\n---\nเนื้อหาข่าว\n",
    )
    (doc,), _ = read_folder(tmp_path)
    assert (doc.title, doc.source_url, doc.date, doc.language) == (
        "ข่าวดีอี",
        "https://example.go.th/1",
        "2021-01-22",
        "th",
    )
    assert doc.text == "เนื้อหาข่าว\n"


def test_sidecar_json_overrides_front_matter(tmp_path):
    write(tmp_path / "news.md", "---\ntitle: จาก front matter\ndate: 2020-01-01\n---\nเนื้อหา")
    write(
        tmp_path / "news.json", json.dumps({"title": "จาก sidecar", "source_url": "https://x.th"}, ensure_ascii=False)
    )
    (doc,), _ = read_folder(tmp_path)
    assert (doc.title, doc.date, doc.source_url) == ("จาก sidecar", "2020-01-01", "https://x.th")


def test_text_is_normalised_once_at_reading(tmp_path):
    write(tmp_path / "a.txt", "\ufeffน\u0e49\u0e4d\u0e32\u200bใจ\r\n")
    (doc,), _ = read_folder(tmp_path)
    assert doc.text == "น้ำใจ\n"


def test_language_is_guessed_when_not_given(tmp_path):
    write(tmp_path / "th.txt", "ประชุมรัฐมนตรีอาเซียน ASEAN")
    write(tmp_path / "en.txt", "ASEAN Digital Ministers Meeting")
    docs, _ = read_folder(tmp_path)
    assert {d.doc_id: d.language for d in docs} == {"en": "en", "th": "th"}


def test_unreadable_files_are_reported_by_name_and_the_rest_are_read(tmp_path):
    write(tmp_path / "good.txt", "เอกสารดี")
    write(tmp_path / "latin1.txt", "caf\u00e9", encoding="latin-1")
    write(tmp_path / "tis620.txt", "ภาษาไทย", encoding="tis-620")
    write(tmp_path / "empty.txt", " \n\u200b\n")
    write(tmp_path / "badmeta.md", "---\ntitle: [unclosed\n---\nข้อความ")
    write(tmp_path / "badjson.txt", "ข้อความ")
    write(tmp_path / "badjson.json", "{oops")
    write(tmp_path / "dup.md", "ซ้ำ")
    write(tmp_path / "dup.txt", "ซ้ำ")
    docs, problems = read_folder(tmp_path)
    assert [d.doc_id for d in docs] == ["dup", "good"]
    reasons = {p.path: p.reason for p in problems}
    assert "UTF-8" in reasons["latin1.txt"] and "UTF-8" in reasons["tis620.txt"]
    assert reasons["empty.txt"] == "empty document"
    assert "YAML" in reasons["badmeta.md"]
    assert "badjson.json is not valid JSON" in reasons["badjson.txt"]
    assert "same id 'dup'" in reasons["dup.txt"]


def test_a_missing_or_empty_folder_is_an_error(tmp_path):
    with pytest.raises(CorpusError, match="not a folder"):
        read_folder(tmp_path / "missing")
    with pytest.raises(CorpusError, match="no .txt, .md, .html, .htm, .pdf, .docx files"):
        read_folder(tmp_path)


def test_bundled_corpus_reads_with_its_metadata():
    docs, problems = read_folder(BUNDLED_CORPUS)
    assert not problems and len(docs) == 5
    by_id = {d.doc_id: d for d in docs}
    assert (
        by_id["adgmin-1-dialogue-partners-2021"].source_url == "https://www.thaigov.go.th/news/contents/details/38530"
    )
    assert all(d.language == "th" and d.title for d in docs)
