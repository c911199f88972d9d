"""Text built to freeze or deceive (the third probe): questions that made the normaliser
quadratic, questions with nothing to answer, front matter that expands, keys that cannot be sent
or that leak, and ids and titles that look like others. Each test failed before its fix."""

from __future__ import annotations

import re

import httpx
import pytest
from pydantic import SecretStr, ValidationError
from typer.testing import CliRunner

import corpus.text as corpus_text
from corpus.document import Document
from corpus.reader import document_from_bytes, read_folder
import index.encoders.factory
from index.store import versions
from khamtop.cli import app as cli_app
from service.errors import error_message
from service.settings import BUNDLED_CORPUS, PROJECT_ROOT, Settings
from service.viewer import render_document
from tests.fakes import FakeEmbedder

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


# Keys --------------------------------------------------------------------------------------------

THAI_KEY = "กุญแจลับของผู้ดูแลระบบสำนักงาน2567"  # long and varied enough, but in Thai letters
ADMIN = "admin-key-0123456789abcdef"


def test_a_key_in_thai_letters_is_refused_at_start_as_it_could_never_be_sent():
    with pytest.raises(UnicodeEncodeError):  # what a client does with it: headers are not Unicode
        httpx.Request("GET", "http://127.0.0.1/v1/ask", headers={"Authorization": f"Bearer {THAI_KEY}"})
    for field in ("admin_key", "search_key"):
        with pytest.raises(ValidationError, match="HTTP header, which cannot carry Thai") as refused:
            Settings(**{field: THAI_KEY})
        assert THAI_KEY not in error_message(refused.value.errors(), whole=None), "a key is never shown"


def test_a_search_key_equal_to_the_admin_key_is_refused_at_start():
    with pytest.raises(ValidationError, match="KHAMTOP_SEARCH_KEY must differ from KHAMTOP_ADMIN_KEY"):
        Settings(admin_key=ADMIN, search_key=ADMIN)
    Settings(admin_key=ADMIN, search_key="search-key-0123456789abcdef")  # two different keys are fine


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KHAMTOP_ADMIN_KEY": THAI_KEY}, "invalid setting: admin_key: a key must be ASCII"),
        ({"KHAMTOP_ADMIN_KEY": ADMIN, "KHAMTOP_SEARCH_KEY": ADMIN}, "KHAMTOP_SEARCH_KEY must differ"),
    ],
)
def test_the_command_line_refuses_such_keys_with_the_reason(monkeypatch, fake_index, env, message):
    monkeypatch.setattr(index.encoders.factory, "load_embedder", lambda settings: FakeEmbedder())
    monkeypatch.setenv("KHAMTOP_READER", "false")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli_app, ["ask", "ใครเป็นประธานการประชุม", "--index", str(fake_index)])
    assert result.exit_code == 2 and message in result.output, result.output
    assert THAI_KEY not in result.output and ADMIN not in result.output


# The docs' recovery advice -----------------------------------------------------------------------


def test_only_index_build_recovers_a_damaged_index_as_the_docs_say(monkeypatch, settings, tmp_path):
    monkeypatch.setattr(index.encoders.factory, "load_embedder", lambda settings: FakeEmbedder())
    monkeypatch.setenv("KHAMTOP_READER", "false")
    live = versions.current_path(settings.index_dir)
    chunks = live / "chunks.jsonl"
    chunks.write_text(chunks.read_text("utf-8").replace("ASEAN", "AAAAA", 1), "utf-8")
    doc = tmp_path / "ประกาศ.md"
    doc.write_text("ประกาศกระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม เรื่องศูนย์ข้อมูลภาครัฐ", "utf-8")
    runner, where = CliRunner(), ["--index", str(settings.index_dir)]
    added = runner.invoke(cli_app, ["index", "add", str(doc), *where])
    assert added.exit_code == 2 and "is damaged" in added.output and "`khamtop index build`" in added.output
    built = runner.invoke(cli_app, ["index", "build", str(BUNDLED_CORPUS), "--out", str(settings.index_dir)])
    assert built.exit_code == 0, built.output
    assert runner.invoke(cli_app, ["index", "add", str(doc), *where]).exit_code == 0
    # What docs/api.md tells an operator whose service started on a damaged index.
    api = " ".join((PROJECT_ROOT / "docs" / "api.md").read_text("utf-8").split())
    (advice,) = re.findall(r"at start-up a damaged index.*?admin routes[^.]*\.", api)
    assert "Only `khamtop index build` writes one" in advice and "`khamtop index add|remove` refuse" in advice


# Questions with nothing to answer ------------------------------------------------------------------------


@pytest.fixture
def answers_anything(make_client):
    """The service with its answer threshold at the bottom: every question's best sentence would
    be its answer (the real model scores one-letter questions that high)."""
    return make_client(answer_threshold=-1.0)


@pytest.mark.parametrize("question", ["a", "1", "ก", "ก่", "ที่", "ๆ", "😀", "\ufffc", "?!", "ก ?"])
def test_a_question_of_one_letter_or_none_gets_no_answer_but_its_passages(answers_anything, question):
    response = answers_anything.post("/v1/ask", json={"question": question})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["no_answer"] is True and body["answer"] is None
    assert body["passages"], "the passages found are still listed"


@pytest.mark.parametrize("question", ["AI", "5G", "ครม", "ASEAN Digital Hub คืออะไร"])
def test_a_short_question_with_two_letters_or_more_is_answered(answers_anything, question):
    response = answers_anything.post("/v1/ask", json={"question": question})
    assert response.status_code == 200, response.text
    assert response.json()["no_answer"] is False


# Front matter and metadata -----------------------------------------------------------------------


def alias_bomb(levels: int) -> str:
    """Front matter whose title is 9**levels copies of one word, in a few hundred bytes (seven
    levels: a title of gigabytes)."""
    lines = ['l0: &l0 "ประกาศ"']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "---\n" + "\n".join(lines) + f"\ntitle: *l{levels}\n---\nประกาศกระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม\n"


def test_front_matter_with_yaml_aliases_is_refused_in_a_folder(tmp_path):
    (tmp_path / "bomb.md").write_text(alias_bomb(4), "utf-8")  # 6,561 copies: small enough to try
    (tmp_path / "ok.md").write_text("---\ntitle: ประกาศ\n---\nประกาศกระทรวงดิจิทัล", "utf-8")
    documents, problems = read_folder(tmp_path)
    assert [d.doc_id for d in documents] == ["ok"]
    (problem,) = problems
    assert problem.path == "bomb.md" and "front matter must not use YAML aliases (*l0, line 2)" in problem.reason


def test_an_uploaded_alias_bomb_is_refused_with_the_reason(admin_client):
    bomb = alias_bomb(7)
    assert len(bomb.encode()) < 600
    response = admin_client.post("/v1/documents", files={"file": ("bomb.md", bomb.encode())}, headers=AS_ADMIN)
    assert response.status_code == 422
    assert "front matter must not use YAML aliases" in response.json()["detail"]
    assert admin_client.get("/readyz", headers=AS_ADMIN).json()["documents"] == 5


@pytest.mark.parametrize(("field", "limit"), [("title", 1_000), ("source_url", 2_048), ("date", 100), ("language", 35)])
def test_each_metadata_field_over_its_limit_is_refused_naming_it(admin_client, tmp_path, field, limit):
    value = "https://example.go.th/" + "ก" * limit if field == "source_url" else "ประกาศ" * limit
    expected = f"{field} is {len(value):,} characters long; the limit is {limit:,}"
    sent = {"doc_id": "ประกาศ", "text": "ประกาศกระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม", field: value}
    as_json = admin_client.post("/v1/documents", json=sent, headers=AS_ADMIN)
    assert as_json.status_code == 422 and expected in as_json.json()["detail"], as_json.text
    form = admin_client.post(
        "/v1/documents", files={"file": ("ประกาศ.txt", sent["text"].encode())}, data={field: value}, headers=AS_ADMIN
    )
    assert form.status_code == 422 and expected in form.json()["detail"], form.text
    # The folder reader (khamtop index build and add), from front matter.
    (tmp_path / "ประกาศ.md").write_text(f"---\n{field}: {value}\n---\n{sent['text']}", "utf-8")
    (problem,) = read_folder(tmp_path)[1]
    assert problem.reason == expected
    assert admin_client.get("/readyz", headers=AS_ADMIN).json()["documents"] == 5


def test_a_web_pages_own_overlong_title_is_dropped_not_refused():
    body = "<p>ประกาศกระทรวงดิจิทัล เรื่องศูนย์ข้อมูลภาครัฐ ฉบับที่ ๒</p>"
    page = f"<html><head><title>{'ข่าว' * 600}</title></head><body>{body}</body></html>"
    document = document_from_bytes(page.encode(), "ข่าว", ".html")
    assert len(document.title) <= 1_000 and "ประกาศ" in document.text


# Ids and titles that look like others --------------------------------------------------------------


@pytest.fixture
def admin_client(make_client):
    return make_client(admin_key=SecretStr(ADMIN))


AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
WATER = "น้ำประปา"  # น + ้ + ำ: Sara Am as one character, the tone mark before it
WATER_DECOMPOSED = "น\u0e4d\u0e49\u0e32ประปา"  # nikhahit, tone mark, Sara Aa: looks the same
TEXT = "การประปานครหลวงแจ้งงดจ่ายน้ำในวันเสาร์"


def test_ids_that_look_alike_are_one_document(admin_client):
    first = admin_client.post("/v1/documents", json={"doc_id": WATER_DECOMPOSED, "text": TEXT}, headers=AS_ADMIN)
    assert first.status_code == 201 and first.json()["added"] == [WATER], first.text
    again = admin_client.post("/v1/documents", json={"doc_id": WATER, "text": TEXT + "ครับ"}, headers=AS_ADMIN)
    assert again.status_code == 200 and again.json()["replaced"] == [WATER], again.text
    assert admin_client.get("/readyz", headers=AS_ADMIN).json()["documents"] == 6


@pytest.mark.parametrize(
    ("doc_id", "shown"),
    [
        ("ประกาศ\u200b", "U+200B (ZERO WIDTH SPACE)"),
        ("ประ\u200dกาศ", "U+200D (ZERO WIDTH JOINER)"),
        ("รายงาน\u202efdp.exe", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
        ("\u2066ประกาศ\u2069", "U+2066 (LEFT-TO-RIGHT ISOLATE)"),
    ],
)
def test_an_id_with_invisible_characters_is_refused_naming_them(admin_client, tmp_path, doc_id, shown):
    expected = f"doc_id must not contain invisible characters: it has {shown}"
    as_json = admin_client.post("/v1/documents", json={"doc_id": doc_id, "text": TEXT}, headers=AS_ADMIN)
    assert as_json.status_code == 422 and expected in as_json.json()["message"], as_json.text
    form = admin_client.post(
        "/v1/documents", files={"file": ("x.txt", TEXT.encode())}, data={"doc_id": doc_id}, headers=AS_ADMIN
    )
    assert form.status_code == 422 and expected in form.json()["detail"], form.text
    (tmp_path / f"{doc_id}.txt").write_text(TEXT, "utf-8")
    (tmp_path / f"{WATER_DECOMPOSED}.txt").write_text(TEXT, "utf-8")
    documents, (problem,) = read_folder(tmp_path)
    assert [d.doc_id for d in documents] == [WATER] and problem.reason == expected


def test_a_title_cannot_reverse_the_text_after_it(admin_client):
    title = "ประกาศ\u202eกระทรวง\u202c ฉบับที่ ๒"
    sent = {"doc_id": "ประกาศ", "text": TEXT, "title": title}
    assert admin_client.post("/v1/documents", json=sent, headers=AS_ADMIN).status_code == 201
    stored = admin_client.get("/v1/documents/ประกาศ").json()["title"]
    assert stored == "ประกาศกระทรวง ฉบับที่ ๒"
    page = admin_client.get("/documents/ประกาศ").text
    assert "<h1><bdi>ประกาศกระทรวง ฉบับที่ ๒</bdi></h1>" in page


def test_the_viewer_isolates_a_title_an_older_index_holds():
    document = Document(doc_id="ประกาศ", text=TEXT, title="ประกาศ\u202eกระทรวง")
    page = render_document(document, None, None, "th")
    assert "<h1><bdi>ประกาศกระทรวง</bdi></h1>" in page and "\u202e" not in page
