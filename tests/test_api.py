"""The HTTP API, in process, with the fake embedder (the real model: test_end_to_end.py)."""

from __future__ import annotations

import threading

import pytest
from pydantic import SecretStr

from index.folder.load import resolve
from tests.fakes import FakeEmbedder
from tests.helpers import wait_ready

# Why a service is not ready, in full (file names, paths), is told to the admin only.
ADMIN = "admin-key-0123456789abcdef"
AS_ADMIN = {"X-API-Key": ADMIN}


def test_ask_returns_ranked_passages_whose_citations_slice_the_stored_text(client):
    response = client.post("/v1/ask", json={"question": "ไทยได้รับรางวัล ASEAN ICT Award กี่รางวัล", "top_k": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["question"] == "ไทยได้รับรางวัล ASEAN ICT Award กี่รางวัล"
    assert [p["rank"] for p in body["passages"]] == [1, 2, 3]
    scores = [p["score"] for p in body["passages"]]
    assert scores == sorted(scores, reverse=True)
    assert body["took_ms"] >= 0
    for passage in body["passages"]:
        citation = passage["citation"]
        doc = client.get(f"/v1/documents/{citation['doc_id']}").json()
        assert doc["text"][citation["char_start"] : citation["char_end"]] == passage["text"]
        assert citation["title"] == doc["title"]
    top = body["passages"][0]
    assert top["citation"]["doc_id"] == "adgmin-2-results-2022"
    assert "ASEAN ICT Award" in top["text"]


def test_ask_defaults_to_five_passages(client):
    response = client.post("/v1/ask", json={"question": "ศูนย์ปฏิบัติการต่อต้านการทุจริต"})
    assert response.status_code == 200
    assert len(response.json()["passages"]) == 5


def test_ask_attaches_source_url_where_the_document_has_one(client):
    body = client.post("/v1/ask", json={"question": "ผู้ช่วยรัฐมนตรี ดีอีเอส ADGMIN ครั้งที่ ๑ คู่เจรจา", "top_k": 10}).json()
    urls = {p["citation"]["doc_id"]: p["citation"]["source_url"] for p in body["passages"]}
    assert urls["adgmin-1-dialogue-partners-2021"] == "https://www.thaigov.go.th/news/contents/details/38530"


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ({"question": ""}, "question", "empty or blank"),
        ({"question": "   \n\t "}, "question", "empty or blank"),
        ({"question": "\u200b\u200b\ufeff"}, "question", "empty or blank"),  # invisible only
        ({"question": "ก" * 8001}, "question", "limit is 8,000"),
        ({"question": "ครม. คืออะไร", "top_k": 0}, "top_k", "greater than or equal to 1"),
        ({"question": "ครม. คืออะไร", "top_k": 51}, "top_k", "less than or equal to 50"),
        ({"question": "ครม. คืออะไร", "top_k": "many"}, "top_k", "valid integer"),
        ({"question": 42}, "question", "valid string"),
        ({}, "question", "required"),
        ({"question": "ครม.", "colour": "red"}, "colour", "not permitted"),
    ],
)
def test_ask_rejects_bad_input_with_422_saying_what_is_wrong(client, payload, field, words):
    response = client.post("/v1/ask", json=payload)
    assert response.status_code == 422
    body = response.json()
    assert field in body["message"] and words in body["message"]
    assert body["detail"][0]["loc"][-1] == field


def test_ask_accepts_a_question_of_exactly_8000_characters(client):
    assert client.post("/v1/ask", json={"question": "ข" * 8000}).status_code == 200


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]", b'"just a string"', '{"question": "ก"'.encode()])
def test_ask_rejects_malformed_json_with_422(client, raw):
    response = client.post("/v1/ask", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["message"]


def test_validation_errors_do_not_echo_the_input_back(client):
    response = client.post("/v1/ask", json={"question": "ลับมาก" * 1400})
    assert response.status_code == 422
    assert "ลับมาก" not in response.text


def test_get_document_returns_stored_text_and_metadata(client):
    response = client.get("/v1/documents/adgmin-1-dialogue-partners-2021")
    assert response.status_code == 200
    doc = response.json()
    assert doc["date"] == "2021-01-22"
    assert doc["language"] == "th"
    assert doc["text"].startswith(doc["title"])


def test_get_unknown_document_is_404_naming_the_id(client):
    response = client.get("/v1/documents/no-such-doc")
    assert response.status_code == 404
    assert "no-such-doc" in response.json()["detail"]


def test_health_and_docs_are_served(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["documents"] == 5
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert "/v1/ask" in schema["paths"]


def test_readyz_is_503_while_the_model_is_still_loading(make_client):
    release = threading.Event()

    def slow_factory(_config):
        release.wait(10)
        return FakeEmbedder()

    client = make_client(embedder_factory=slow_factory, ready=False)
    assert client.get("/healthz").status_code == 200
    not_ready = client.get("/readyz")
    assert not_ready.status_code == 503
    assert not_ready.headers["retry-after"]
    assert client.post("/v1/ask", json={"question": "ครม."}).status_code == 503
    release.set()
    assert wait_ready(client).status_code == 200


def test_service_refuses_an_index_built_with_another_model(make_client):
    client = make_client(FakeEmbedder(model_id="another-model"), ready=False, admin_key=SecretStr(ADMIN))
    assert wait_ready(client).status_code == 503
    response = client.get("/readyz", headers=AS_ADMIN)
    assert response.status_code == 503
    assert "another-model" in response.json()["detail"]
    assert "rebuild" in response.json()["detail"]
    assert client.post("/v1/ask", json={"question": "ครม."}).status_code == 503


def test_service_refuses_a_damaged_index_and_stays_unready(make_client, fake_index):
    chunks = resolve(fake_index) / "chunks.jsonl"
    chunks.write_text(chunks.read_text("utf-8").replace("อาเซียน", "ASEAN", 1), "utf-8")
    client = make_client(ready=False, admin_key=SecretStr(ADMIN))
    assert wait_ready(client).status_code == 503
    response = client.get("/readyz", headers=AS_ADMIN)
    assert response.status_code == 503
    assert "chunks.jsonl does not match its checksum" in response.json()["detail"]


def test_service_without_an_index_says_how_to_build_one(make_client, tmp_path):
    client = make_client(ready=False, index_dir=tmp_path / "missing", admin_key=SecretStr(ADMIN))
    assert wait_ready(client).status_code == 503
    response = client.get("/readyz", headers=AS_ADMIN)
    assert response.status_code == 503
    assert "khamtop index build" in response.json()["detail"]


@pytest.mark.parametrize("mode", ["dense", "keyword", "hybrid"])
def test_ask_takes_a_search_mode_and_says_which_answered(client, mode):
    body = client.post("/v1/ask", json={"question": "ศูนย์ปฏิบัติการต่อต้านการทุจริต", "mode": mode}).json()
    assert body["mode"] == mode and body["passages"]


def test_ask_without_a_mode_uses_the_setting(client):
    assert client.post("/v1/ask", json={"question": "ครม."}).json()["mode"] == "hybrid"


def test_ask_rejects_an_unknown_mode(client):
    response = client.post("/v1/ask", json={"question": "ครม.", "mode": "fuzzy"})
    assert response.status_code == 422 and "mode" in response.json()["message"]


def test_an_unexpected_loading_failure_is_reported_not_left_loading(make_client):
    def broken(_config):
        raise TypeError("a bug")

    response = wait_ready(make_client(embedder_factory=broken, ready=False))
    assert response.status_code == 503
    assert "unexpected error while loading" in response.json()["detail"]
