"""A version as a Qdrant collection behind an alias (index.backends.qdrant.server): in qdrant-client's
local mode, and against a real server when KHAMTOP_TEST_QDRANT_URL names one."""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time

import pytest

from corpus.document import Document
from eval.datasets import GOLD
from index.folder.load import load_index
from index.backends.qdrant.points import SearchPart
from index.backends.qdrant.server import QdrantEngine, head, live, publish
from index.backends.qdrant.server_backend import ServerBackend
from index.search.retriever import Retriever
from index.backends.qdrant.sparse import WordIds
from index.build.write import update_index
from tests.helpers import (
    LOCAL_MODE_WARNINGS,
    index_config,
    live_manifest,
    make_retriever,
    scale_extra,
    search_config,
    wait_ready,
)

QdrantClient = scale_extra("qdrant_client", "qdrant-client").QdrantClient

pytestmark = LOCAL_MODE_WARNINGS
QUESTIONS = [json.loads(line)["question"] for line in GOLD.read_text("utf-8").splitlines()][::8]
SERVER = os.environ.get("KHAMTOP_TEST_QDRANT_URL")


@pytest.fixture(autouse=True)
def _clients_closed():
    """Each test's local-mode folders are closed with it (index.backends.qdrant.server keeps one client
    per folder for the process)."""
    from index.backends.qdrant.server import close_all

    yield
    close_all()


@pytest.fixture(params=["local", "server"])
def client(request, tmp_path):
    if request.param == "local":
        client = QdrantClient(path=str(tmp_path / "qdrant"))
    elif SERVER:
        client = QdrantClient(url=SERVER, api_key=os.environ.get("KHAMTOP_TEST_QDRANT_API_KEY"))
    else:
        pytest.skip("no Qdrant server: set KHAMTOP_TEST_QDRANT_URL (and KHAMTOP_TEST_QDRANT_API_KEY) to run these")
    yield client
    for c in client.get_collections().collections:
        if c.name.startswith("khamtop-test"):
            client.delete_collection(c.name)
    client.close()


def engine_of(client, index) -> QdrantEngine:
    words = WordIds.empty().assign(index.keyword.bm25.vocab_dict)
    return QdrantEngine(client, live(client, "khamtop-test"), words)


def test_a_published_version_is_its_own_collection_and_the_alias_names_it(client, fake_index, fake_embedder):
    index = load_index(fake_index, fake_embedder)
    name = publish(client, SearchPart.of(index), "khamtop-test")
    assert name.startswith(f"khamtop-test-v{index.version:06d}-")
    assert live(client, "khamtop-test") == name
    assert publish(client, SearchPart.of(index), "khamtop-test") != name, "each write has a collection of its own"
    assert client.count(name).count == len(index.chunks)


def test_the_collection_ranks_thai_questions_as_the_embedded_files_do(client, fake_index, fake_embedder):
    index = load_index(fake_index, fake_embedder)
    publish(client, SearchPart.of(index), "khamtop-test")
    embedded = make_retriever(fake_embedder, index)
    remote = Retriever(fake_embedder, index, search_config(), engine=engine_of(client, index))
    for question in QUESTIONS:
        want, got = embedded.search(question, 10, read=False), remote.search(question, 10, read=False)
        assert [p.passage.id for p in got.passages] == [p.passage.id for p in want.passages]
        for a, b in zip(want.passages, got.passages):
            assert a.score == pytest.approx(b.score, abs=1e-5)


def test_every_answer_names_one_version_while_the_alias_moves(client, fake_index, fake_embedder, bundled_documents):
    first = load_index(fake_index, fake_embedder)
    first_name = publish(client, SearchPart.of(first), "khamtop-test")
    changed = dataclasses.replace(bundled_documents[0], text=bundled_documents[0].text + "\nย่อหน้าใหม่ของฉบับที่สอง")
    update_index(fake_index, fake_embedder, index_config(), upsert=[changed])
    second = load_index(fake_index, fake_embedder)
    words = WordIds.empty().assign(first.keyword.bm25.vocab_dict)
    seen: list[tuple[str, set[int]]] = []
    stop, asking = threading.Event(), threading.Event()

    def ask() -> None:
        after = 0  # answers begun after the swap: the loop ends five of them later
        while after < 5:
            after += stop.is_set()
            collection = live(client, "khamtop-test")  # the alias, resolved once per question
            engine = QdrantEngine(client, collection, words)
            ids = [c for c, _ in engine.keyword(["กระทรวง", "ดิจิทัล"], 10)]
            points = client.retrieve(collection, ids, with_payload=["since"])
            seen.append((collection, {p.payload["since"] for p in points}))
            if len(seen) == 3:
                asking.set()
            # Local mode is pure Python under one lock: a loop that never pauses starves the
            # publish it is waiting for.
            time.sleep(0.005)

    asker = threading.Thread(target=ask)
    asker.start()
    assert asking.wait(timeout=60)  # the loop is answering from the first version: now swap
    second_name = publish(client, SearchPart.of(second), "khamtop-test")
    stop.set()
    asker.join(timeout=60)
    assert not asker.is_alive()
    names = {name for name, _ in seen}
    assert names == {first_name, second_name}
    for name, versions in seen:
        assert versions == {first.version if name == first_name else second.version}, (name, versions)
    assert seen[-1][0] == second_name


def test_only_the_newest_three_collections_are_kept(client, fake_index, fake_embedder, bundled_documents):
    for n in range(4):
        changed = dataclasses.replace(bundled_documents[0], text=bundled_documents[0].text + f"\nฉบับที่ {n}")
        update_index(fake_index, fake_embedder, index_config(), upsert=[changed])
        publish(client, SearchPart.of(load_index(fake_index, fake_embedder)), "khamtop-test")
    names = sorted(c.name for c in client.get_collections().collections if c.name.startswith("khamtop-test-v"))
    versions = [n for n in names if not n.endswith(("-documents", "-words"))]
    assert len(versions) == 3, names
    assert len(names) == 9, "each kept version with its documents and words, and no other"
    assert live(client, "khamtop-test") == versions[-1]


def test_the_service_answers_from_its_versions_collection_and_an_admin_update_writes_only_its_document(
    make_client, tmp_path, bundled_documents, fake_embedder
):
    from index.backends.qdrant.server import ServerTarget, connect
    from index.build.write import build_index
    from service.settings import Settings

    folder = str(tmp_path / "qdrant-local")  # qdrant-client's local mode, opened once in this process
    target = ServerTarget(folder, alias="khamtop-test")
    build_index(
        bundled_documents,
        fake_embedder,
        dataclasses.replace(index_config(), backend=ServerBackend(target)),
        tmp_path / "ix",
    )
    built = live(connect(folder), "khamtop-test")
    assert built.startswith("khamtop-test-v000001-")
    admin_key = "admin-key-0123456789abcdef"
    service = make_client(
        index_dir=tmp_path / "ix",
        backend="qdrant",
        qdrant_url=folder,
        qdrant_alias="khamtop-test",
        qdrant_rewrite_after=1.0,  # one document is more than a hundredth of this corpus
        admin_key=Settings(admin_key=admin_key).admin_key,
    )
    build_index(bundled_documents, fake_embedder, index_config(), tmp_path / "embedded")
    embedded = make_retriever(fake_embedder, load_index(tmp_path / "embedded", fake_embedder))
    body = service.post("/v1/ask", json={"question": QUESTIONS[0], "top_k": 5, "read": False}).json()
    want = embedded.search(QUESTIONS[0], 5, read=False)
    got = [(p["citation"]["doc_id"], p["citation"]["char_start"], p["score"]) for p in body["passages"]]
    assert [g[:2] for g in got] == [(p.passage.doc_id, p.passage.char_start) for p in want.passages]
    assert [g[2] for g in got] == pytest.approx([p.score for p in want.passages], abs=1e-5)

    new = {"doc_id": "ข่าว/ใหม่", "text": "กระทรวงดิจิทัลเปิดศูนย์ข้อมูลขนาดใหญ่แห่งใหม่ที่จังหวัดขอนแก่น", "title": "ศูนย์ข้อมูลขอนแก่น"}
    added = service.post("/v1/documents", json=new, headers={"Authorization": f"Bearer {admin_key}"})
    assert added.status_code == 201, added.text
    assert live(connect(folder), "khamtop-test") == built, "an update is written into the live collection"
    assert head(connect(folder), built) == 2
    written = live_manifest(tmp_path / "ix")["engine"]["written"]
    assert {k: written[k] for k in ("kind", "parent", "points", "ended", "documents")} == {
        "kind": "in place",
        "parent": 1,
        "points": 1,
        "ended": 0,
        "documents": 1,
    }
    after = service.post("/v1/ask", json={"question": "ศูนย์ข้อมูลขอนแก่น", "top_k": 3, "read": False}).json()
    assert after["index_version"] == 2
    assert after["passages"][0]["citation"]["doc_id"] == "ข่าว/ใหม่"

    # Filters are the server's payload filters: the tagged update alone, a date range, nothing.
    tagged = {**new, "doc_id": "ข่าว/ติดป้าย", "tags": {"department": "digital"}, "date": "2568-01-15"}
    assert (
        service.post("/v1/documents", json=tagged, headers={"Authorization": f"Bearer {admin_key}"}).status_code == 201
    )
    ask = lambda f: service.post("/v1/ask", json={"question": "ศูนย์ข้อมูล", "read": False, "filter": f})  # noqa: E731
    only = ask({"tags": {"department": "digital"}})
    assert only.status_code == 200, only.text
    assert {p["citation"]["doc_id"] for p in only.json()["passages"]} == {"ข่าว/ติดป้าย"}
    assert {p["citation"]["doc_id"] for p in ask({"date_from": "๒๕๖๘"}).json()["passages"]} == {"ข่าว/ติดป้าย"}
    nothing = ask({"tags": {"department": "defence"}}).json()
    assert nothing["passages"] == [] and nothing["no_answer"] is True


def test_a_version_that_was_not_published_is_refused_with_the_command_that_fixes_it(
    fake_index, fake_embedder, tmp_path
):
    from index.store.manifest import IndexLoadError
    from service.settings import Settings
    from service.state import open_index

    settings = Settings(index_dir=fake_index, backend="qdrant", qdrant_url=str(tmp_path / "q"))
    with pytest.raises(IndexLoadError, match="not published to Qdrant.*KHAMTOP_BACKEND=qdrant khamtop index build"):
        open_index(settings, fake_embedder)


def test_the_qdrant_backend_needs_a_url():
    from pydantic import ValidationError

    from service.settings import Settings

    with pytest.raises(ValidationError, match="KHAMTOP_QDRANT_URL"):
        Settings(backend="qdrant")


def _published(tmp_path, documents, embedder, alias="khamtop-test"):
    """The bundled corpus built with its search part published to qdrant-client's local mode."""
    from index.backends.qdrant.server import ServerTarget
    from index.build.write import build_index

    target = ServerTarget(str(tmp_path / "qdrant-local"), alias=alias)
    build_index(
        documents, embedder, dataclasses.replace(index_config(), backend=ServerBackend(target)), tmp_path / "ix"
    )
    return target


def replica_of(make_client, target, tmp_path, **overrides):
    """A service that serves ``target``'s live version with no index folder."""
    return make_client(
        index_dir=tmp_path / "no-such-folder",
        backend="qdrant",
        qdrant_url=target.url,
        qdrant_alias=target.alias,
        qdrant_replica=True,
        **overrides,
    )


def test_a_replica_with_no_index_folder_answers_as_the_folder_does_and_follows_the_alias(
    make_client, tmp_path, bundled_documents, fake_embedder
):
    from index.build.write import build_index

    target = _published(tmp_path, bundled_documents, fake_embedder)
    # The same documents in the embedded backend's files.
    build_index(bundled_documents, fake_embedder, index_config(), tmp_path / "embedded")
    folder = make_client(index_dir=tmp_path / "embedded")
    replica = replica_of(make_client, target, tmp_path, reload_interval_s=0.05)
    for question in QUESTIONS:
        ask = {"question": question, "top_k": 5, "read": False}
        want, got = folder.post("/v1/ask", json=ask).json(), replica.post("/v1/ask", json=ask).json()
        for a, b in zip(want["passages"], got["passages"], strict=True):
            assert (a["citation"], a["text"]) == (b["citation"], b["text"]), question
            assert {**a["highlight"], "score": 0} == {**b["highlight"], "score": 0}, question
            assert a["highlight"]["score"] == pytest.approx(b["highlight"]["score"], abs=1e-5)
            assert a["score"] == pytest.approx(b["score"], abs=1e-5)
        assert want["answer"] == got["answer"] or want["answer"]["score"] == pytest.approx(got["answer"]["score"])
    doc_id = bundled_documents[0].doc_id
    assert replica.get(f"/v1/documents/{doc_id}").json()["text"] == bundled_documents[0].text

    # A writer elsewhere writes a new version into the collection in place, then one as a new
    # collection: the replica follows both.
    def update(share: float, **change) -> str:
        config = dataclasses.replace(
            index_config(), backend=ServerBackend(dataclasses.replace(target, rewrite_after=share))
        )
        update_index(tmp_path / "ix", fake_embedder, config, **change)
        return live_manifest(tmp_path / "ix")["engine"]["written"]["kind"]

    def served_after(version: int) -> dict:
        deadline = time.monotonic() + 20
        while replica.get("/readyz").json()["index_version"] < version and time.monotonic() < deadline:
            time.sleep(0.05)
        return replica.post("/v1/ask", json={"question": "ศูนย์ข้อมูลขอนแก่น", "top_k": 3, "read": False}).json()

    changed = Document("ข่าว/ใหม่", "กระทรวงดิจิทัลเปิดศูนย์ข้อมูลขนาดใหญ่แห่งใหม่ที่จังหวัดขอนแก่น", "ศูนย์ข้อมูลขอนแก่น")
    assert update(1.0, upsert=[changed]) == "in place"
    after = served_after(2)
    assert after["index_version"] == 2
    assert after["passages"][0]["citation"]["doc_id"] == "ข่าว/ใหม่"
    assert update(0.0, remove=[changed.doc_id]) == "collection"
    after = served_after(3)
    assert after["index_version"] == 3
    assert all(p["citation"]["doc_id"] != "ข่าว/ใหม่" for p in after["passages"])


def test_a_replica_refuses_admin_changes_and_names_where_they_go(
    make_client, tmp_path, bundled_documents, fake_embedder
):
    from service.settings import Settings

    target = _published(tmp_path, bundled_documents, fake_embedder)
    admin_key = "admin-key-0123456789abcdef"
    replica = replica_of(make_client, target, tmp_path, admin_key=Settings(admin_key=admin_key).admin_key)
    response = replica.delete(f"/v1/documents/{bundled_documents[0].doc_id}", headers={"X-API-Key": admin_key})
    assert response.status_code == 403
    assert "replica" in response.json()["detail"]


def test_a_replica_with_no_published_version_is_not_ready_and_says_why(make_client, tmp_path):
    replica = make_client(
        ready=False, index_dir=tmp_path / "x", backend="qdrant", qdrant_url=str(tmp_path / "empty"), qdrant_replica=True
    )
    response = wait_ready(replica)
    assert response.status_code == 503


def test_a_replica_whose_server_fails_answers_503_not_500(make_client, tmp_path, bundled_documents, fake_embedder):
    from index.backends.qdrant.server import connect

    target = _published(tmp_path, bundled_documents, fake_embedder)
    replica = replica_of(make_client, target, tmp_path)
    client = connect(target.url)

    def down(*args, **kwargs):
        raise ConnectionError("connection refused")

    original = client.query_points
    client.query_points = down
    try:
        response = replica.post("/v1/ask", json={"question": QUESTIONS[0], "read": False})
    finally:
        client.query_points = original
    assert response.status_code == 503, response.text
    assert "search engine" in response.json()["detail"] and response.headers["retry-after"]


def test_two_words_asking_for_one_slot_are_both_found(client, monkeypatch):
    import index.backends.qdrant.remote as remote
    from index.backends.qdrant.server import upsert_words
    from index.backends.qdrant.remote import RemoteKeyword

    real = remote.hashed_id
    # "ข" asks first for the slot "ก" holds, as a hash collision would make it.
    monkeypatch.setattr(remote, "hashed_id", lambda w, probe=0: real("ก") if (w, probe) == ("ข", 0) else real(w, probe))
    client.create_collection("khamtop-test-words", vectors_config={})
    upsert_words(client, "khamtop-test", {real("ก"): ("ก", 3), real("ข", 1): ("ข", 5)}, version=1)
    found = RemoteKeyword(client, "khamtop-test-words", num_docs=10, version=1).lookup(["ก", "ข", "ค"])
    assert found == {"ก": (real("ก"), 3), "ข": (real("ข", 1), 5), "ค": None}


def test_a_publish_that_fails_half_way_changes_neither_the_folder_nor_the_alias(
    tmp_path, bundled_documents, fake_embedder
):
    from index.store import versions
    from index.store.manifest import IndexLoadError
    from index.backends.qdrant.server import connect

    target = _published(tmp_path, bundled_documents, fake_embedder)
    client = connect(target.url)
    before = (versions.read_current(tmp_path / "ix"), live(client, target.alias))
    calls = {"n": 0}
    original = client.upsert

    def fails_on_the_second(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise ConnectionError("connection reset")
        return original(*args, **kwargs)

    client.upsert = fails_on_the_second
    changed = Document("ข่าว/ใหม่", "กระทรวงดิจิทัลเปิดศูนย์ข้อมูลแห่งใหม่", "ศูนย์ข้อมูล")
    try:
        with pytest.raises(IndexLoadError, match="cannot be asked"):
            update_index(
                tmp_path / "ix",
                fake_embedder,
                dataclasses.replace(index_config(), backend=ServerBackend(target)),
                [changed],
            )
    finally:
        client.upsert = original
    assert (versions.read_current(tmp_path / "ix"), live(client, target.alias)) == before


def test_a_version_whose_collection_is_gone_from_the_server_must_be_rebuilt(tmp_path, bundled_documents, fake_embedder):
    from index.backends.qdrant.server import connect

    target = _published(tmp_path, bundled_documents, fake_embedder)
    config = dataclasses.replace(index_config(), backend=ServerBackend(target))
    manifest = live_manifest(tmp_path / "ix")
    assert config.engine_mismatch(manifest) is None
    connect(target.url).delete_collection(manifest["engine"]["collection"])
    assert "is not on the Qdrant server" in config.engine_mismatch(manifest)


def test_dropping_a_collection_removes_its_qdrant_collections_and_alias_and_no_other(
    tmp_path, bundled_documents, fake_embedder
):
    from index.backends.qdrant.server import ServerTarget, connect
    from index.build.write import build_index
    from index.store import collections

    folder = str(tmp_path / "qdrant-local")
    root = tmp_path / "ix"
    kept, doomed = ServerTarget(folder, alias="khamtop-test"), ServerTarget(folder, alias="khamtop-test__dept-a")
    build_index(
        bundled_documents[:2], fake_embedder, dataclasses.replace(index_config(), backend=ServerBackend(kept)), root
    )
    home = collections.home_of(root, "dept-a")
    backend = ServerBackend(doomed)
    build_index(bundled_documents[2:], fake_embedder, dataclasses.replace(index_config(), backend=backend), home)
    client = connect(folder)
    names = lambda: {c.name for c in client.get_collections().collections}  # noqa: E731
    assert any(n.startswith("khamtop-test__dept-a-v") for n in names())
    collections.drop(root, "dept-a", backend.forget)
    assert not any(n.startswith("khamtop-test__dept-a") for n in names()), names()
    assert live(client, "khamtop-test__dept-a") is None
    assert live(client, "khamtop-test") in names(), "the other collection's alias and points are untouched"
    assert collections.names(root) == ["default"]
