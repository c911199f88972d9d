"""Collections (index.store.collections): each an index of its own in the index folder, the
folder itself being ``default``; the CLI's ``--collection``, and over HTTP a question, a
document, an upload, the viewer and the admin's list, create and drop, each kept to its own
collection (fake embedder)."""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

import index.encoders.factory
from corpus.document import Document
from index.build.write import build_index
from index.store import collections
from khamtop.cli import app
from service.settings import Settings
from tests.fakes import FakeEmbedder
from tests.helpers import index_config

ADMIN = "admin-key-0123456789abcdef"
SEARCH = "search-key-0123456789abcdef"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
AS_SEARCH = {"Authorization": f"Bearer {SEARCH}"}
BUDGET = {
    "doc_id": "งบประมาณ/2567",
    "text": "สำนักงบประมาณจัดสรรงบประมาณรายจ่ายประจำปี ๒๕๖๗ ให้กรมชลประทานสร้างอ่างเก็บน้ำที่จังหวัดน่าน",
    "title": "งบประมาณกรมชลประทาน",
}


def test_a_collection_name_is_a_plain_lower_case_name(tmp_path):
    for good in ("default", "dept-budget", "a", "moi2"):
        assert collections.check_name(good) == good
    for bad in ("", "Dept", "-x", "1x", "a_b", "กรม", "a/b", "..", "x" * 41):
        with pytest.raises(collections.CollectionError, match="not a collection name"):
            collections.check_name(bad)
    assert collections.home_of(tmp_path, "default") == tmp_path
    assert collections.home_of(tmp_path, "dept-a") == tmp_path / "collections" / "dept-a"


def test_collections_are_made_listed_and_dropped_and_default_stays(tmp_path, fake_embedder):
    root = tmp_path / "idx"
    assert collections.names(root) == ["default"]
    collections.create(root, "dept-b")
    with pytest.raises(collections.CollectionError, match="exists already"):
        collections.create(root, "dept-b")
    build_index(
        [Document("a", "กรมบัญชีกลางเบิกจ่ายเงินเดือนข้าราชการ", "a")],
        fake_embedder,
        index_config(),
        root / "collections" / "dept-a",
    )
    assert collections.names(root) == ["default", "dept-a", "dept-b"]
    collections.drop(root, "dept-a")
    assert collections.names(root) == ["default", "dept-b"]
    assert not (root / "collections" / "dept-a").exists()
    with pytest.raises(collections.CollectionError, match="cannot be dropped"):
        collections.drop(root, "default")
    with pytest.raises(collections.CollectionError, match="no collection 'dept-z'"):
        collections.drop(root, "dept-z")


def test_settings_for_a_collection_act_on_its_home_and_publish_under_its_own_alias(tmp_path):
    settings = Settings(index_dir=tmp_path / "idx")
    assert (settings.collection, settings.index_dir, settings.index_root) == (
        "default",
        tmp_path / "idx",
        tmp_path / "idx",
    )
    dept = settings.for_collection("dept-a")
    assert dept.index_dir == tmp_path / "idx" / "collections" / "dept-a" and dept.index_root == tmp_path / "idx"
    assert dept.for_collection("default").index_dir == tmp_path / "idx"
    assert Settings(index_dir=tmp_path / "idx", collection="dept-a").index_dir == dept.index_dir
    options = Settings(index_dir=tmp_path / "idx", backend="qdrant", qdrant_url=str(tmp_path / "q"))
    assert options.backend_options().alias == "khamtop"
    assert options.for_collection("dept-a").backend_options().alias == "khamtop__dept-a"


def test_the_cli_builds_lists_asks_and_drops_a_collection(tmp_path, monkeypatch):
    monkeypatch.setattr(index.encoders.factory, "load_embedder", lambda settings: FakeEmbedder())
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "budget.md").write_text(BUDGET["text"], "utf-8")
    runner, root = CliRunner(), str(tmp_path / "idx")
    built = runner.invoke(app, ["index", "build", str(docs), "--out", root, "--collection", "dept-budget"])
    assert built.exit_code == 0, built.output
    assert "collections/dept-budget" in built.output
    listed = runner.invoke(app, ["collections", "list", "--index", root])
    assert "dept-budget\tversion 1\t1 documents" in listed.output
    asked = runner.invoke(
        app, ["ask", "อ่างเก็บน้ำที่จังหวัดน่าน", "--index", root, "--collection", "dept-budget", "--no-read", "--json"]
    )
    assert asked.exit_code == 0, asked.output
    assert '"doc_id": "budget"' in asked.output
    wrong = runner.invoke(app, ["ask", "น่าน", "--index", root, "--collection", "Dept"])
    assert wrong.exit_code == 2 and "'Dept' is not a collection name" in wrong.output
    dropped = runner.invoke(app, ["collections", "drop", "dept-budget", "--index", root])
    assert dropped.exit_code == 0 and collections.names(root) == ["default"]


@pytest.fixture
def admin(make_client):
    settings = Settings(admin_key=ADMIN, search_key=SEARCH)
    return make_client(admin_key=settings.admin_key, search_key=settings.search_key)


def ask(client, question, collection=None):
    body = {"question": question, "top_k": 5, "read": False}
    if collection is not None:
        body["collection"] = collection
    return client.post("/v1/ask", json=body, headers=AS_SEARCH)


def test_a_collection_made_over_http_answers_only_from_its_own_documents(admin):
    made = admin.post("/v1/collections", json={"name": "dept-budget"}, headers=AS_ADMIN)
    assert made.status_code == 201 and made.json()["problem"] == "no documents yet"
    empty = ask(admin, "อ่างเก็บน้ำ", "dept-budget")
    assert empty.status_code == 409 and "has no documents yet" in empty.json()["detail"]
    added = admin.post("/v1/documents?collection=dept-budget", json=BUDGET, headers=AS_ADMIN)
    assert added.status_code == 201, added.text
    assert added.json()["index_version"] == 1
    mine = ask(admin, "อ่างเก็บน้ำที่จังหวัดน่าน", "dept-budget").json()
    assert mine["collection"] == "dept-budget"
    assert [p["citation"]["doc_id"] for p in mine["passages"]] == ["งบประมาณ/2567"]
    default = ask(admin, "อ่างเก็บน้ำที่จังหวัดน่าน").json()
    assert default["collection"] == "default" and default["passages"]
    assert "งบประมาณ/2567" not in {p["citation"]["doc_id"] for p in default["passages"]}
    listed = admin.get("/v1/collections", headers=AS_ADMIN).json()["collections"]
    assert [(c["name"], c["served"], c["documents"]) for c in listed] == [
        ("default", True, listed[0]["documents"]),
        ("dept-budget", True, 1),
    ]


def test_a_document_of_one_collection_is_not_found_through_another(admin):
    admin.post("/v1/collections", json={"name": "dept-budget"}, headers=AS_ADMIN)
    admin.post("/v1/documents?collection=dept-budget", json=BUDGET, headers=AS_ADMIN)
    doc = "/v1/documents/งบประมาณ/2567"
    assert admin.get(f"{doc}?collection=dept-budget", headers=AS_SEARCH).json()["title"] == BUDGET["title"]
    assert admin.get(doc, headers=AS_SEARCH).status_code == 404
    assert admin.delete(doc, headers=AS_ADMIN).status_code == 404, "a removal in default cannot reach it"
    token = ask(admin, "อ่างเก็บน้ำที่จังหวัดน่าน", "dept-budget").json()["passages"][0]["citation"]["view_token"]
    page = "/documents/งบประมาณ/2567"
    assert admin.get(f"{page}?collection=dept-budget&token={token}").status_code == 200
    # The token opens that collection's document only, not the same id in another collection.
    assert admin.get(f"{page}?token={token}").status_code == 401
    assert admin.get(f"{page}?collection=other&token={token}").status_code == 401


def test_an_unknown_collection_is_a_404_and_a_bad_name_a_422(admin):
    assert ask(admin, "อ่างเก็บน้ำ", "nowhere").status_code == 404
    assert ask(admin, "อ่างเก็บน้ำ", "No Where").status_code == 422
    assert admin.get("/v1/documents/x?collection=nowhere", headers=AS_SEARCH).status_code == 404
    assert admin.post("/v1/documents?collection=nowhere", json=BUDGET, headers=AS_ADMIN).status_code == 404
    assert admin.post("/v1/collections", json={"name": "default"}, headers=AS_ADMIN).status_code == 409
    assert admin.post("/v1/collections", json={"name": "Bad"}, headers=AS_ADMIN).status_code == 422


def test_collection_admin_routes_need_the_admin_key(admin):
    for response in (
        admin.get("/v1/collections", headers=AS_SEARCH),
        admin.post("/v1/collections", json={"name": "x"}, headers=AS_SEARCH),
        admin.delete("/v1/collections/x", headers=AS_SEARCH),
    ):
        assert response.status_code == 401


def test_a_dropped_collection_is_no_longer_answered_and_default_cannot_be_dropped(admin):
    admin.post("/v1/collections", json={"name": "dept-budget"}, headers=AS_ADMIN)
    admin.post("/v1/documents?collection=dept-budget", json=BUDGET, headers=AS_ADMIN)
    assert admin.delete("/v1/collections/dept-budget", headers=AS_ADMIN).status_code == 204
    assert ask(admin, "อ่างเก็บน้ำ", "dept-budget").status_code == 404
    assert admin.delete("/v1/collections/default", headers=AS_ADMIN).status_code == 409
    assert ask(admin, "อ่างเก็บน้ำ").status_code == 200


def test_a_collection_built_by_another_process_is_picked_up_while_serving(make_client, settings, fake_embedder):
    client = make_client(reload_interval_s=0.05)
    home = settings.for_collection("dept-budget").index_dir
    build_index([Document("budget", BUDGET["text"], "budget")], fake_embedder, index_config(), home)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        response = client.post("/v1/ask", json={"question": "อ่างเก็บน้ำ", "collection": "dept-budget", "read": False})
        if response.status_code == 200:
            break
        time.sleep(0.05)
    assert response.status_code == 200 and response.json()["passages"][0]["citation"]["doc_id"] == "budget"
