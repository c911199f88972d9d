"""Admin updates written into the live Qdrant collection in place (index.qdrant_updates), in
qdrant-client's local mode: what an update writes, what the live version sees meanwhile, what a
failed write leaves, and what is deleted."""

from __future__ import annotations

import dataclasses
import json

import pytest

from corpus.document import Document
from eval.datasets import GOLD
from index.load import load_index
from index.qdrant_remote import RemoteIndex
from index.qdrant_server import OPEN, ServerTarget, close_all, connect, head, live, open_engine, visible_at
from index.search import Retriever
from index.sparse import document_frequencies
from index.write import build_index, update_index
from tests.helpers import LOCAL_MODE_WARNINGS, index_config, make_retriever, scale_extra, search_config

models = scale_extra("qdrant_client.models", "qdrant-client")


pytestmark = LOCAL_MODE_WARNINGS
QUESTIONS = [json.loads(line)["question"] for line in GOLD.read_text("utf-8").splitlines()][::10]
NEW = Document("ข่าว/ใหม่", "กระทรวงดิจิทัลเปิดศูนย์ข้อมูลขนาดใหญ่แห่งใหม่ที่จังหวัดขอนแก่น", "ศูนย์ข้อมูลขอนแก่น")


@pytest.fixture(autouse=True)
def _clients_closed():
    yield
    close_all()


def published(tmp_path, documents, embedder, idf="full", **target):
    """The bundled corpus built as version 1 of a collection in local mode; its config and client."""
    # Every update in place: here one document is a fifth of the corpus.
    target = ServerTarget(
        str(tmp_path / "qdrant-local"), alias="khamtop-test", idf=idf, **{"rewrite_after": 1.0, **target}
    )
    config = dataclasses.replace(index_config(), server=target)
    build_index(documents, embedder, config, tmp_path / "ix")
    return config, connect(target.url)


def points_of(client, collection: str) -> dict[int, dict]:
    records, _ = client.scroll(collection, limit=100_000, with_payload=True)
    return {int(r.id): r.payload for r in records}


def vectors_of(client, collection: str) -> dict[int, dict]:
    records, _ = client.scroll(collection, limit=100_000, with_vectors=True)
    return {int(r.id): r.vector for r in records}


def count(client, collection: str, version: int) -> int:
    return client.count(collection, count_filter=visible_at(version), exact=True).count


def test_an_update_writes_only_its_documents_points_and_the_rest_keep_theirs(
    tmp_path, bundled_documents, fake_embedder
):
    config, client = published(tmp_path, bundled_documents, fake_embedder)
    first = load_index(tmp_path / "ix", fake_embedder)
    name = first.manifest["engine"]["collection"]
    before, vectors = points_of(client, name), vectors_of(client, name)
    changed = dataclasses.replace(bundled_documents[0], text=bundled_documents[0].text + "\nย่อหน้าใหม่ของฉบับที่สอง")
    removed = bundled_documents[1].doc_id
    update_index(tmp_path / "ix", fake_embedder, config, upsert=[changed, NEW], remove=[removed])

    second = load_index(tmp_path / "ix", fake_embedder)
    assert live(client, "khamtop-test") == second.manifest["engine"]["collection"] == name
    assert head(client, name) == 2
    after = points_of(client, name)
    by_doc = {}
    for point_id, payload in before.items():
        by_doc.setdefault(payload["doc_id"], []).append(point_id)
    ended = set(by_doc[changed.doc_id]) | set(by_doc[removed])
    for point_id, payload in before.items():
        # An unchanged document's points are the same points, untouched; the others are ended.
        want = {**payload, "until": 2} if point_id in ended else payload
        assert after[point_id] == want
    assert {p: v for p, v in vectors_of(client, name).items() if p in before} == vectors
    new_points = {p: payload for p, payload in after.items() if p not in before}
    assert {payload["doc_id"] for payload in new_points.values()} == {changed.doc_id, NEW.doc_id}
    assert all((payload["since"], payload["until"]) == (2, OPEN) for payload in new_points.values())
    written = second.manifest["engine"]["written"]
    assert (written["points"], written["ended"], written["documents"]) == (len(new_points), len(ended), 2)
    assert count(client, name, 1) == len(first.chunks) and count(client, name, 2) == len(second.chunks)


def test_the_live_version_answers_as_before_while_the_next_is_written(tmp_path, bundled_documents, fake_embedder):
    config, client = published(tmp_path, bundled_documents, fake_embedder)
    first = load_index(tmp_path / "ix", fake_embedder)
    serving = make_retriever(fake_embedder, first)
    remote = Retriever(fake_embedder, first, search_config(), engine=open_engine(first, config.server))
    before = {q: [p.passage.id for p in remote.search(q, 10, read=False).passages] for q in QUESTIONS}
    assert before == {q: [p.passage.id for p in serving.search(q, 10, read=False).passages] for q in QUESTIONS}
    changed = dataclasses.replace(bundled_documents[0], text="กระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม " * 40)
    update_index(tmp_path / "ix", fake_embedder, config, upsert=[changed, NEW], remove=[bundled_documents[2].doc_id])
    # The collection now holds version 2 too; version 1's questions see version 1 only.
    assert before == {q: [p.passage.id for p in remote.search(q, 10, read=False).passages] for q in QUESTIONS}


def test_with_the_engines_idf_an_updated_version_ranks_as_its_embedded_files(
    tmp_path, bundled_documents, fake_embedder
):
    config, client = published(tmp_path, bundled_documents, fake_embedder, idf="engine")
    update_index(tmp_path / "ix", fake_embedder, config, upsert=[NEW], remove=[bundled_documents[1].doc_id])
    index = load_index(tmp_path / "ix", fake_embedder)
    assert index.manifest["engine"]["written"]["kind"] == "in place"
    embedded = make_retriever(fake_embedder, index)
    remote = Retriever(fake_embedder, index, search_config(), engine=open_engine(index, config.server))
    for question in QUESTIONS:
        want, got = embedded.search(question, 10, read=False), remote.search(question, 10, read=False)
        assert [p.passage.id for p in got.passages] == [p.passage.id for p in want.passages], question
        for a, b in zip(want.passages, got.passages):
            # Kept points keep the BM25 length normalisation of the version that wrote them.
            assert a.score == pytest.approx(b.score, abs=1e-3)


def test_what_a_failed_update_wrote_is_undone_by_the_next(tmp_path, bundled_documents, fake_embedder):
    from index import versions
    from index.layout import IndexLoadError

    config, client = published(tmp_path, bundled_documents, fake_embedder)
    name = load_index(tmp_path / "ix", fake_embedder).manifest["engine"]["collection"]
    original = client.upsert
    calls = {"n": 0}

    def fails_on_the_second(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the points are written, the document rows are not
            raise ConnectionError("connection reset")
        return original(*args, **kwargs)

    client.upsert = fails_on_the_second
    try:
        with pytest.raises(IndexLoadError, match="cannot be asked"):
            update_index(tmp_path / "ix", fake_embedder, config, upsert=[NEW], remove=[bundled_documents[0].doc_id])
    finally:
        client.upsert = original
    assert versions.read_current(tmp_path / "ix") == "v000001" and head(client, name) == 1
    left = points_of(client, name)
    assert any(p["doc_id"] == NEW.doc_id for p in left.values()), "the failed write got as far as its points"

    other = Document("ข่าว/อื่น", "สำนักงานสถิติแห่งชาติเผยแพร่ผลสำรวจการใช้อินเทอร์เน็ตของครัวเรือน", "ผลสำรวจ")
    update_index(tmp_path / "ix", fake_embedder, config, upsert=[other])
    index = load_index(tmp_path / "ix", fake_embedder)
    assert index.version == 2 and head(client, name) == 2
    visible = {
        r.payload["doc_id"]
        for r in client.scroll(name, scroll_filter=visible_at(2), limit=100_000, with_payload=["doc_id"])[0]
    }
    assert visible == set(index.documents.doc_ids), "neither the failed write's document nor its removal stayed"
    assert count(client, name, 2) == len(index.chunks)
    replica = RemoteIndex(client, name)  # the documents' rows too: the failed write had ended one
    assert bundled_documents[0].doc_id in replica.documents and NEW.doc_id not in replica.documents
    assert replica.documents[other.doc_id].text == other.text


def test_points_that_no_kept_version_holds_are_deleted(tmp_path, bundled_documents, fake_embedder):
    config, client = published(tmp_path, bundled_documents, fake_embedder)
    name = load_index(tmp_path / "ix", fake_embedder).manifest["engine"]["collection"]
    doc = bundled_documents[0]
    for n in range(4):  # versions 2 to 5, each with another text of the first document
        changed = dataclasses.replace(doc, text=doc.text + f"\nฉบับที่ {n}")
        update_index(tmp_path / "ix", fake_embedder, config, upsert=[changed])
    kept = points_of(client, name)
    # Versions 3, 4 and 5 are kept: the first document's points of versions 1 and 2 are gone.
    texts = {(p["since"], p["until"]) for p in kept.values() if p["doc_id"] == doc.doc_id}
    assert texts == {(3, 4), (4, 5), (5, OPEN)}
    for version in (3, 4, 5):
        assert count(client, name, version) == len(load_index(tmp_path / "ix", fake_embedder).chunks)
    rows, _ = client.scroll(
        f"{name}-documents",
        scroll_filter=models.Filter(
            must=[models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc.doc_id))]
        ),
        limit=100,
    )
    assert sorted(r.payload["since"] for r in rows) == [3, 4, 5]
    words, _ = client.scroll(f"{name}-words", limit=100_000)
    assert words and min(r.payload["until"] for r in words) > 3, "the words' rows of versions 1 and 2 are gone too"


def test_an_update_past_the_share_written_in_place_writes_a_new_collection(tmp_path, bundled_documents, fake_embedder):
    config, client = published(tmp_path, bundled_documents, fake_embedder, rewrite_after=0.1)
    first = load_index(tmp_path / "ix", fake_embedder).manifest["engine"]
    update_index(tmp_path / "ix", fake_embedder, config, upsert=[NEW])  # one passage: within a tenth
    second = load_index(tmp_path / "ix", fake_embedder).manifest["engine"]
    assert (second["collection"], second["changed"], second["written"]["kind"]) == (first["collection"], 1, "in place")
    index = load_index(tmp_path / "ix", fake_embedder)
    passages = {d: sum(c.doc_id == d for c in index.chunks) for d in index.documents.doc_ids}
    biggest = max(passages, key=passages.get)
    assert 1 + passages[biggest] > 0.1 * first["whole"], "removing it takes the changes past the share"
    update_index(tmp_path / "ix", fake_embedder, config, remove=[biggest])
    third = load_index(tmp_path / "ix", fake_embedder)
    engine = third.manifest["engine"]
    assert engine["collection"] != first["collection"] and engine["written"]["kind"] == "collection"
    assert (engine["changed"], engine["whole"]) == (0, len(third.chunks)), "the share counts from the new collection"
    assert live(client, "khamtop-test") == engine["collection"] and head(client, engine["collection"]) == 3


def test_a_replica_reads_each_document_as_its_version_holds_it(tmp_path, bundled_documents, fake_embedder):
    config, client = published(tmp_path, bundled_documents, fake_embedder)
    name = live(client, "khamtop-test")
    old = RemoteIndex(client, name)
    df_old = document_frequencies(load_index(tmp_path / "ix", fake_embedder).keyword)
    doc = bundled_documents[0]
    changed = dataclasses.replace(doc, text=doc.text + "\nย่อหน้าใหม่ของฉบับที่สอง")
    update_index(tmp_path / "ix", fake_embedder, config, upsert=[changed], remove=[bundled_documents[1].doc_id])
    new = RemoteIndex(client, name)
    assert (old.version, new.version) == (1, 2)
    assert old.documents[doc.doc_id].text == doc.text
    assert new.documents[doc.doc_id].text == changed.text
    assert bundled_documents[1].doc_id in old.documents and bundled_documents[1].doc_id not in new.documents
    # Each word's passage count as its version has it.
    df_new = document_frequencies(load_index(tmp_path / "ix", fake_embedder).keyword)
    moved = sorted(w for w in df_old if df_new.get(w, 0) != df_old[w])[:50]
    assert moved, "removing a document changes some words' counts"
    assert {w: found[1] for w, found in old.keyword.lookup(moved).items()} == {w: df_old[w] for w in moved}
    assert {w: (found[1] if found else 0) for w, found in new.keyword.lookup(moved).items()} == {
        w: df_new.get(w, 0) for w in moved
    }


def test_an_update_from_the_served_version_keeps_its_word_ids_when_current_is_lost(
    tmp_path, bundled_documents, fake_embedder, monkeypatch
):
    import index.sparse as sparse
    from index.sparse import WordIds

    config, client = published(tmp_path, bundled_documents, fake_embedder)
    before = WordIds.load(tmp_path / "ix" / "v000001", required=True).ids
    thai = sorted(w for w in before if w and "\u0e00" <= w[0] <= "\u0e7f")[0]
    real = sparse.hashed_id
    # A new word that sorts first asks for the slot a kept word holds: only a table carried from
    # the base keeps the kept word where its points have it.
    monkeypatch.setattr(
        sparse, "hashed_id", lambda w, probe=0: real(thai) if (w, probe) == ("aaaa", 0) else real(w, probe)
    )
    (tmp_path / "ix" / "CURRENT").unlink()  # the service still says what it serves
    added = Document("ข่าว/aaaa", "aaaa คือคำใหม่ในฉบับที่สอง", "aaaa")
    update_index(tmp_path / "ix", fake_embedder, config, upsert=[added], served="v000001")
    after = WordIds.load(tmp_path / "ix" / "v000002", required=True)
    assert load_index(tmp_path / "ix", fake_embedder).manifest["engine"]["written"]["kind"] == "in place"
    assert "aaaa" in after.ids and after.ids["aaaa"] != real(thai)
    assert {w: after.ids[w] for w in before} == before, "the kept points' words keep their ids"


@pytest.mark.parametrize("case", ["no share", "a manifest without the share counts"])
def test_an_update_writes_a_new_collection_where_the_share_is_zero_or_cannot_be_counted(
    tmp_path, bundled_documents, fake_embedder, case
):
    config, client = published(tmp_path, bundled_documents, fake_embedder)
    if case == "no share":
        config = dataclasses.replace(config, server=dataclasses.replace(config.server, rewrite_after=0.0))
    else:  # as an older khamtop wrote it
        path = tmp_path / "ix" / "v000001" / "manifest.json"
        manifest = json.loads(path.read_text("utf-8"))
        del manifest["engine"]["whole"], manifest["engine"]["changed"]
        path.write_text(json.dumps(manifest), "utf-8")
    first = live(client, "khamtop-test")
    update_index(tmp_path / "ix", fake_embedder, config, upsert=[NEW])
    engine = load_index(tmp_path / "ix", fake_embedder).manifest["engine"]
    assert engine["written"]["kind"] == "collection" and engine["collection"] != first
    assert live(client, "khamtop-test") == engine["collection"]
