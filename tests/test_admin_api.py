"""Keys and live updates over HTTP (fake embedder): upload, replace, delete, new versions swapped in."""

from __future__ import annotations

import time

import pytest
from pydantic import ValidationError

from corpus.document import Document
from index.folder.load import resolve
from index.build.write import update_index
from service.settings import Settings
from tests.helpers import index_config

ADMIN = "admin-key-0123456789abcdef"
SEARCH = "search-key-0123456789abcdef"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
NEW = {"doc_id": "ข่าว/ใหม่", "text": "กระทรวงดิจิทัลเปิดศูนย์ข้อมูลขนาดใหญ่แห่งใหม่ที่จังหวัดขอนแก่น", "title": "ศูนย์ข้อมูลขอนแก่น"}


@pytest.fixture
def admin(make_client):
    """The service with the admin API on (key ``ADMIN``)."""
    return make_client(admin_key=Settings(admin_key=ADMIN).admin_key)


def ask(client, question, **headers):
    return client.post("/v1/ask", json={"question": question, "top_k": 3}, headers=headers)


def test_the_admin_api_is_off_without_an_admin_key(client):
    response = client.post("/v1/documents", json=NEW)
    assert response.status_code == 403
    assert "KHAMTOP_ADMIN_KEY" in response.json()["detail"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-key-0123456789"}, {"X-API-Key": ADMIN[:-1]}])
def test_admin_routes_refuse_a_missing_or_wrong_key(admin, headers):
    for response in (
        admin.post("/v1/documents", json=NEW, headers=headers),
        admin.delete("/v1/documents/x", headers=headers),
    ):
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_adding_a_document_serves_it_at_once_as_a_new_version(admin):
    before = ask(admin, "ศูนย์ข้อมูลขอนแก่น").json()
    response = admin.post("/v1/documents", json=NEW, headers=AS_ADMIN)
    assert response.status_code == 201, response.text
    change = response.json()
    assert change["added"] == ["ข่าว/ใหม่"] and change["index_version"] == before["index_version"] + 1
    after = ask(admin, "ศูนย์ข้อมูลขอนแก่น").json()
    assert after["index_version"] == change["index_version"]
    assert after["passages"][0]["citation"]["doc_id"] == "ข่าว/ใหม่"
    assert admin.get("/readyz").json()["index_version"] == change["index_version"]

    again = admin.post("/v1/documents", json=NEW, headers={"X-API-Key": ADMIN})
    assert again.status_code == 200 and again.json()["unchanged"] == ["ข่าว/ใหม่"]
    assert again.json()["index_version"] == change["index_version"], "no change, no new version"


def test_an_uploaded_file_is_read_with_its_front_matter(admin):
    text = "---\ntitle: ประกาศรับสมัคร\nsource_url: https://example.go.th/a\n---\nเปิดรับสมัครนักศึกษาฝึกงานด้านปัญญาประดิษฐ์"
    files = {"file": ("ประกาศ.md", text.encode(), "text/markdown")}
    response = admin.post("/v1/documents", files=files, headers=AS_ADMIN)
    assert response.status_code == 201, response.text
    doc = admin.get("/v1/documents/ประกาศ").json()
    assert doc["title"] == "ประกาศรับสมัคร" and doc["source_url"] == "https://example.go.th/a"
    assert doc["text"] == "เปิดรับสมัครนักศึกษาฝึกงานด้านปัญญาประดิษฐ์"

    renamed = admin.post("/v1/documents", files=files, data={"doc_id": "a/b", "title": "ชื่อจากฟอร์ม"}, headers=AS_ADMIN)
    assert renamed.status_code == 201
    assert admin.get("/v1/documents/a/b").json()["title"] == "ชื่อจากฟอร์ม", "form fields win over the file"


@pytest.mark.parametrize(
    ("kwargs", "status", "words"),
    [
        ({"files": {"file": ("x.exe", b"MZ", "application/octet-stream")}}, 422, "unsupported file type '.exe'"),
        ({"files": {"file": ("x.txt", "ภาษาไทย".encode("tis-620"), "text/plain")}}, 422, "not UTF-8"),
        ({"files": {"file": ("x.txt", b"   \n", "text/plain")}}, 422, "empty document"),
        ({"files": {"file": ("../x.txt", b"abc", "text/plain")}}, 422, "doc_id"),
        ({"json": {**NEW, "doc_id": "../etc"}}, 422, "doc_id: doc_id must be a relative path"),
        ({"json": {**NEW, "doc_id": "a?b"}}, 422, "must not contain '?'"),
        ({"json": {"doc_id": "x"}}, 422, "text: Field required"),
        ({"json": {**NEW, "extra": 1}}, 422, "extra: Extra inputs are not permitted"),
        ({"content": b"hello", "headers": {"Content-Type": "text/plain"}}, 415, "application/json"),
        ({"files": {"doc_id": (None, "x")}}, 422, "form field 'file'"),
        ({"data": {"doc_id": "x"}}, 415, "multipart/form-data"),
    ],
)
def test_a_bad_upload_gets_a_clear_4xx_and_changes_nothing(admin, kwargs, status, words):
    version = admin.get("/readyz").json()["index_version"]
    headers = {**AS_ADMIN, **kwargs.pop("headers", {})}
    response = admin.post("/v1/documents", headers=headers, **kwargs)
    assert response.status_code == status, response.text
    # Every 422 has the documented shape: `message` says what is wrong, as for a question.
    said = response.json()["message"] if status == 422 else response.json()["detail"]
    assert words in said
    assert admin.get("/readyz").json()["index_version"] == version


def test_an_upload_over_the_size_limit_is_413(make_client):
    client = make_client(admin_key=Settings(admin_key=ADMIN).admin_key, max_upload_bytes=1024)
    files = {"file": ("big.txt", "ก".encode() * 2000, "text/plain")}
    response = client.post("/v1/documents", files=files, headers=AS_ADMIN)
    assert response.status_code == 413 and "1,024 bytes" in response.json()["detail"]


def test_deleting_a_document_removes_it_from_answers_and_the_store(admin):
    doc_id = "adgmin-2-results-2022"
    response = admin.delete(f"/v1/documents/{doc_id}", headers=AS_ADMIN)
    assert response.status_code == 200 and response.json()["removed"] == [doc_id]
    assert admin.get(f"/v1/documents/{doc_id}").status_code == 404
    answer = ask(admin, "ไทยได้รับรางวัล ASEAN ICT Award กี่รางวัล").json()
    assert doc_id not in {p["citation"]["doc_id"] for p in answer["passages"]}
    assert admin.delete(f"/v1/documents/{doc_id}", headers=AS_ADMIN).status_code == 404


def test_a_version_written_by_another_process_is_picked_up(make_client, fake_index, fake_embedder):
    client = make_client(reload_interval_s=0.05)
    version = client.get("/readyz").json()["index_version"]
    update_index(fake_index, fake_embedder, index_config(), upsert=[Document("cli", "เอกสารจากบรรทัดคำสั่ง", "cli")])
    deadline = time.monotonic() + 10
    while client.get("/readyz").json()["index_version"] == version and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.get("/readyz").json()["index_version"] == version + 1
    assert client.get("/v1/documents/cli").status_code == 200


def test_a_damaged_new_version_is_refused_and_the_old_one_keeps_serving(make_client, fake_index, fake_embedder, caplog):
    client = make_client(reload_interval_s=0.05)
    version = client.get("/readyz").json()["index_version"]
    update_index(fake_index, fake_embedder, index_config(), upsert=[Document("cli", "เอกสารใหม่", "cli")])
    chunks = resolve(fake_index) / "chunks.jsonl"
    chunks.write_text(chunks.read_text("utf-8").replace("ASEAN", "AAAAA", 1), "utf-8")
    time.sleep(0.5)
    assert client.get("/readyz").json()["index_version"] == version
    assert ask(client, "รางวัล").status_code == 200
    assert "refused, still serving version" in caplog.text and "does not match its checksum" in caplog.text


def test_a_search_key_guards_asking_reading_and_the_viewer(make_client):
    keys = Settings(admin_key=ADMIN, search_key=SEARCH)
    client = make_client(admin_key=keys.admin_key, search_key=keys.search_key)
    assert ask(client, "รางวัล").status_code == 401
    assert ask(client, "รางวัล", Authorization="Bearer nope-nope-nope-nope").status_code == 401
    assert client.get("/v1/documents/adgmin-2-results-2022").status_code == 401
    body = ask(client, "รางวัล", Authorization=f"Bearer {SEARCH}").json()
    assert ask(client, "รางวัล", **AS_ADMIN).status_code == 200, "the admin key can search too"
    c = body["passages"][0]["citation"]
    page = f"/documents/{c['doc_id']}?start={c['char_start']}&end={c['char_end']}"
    assert client.get(page).status_code == 401
    assert client.get(page + "&token=" + "0" * 32).status_code == 401
    assert client.get(page + f"&token={c['view_token']}").status_code == 200
    other = "asean-china-digital-economy-year-2020"
    assert client.get(f"/documents/{other}?token={c['view_token']}").status_code == 401, "a token opens one document"
    assert client.post("/v1/documents", json=NEW, headers={"Authorization": f"Bearer {SEARCH}"}).status_code == 401


def test_without_a_search_key_citations_carry_no_token(admin):
    body = ask(admin, "รางวัล").json()
    assert all(p["citation"]["view_token"] is None for p in body["passages"])


def test_admin_routes_never_send_cors_headers(make_client):
    origin = "http://127.0.0.1:9001"
    client = make_client(admin_key=Settings(admin_key=ADMIN).admin_key, cors_origins=[origin])
    assert ask(client, "รางวัล", Origin=origin).headers["access-control-allow-origin"] == origin
    post = client.post("/v1/documents", json=NEW, headers={**AS_ADMIN, "Origin": origin})
    assert post.status_code == 201 and "access-control-allow-origin" not in post.headers
    preflight = client.options("/v1/documents/x", headers={"Origin": origin, "Access-Control-Request-Method": "DELETE"})
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" in client.get("/v1/documents/ข่าว/ใหม่", headers={"Origin": origin}).headers
    report = client.get("/v1/log/report", headers={**AS_ADMIN, "Origin": origin})
    assert report.status_code == 200 and "access-control-allow-origin" not in report.headers
    # The widget's vote is a visitor's, not an operator's: it may come from the allowed site.
    vote = client.options("/v1/feedback", headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
    assert vote.headers.get("access-control-allow-origin") == origin


def test_production_refuses_to_start_without_an_admin_key_and_short_keys_are_refused(monkeypatch):
    monkeypatch.setenv("KHAMTOP_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="KHAMTOP_ADMIN_KEY must be set"):
        Settings()
    monkeypatch.setenv("KHAMTOP_ADMIN_KEY", ADMIN)
    assert Settings().admin_key.get_secret_value() == ADMIN
    assert ADMIN not in repr(Settings()), "keys are never printed"
    with pytest.raises(ValidationError, match="at least 16 characters"):
        Settings(search_key="short")
