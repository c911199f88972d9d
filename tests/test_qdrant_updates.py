"""The qdrant backend's writer (index.backends.qdrant.updates), in qdrant-client's local mode: its version
folders are ledgers (index.backends.qdrant.ledger), an admin update writes only its documents' points into the
live collection, and past a share of the collection a new collection is copied from it. What
an update writes, what the live version sees meanwhile, what a failed write leaves, what is
deleted, and that the counts and weights stay those of a build of the same documents."""

from __future__ import annotations

import dataclasses
import json

import pytest

from corpus.document import Document
from eval.datasets import GOLD
from index.backends.qdrant.ledger import Ledger
from index.folder.load import load_index, resolve
from index.backends.qdrant.remote import RemoteIndex, open_ledger
from index.backends.qdrant.server import BM25, OPEN, ServerTarget, close_all, connect, head, live, visible_at
from index.backends.qdrant.server_backend import ServerBackend
from index.search.retriever import Retriever
from index.build.embed import checksum_of_hashes, document_hash, indexed_text
from index.folder.keyword import Tokenizer
from index.backends.qdrant.sparse import WordIds, document_frequencies, passage_vectors, passage_words
from index.build.write import build_index, update_index
from tests.helpers import (
    LOCAL_MODE_WARNINGS,
    index_config,
    live_manifest,
    make_retriever,
    scale_extra,
    search_config,
    wait_ready,
)

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
    config = dataclasses.replace(index_config(), backend=ServerBackend(target))
    build_index(documents, embedder, config, tmp_path / "ix")
    return config, connect(target.url)


def embedded_twin(tmp_path, documents, embedder, *updates):
    """The same documents, and the same updates, in the embedded backend's files."""
    home = tmp_path / "embedded"
    build_index(documents, embedder, index_config(), home)
    for change in updates:
        update_index(home, embedder, index_config(), **change)
    return load_index(home, embedder)


def served(client, home):
    """The live version of the ledger at ``home``, as the writer serves it."""
    return open_ledger(client, resolve(home), live_manifest(home))


def points_of(client, collection: str) -> dict[int, dict]:
    records, _ = client.scroll(collection, limit=100_000, with_payload=True)
    return {int(r.id): r.payload for r in records}


def vectors_of(client, collection: str, version: int | None = None) -> dict[int, dict]:
    only = None if version is None else visible_at(version)
    records, _ = client.scroll(collection, scroll_filter=only, limit=100_000, with_vectors=True, with_payload=True)
    return {int(r.id): r for r in records}


def held(df: dict[str, int]) -> dict[str, int]:
    """The words some passage holds (bm25s lists the empty word with none)."""
    return {w: n for w, n in df.items() if n}


def count(client, collection: str, version: int) -> int:
    return client.count(collection, count_filter=visible_at(version), exact=True).count


def passages(index, result) -> list[tuple[str, int, int]]:
    return [(p.passage.doc_id, p.passage.char_start, p.passage.char_end) for p in result.passages]


def test_a_version_folder_of_the_qdrant_backend_is_a_ledger_with_no_vectors(tmp_path, bundled_documents, fake_embedder):
    published(tmp_path, bundled_documents, fake_embedder)
    folder = resolve(tmp_path / "ix")
    assert sorted(p.name for p in folder.iterdir()) == [
        "ledger.jsonl",
        "manifest.json",
        "word-counts.json",
        "word-ids.json",
    ]
    twin = embedded_twin(tmp_path, bundled_documents, fake_embedder)
    ledger = Ledger.load(folder)
    # Its counts are those of the embedded build's keyword index, and its size a few bytes a passage.
    assert held(ledger.df) == held(document_frequencies(twin.keyword))
    hashes = {d: document_hash(twin.documents[d]) for d in twin.documents.doc_ids}
    assert live_manifest(tmp_path / "ix")["corpus"]["hashes"] == checksum_of_hashes(hashes)
    assert ledger.passages == len(twin.chunks)
    per_passage = (folder / "ledger.jsonl").stat().st_size / ledger.passages
    assert per_passage < 200, per_passage


def test_an_update_writes_only_its_documents_points_and_the_rest_keep_theirs(
    tmp_path, bundled_documents, fake_embedder
):
    config, client = published(tmp_path, bundled_documents, fake_embedder)
    first = live_manifest(tmp_path / "ix")
    name = first["engine"]["collection"]
    before, vectors = points_of(client, name), {p: r.vector for p, r in vectors_of(client, name).items()}
    changed = dataclasses.replace(bundled_documents[0], text=bundled_documents[0].text + "\nย่อหน้าใหม่ของฉบับที่สอง")
    removed = bundled_documents[1].doc_id
    update_index(tmp_path / "ix", fake_embedder, config, upsert=[changed, NEW], remove=[removed])

    second = live_manifest(tmp_path / "ix")
    assert live(client, "khamtop-test") == second["engine"]["collection"] == name
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
    assert {p: r.vector for p, r in vectors_of(client, name).items() if p in before} == vectors
    new_points = {p: payload for p, payload in after.items() if p not in before}
    assert {payload["doc_id"] for payload in new_points.values()} == {changed.doc_id, NEW.doc_id}
    assert all((payload["since"], payload["until"]) == (2, OPEN) for payload in new_points.values())
    written = second["engine"]["written"]
    assert (written["points"], written["ended"], written["documents"]) == (len(new_points), len(ended), 2)
    assert count(client, name, 1) == first["corpus"]["chunks"] and count(client, name, 2) == second["corpus"]["chunks"]
    ledger = Ledger.load(resolve(tmp_path / "ix"))
    assert set(ledger.entries[NEW.doc_id].points) | set(ledger.entries[changed.doc_id].points) == set(new_points)
    # Word rows for the words whose passage count changed, and no other.
    before_df = Ledger.load(tmp_path / "ix" / "v000001").df
    assert written["words"] == sum(n != before_df.get(w) for w, n in ledger.df.items()) > 0


def test_the_ledgers_counts_after_updates_are_those_of_a_build_of_the_same_documents(
    tmp_path, bundled_documents, fake_embedder
):
    config, client = published(tmp_path, bundled_documents, fake_embedder)
    changed = dataclasses.replace(bundled_documents[0], text=bundled_documents[0].text + "\nย่อหน้าใหม่ของฉบับที่สอง")
    updates = [
        {"upsert": [changed, NEW]},
        {"remove": [bundled_documents[1].doc_id, NEW.doc_id]},  # their words are read back from the collection
        {"upsert": [dataclasses.replace(NEW, text=NEW.text + " ฉบับแก้ไข")]},
    ]
    for change in updates:
        update_index(tmp_path / "ix", fake_embedder, config, **change)
    twin = embedded_twin(tmp_path, bundled_documents, fake_embedder, *updates)
    ledger = Ledger.load(resolve(tmp_path / "ix"))
    assert held(ledger.df) == held(document_frequencies(twin.keyword))
    corpus = live_manifest(tmp_path / "ix")["corpus"]
    assert {k: corpus[k] for k in ("documents", "chunks", "sentences", "characters")} == {
        k: twin.manifest["corpus"][k] for k in ("documents", "chunks", "sentences", "characters")
    }
    hashes = {d: document_hash(twin.documents[d]) for d in twin.documents.doc_ids}
    assert corpus["hashes"] == checksum_of_hashes(hashes)
    chunks = [twin.chunks[i] for i in range(len(twin.chunks))]
    texts = [indexed_text(twin.documents[c.doc_id].title, c.text) for c in chunks]
    assert corpus["words"] == sum(map(len, passage_words(Tokenizer(), texts))), "BM25's average length"


def test_the_live_version_answers_as_before_while_the_next_is_written(tmp_path, bundled_documents, fake_embedder):
    config, client = published(tmp_path, bundled_documents, fake_embedder)
    first = served(client, tmp_path / "ix")
    twin = make_retriever(fake_embedder, embedded_twin(tmp_path, bundled_documents, fake_embedder))
    remote = Retriever(fake_embedder, first, search_config(), engine=first.engine())
    before = {q: passages(first, remote.search(q, 10, read=False)) for q in QUESTIONS}
    assert before == {q: passages(None, twin.search(q, 10, read=False)) for q in QUESTIONS}
    changed = dataclasses.replace(bundled_documents[0], text="กระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม " * 40)
    update_index(tmp_path / "ix", fake_embedder, config, upsert=[changed, NEW], remove=[bundled_documents[2].doc_id])
    # The collection now holds version 2 too; version 1's questions see version 1 only.
    assert before == {q: passages(first, remote.search(q, 10, read=False)) for q in QUESTIONS}


def test_with_the_engines_idf_an_updated_version_ranks_as_the_embedded_files_of_the_same_documents(
    tmp_path, bundled_documents, fake_embedder
):
    config, client = published(tmp_path, bundled_documents, fake_embedder, idf="engine")
    change = {"upsert": [NEW], "remove": [bundled_documents[1].doc_id]}
    update_index(tmp_path / "ix", fake_embedder, config, **change)
    assert live_manifest(tmp_path / "ix")["engine"]["written"]["kind"] == "in place"
    index = served(client, tmp_path / "ix")
    twin = make_retriever(fake_embedder, embedded_twin(tmp_path, bundled_documents, fake_embedder, change))
    remote = Retriever(fake_embedder, index, search_config(), engine=index.engine())
    for question in QUESTIONS:
        want, got = twin.search(question, 10, read=False), remote.search(question, 10, read=False)
        assert passages(index, got) == passages(None, want), question
        for a, b in zip(want.passages, got.passages):
            # Kept points keep the BM25 length normalisation of the version that wrote them.
            assert a.score == pytest.approx(b.score, abs=1e-4)


@pytest.mark.parametrize("failing", [2, 3], ids=["at the document rows", "at the word rows"])
def test_what_a_failed_update_wrote_is_undone_by_the_next(tmp_path, bundled_documents, fake_embedder, failing):
    from index.store import versions
    from index.store.manifest import IndexLoadError

    config, client = published(tmp_path, bundled_documents, fake_embedder)
    name = live_manifest(tmp_path / "ix")["engine"]["collection"]
    original = client.upsert
    calls = {"n": 0}

    def fails_on_the_second(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == failing:  # the points are written (and at 3, the document rows)
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
    manifest = live_manifest(tmp_path / "ix")
    ledger = Ledger.load(resolve(tmp_path / "ix"))
    assert manifest["version"] == 2 and head(client, name) == 2
    visible = {
        r.payload["doc_id"]
        for r in client.scroll(name, scroll_filter=visible_at(2), limit=100_000, with_payload=["doc_id"])[0]
    }
    assert visible == set(ledger.entries), "neither the failed write's document nor its removal stayed"
    assert count(client, name, 2) == manifest["corpus"]["chunks"]
    replica = RemoteIndex(client, name)  # the documents' rows too: the failed write had ended one
    assert bundled_documents[0].doc_id in replica.documents and NEW.doc_id not in replica.documents
    assert replica.documents[other.doc_id].text == other.text
    # And the words' rows: each count as the ledger of version 2 has it.
    words = sorted(w for w, n in ledger.df.items() if n)
    assert {w: found[1] for w, found in replica.keyword.lookup(words).items()} == {w: ledger.df[w] for w in words}


def test_points_that_no_kept_version_holds_are_deleted(tmp_path, bundled_documents, fake_embedder):
    config, client = published(tmp_path, bundled_documents, fake_embedder)
    name = live_manifest(tmp_path / "ix")["engine"]["collection"]
    doc = bundled_documents[0]
    chunks = {}
    for n in range(4):  # versions 2 to 5, each with another text of the first document
        changed = dataclasses.replace(doc, text=doc.text + f"\nฉบับที่ {n}")
        update_index(tmp_path / "ix", fake_embedder, config, upsert=[changed])
        chunks[n + 2] = live_manifest(tmp_path / "ix")["corpus"]["chunks"]
    kept = points_of(client, name)
    # Versions 3, 4 and 5 are kept: the first document's points of versions 1 and 2 are gone.
    texts = {(p["since"], p["until"]) for p in kept.values() if p["doc_id"] == doc.doc_id}
    assert texts == {(3, 4), (4, 5), (5, OPEN)}
    for version in (3, 4, 5):
        assert count(client, name, version) == chunks[version]
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


def test_an_update_past_the_share_copies_a_new_collection_weighed_as_a_build(
    tmp_path, bundled_documents, fake_embedder
):
    config, client = published(tmp_path, bundled_documents, fake_embedder, rewrite_after=0.1)
    first = live_manifest(tmp_path / "ix")["engine"]
    update_index(tmp_path / "ix", fake_embedder, config, upsert=[NEW])  # one passage: within a tenth
    second = live_manifest(tmp_path / "ix")["engine"]
    assert (second["collection"], second["changed"], second["written"]["kind"]) == (first["collection"], 1, "in place")
    ledger = Ledger.load(resolve(tmp_path / "ix"))
    biggest = max(ledger.entries, key=lambda d: len(ledger.entries[d].points))
    assert 1 + len(ledger.entries[biggest].points) > 0.1 * first["whole"], (
        "removing it takes the changes past the share"
    )
    old = vectors_of(client, first["collection"], version=2)
    update_index(tmp_path / "ix", fake_embedder, config, remove=[biggest])
    third = live_manifest(tmp_path / "ix")
    engine = third["engine"]
    assert engine["collection"] != first["collection"] and engine["written"]["kind"] == "collection"
    assert (engine["changed"], engine["whole"]) == (0, third["corpus"]["chunks"]), "the share counts from it"
    assert live(client, "khamtop-test") == engine["collection"] and head(client, engine["collection"]) == 3
    copied = vectors_of(client, engine["collection"], version=3)
    # The kept points keep their ids and dense vectors (nothing encoded again); their BM25
    # weights are a build's of the same documents: exact again.
    assert set(copied) == {p for p, r in old.items() if r.payload["doc_id"] != biggest}
    twin = embedded_twin(tmp_path, bundled_documents, fake_embedder, {"upsert": [NEW]}, {"remove": [biggest]})
    words = WordIds.load(resolve(tmp_path / "ix"), required=True)
    rows = passage_vectors(twin.keyword, words, "full")
    chunk_of = {(c.doc_id, c.char_start): c.id for c in (twin.chunks[i] for i in range(len(twin.chunks)))}
    for point_id, record in copied.items():
        assert {k: v for k, v in record.vector.items() if k != BM25} == {
            k: v for k, v in old[point_id].vector.items() if k != BM25
        }
        chunk = chunk_of[record.payload["doc_id"], record.payload["char_start"]]
        assert record.vector[BM25].indices == rows.indices[chunk].tolist()
        assert record.vector[BM25].values == pytest.approx(rows.values[chunk].tolist(), rel=1e-6)


def test_a_replica_reads_each_document_as_its_version_holds_it(tmp_path, bundled_documents, fake_embedder):
    config, client = published(tmp_path, bundled_documents, fake_embedder)
    name = live(client, "khamtop-test")
    old = RemoteIndex(client, name)
    df_old = Ledger.load(resolve(tmp_path / "ix")).df
    doc = bundled_documents[0]
    changed = dataclasses.replace(doc, text=doc.text + "\nย่อหน้าใหม่ของฉบับที่สอง")
    update_index(tmp_path / "ix", fake_embedder, config, upsert=[changed], remove=[bundled_documents[1].doc_id])
    new = RemoteIndex(client, name)
    assert (old.version, new.version) == (1, 2)
    assert old.documents[doc.doc_id].text == doc.text
    assert new.documents[doc.doc_id].text == changed.text
    assert bundled_documents[1].doc_id in old.documents and bundled_documents[1].doc_id not in new.documents
    # Each word's passage count as its version has it.
    df_new = Ledger.load(resolve(tmp_path / "ix")).df
    moved = sorted(w for w in df_old if df_new.get(w, 0) != df_old[w])[:50]
    assert moved, "removing a document changes some words' counts"
    assert {w: found[1] for w, found in old.keyword.lookup(moved).items()} == {w: df_old[w] for w in moved}
    assert {w: (found[1] if found else 0) for w, found in new.keyword.lookup(moved).items()} == {
        w: df_new.get(w, 0) for w in moved
    }


def test_an_update_from_the_served_version_keeps_its_word_ids_when_current_is_lost(
    tmp_path, bundled_documents, fake_embedder, monkeypatch
):
    import index.backends.qdrant.sparse as sparse

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
    assert live_manifest(tmp_path / "ix")["engine"]["written"]["kind"] == "in place"
    assert "aaaa" in after.ids and after.ids["aaaa"] != real(thai)
    assert {w: after.ids[w] for w in before} == before, "the kept points' words keep their ids"


def test_an_update_with_no_share_writes_a_new_collection_with_each_document_as_the_version_has_it(
    tmp_path, bundled_documents, fake_embedder
):
    config, client = published(tmp_path, bundled_documents, fake_embedder, rewrite_after=0.0)
    first = live(client, "khamtop-test")
    doc = bundled_documents[0]
    changed = dataclasses.replace(doc, text=doc.text + "\nย่อหน้าใหม่ของฉบับที่สอง")
    update_index(tmp_path / "ix", fake_embedder, config, upsert=[NEW, changed])
    engine = live_manifest(tmp_path / "ix")["engine"]
    name = engine["collection"]
    assert engine["written"]["kind"] == "collection" and name != first
    assert live(client, "khamtop-test") == name
    assert count(client, name, 2) == live_manifest(tmp_path / "ix")["corpus"]["chunks"]
    replica = RemoteIndex(client, name)
    assert replica.documents[doc.doc_id].text == changed.text and replica.documents[NEW.doc_id].text == NEW.text
    assert client.count(f"{name}-documents", exact=True).count == len(bundled_documents) + 1


def test_an_embedded_index_updated_with_the_qdrant_backend_becomes_a_ledger(tmp_path, bundled_documents, fake_embedder):
    home = tmp_path / "ix"
    build_index(bundled_documents, fake_embedder, index_config(), home)
    target = ServerTarget(str(tmp_path / "qdrant-local"), alias="khamtop-test")
    update_index(home, fake_embedder, dataclasses.replace(index_config(), backend=ServerBackend(target)), upsert=[NEW])
    manifest = live_manifest(home)
    assert manifest["layout"] == "ledger" and manifest["engine"]["written"]["kind"] == "collection"
    assert count(connect(target.url), manifest["engine"]["collection"], 2) == manifest["corpus"]["chunks"]
    assert NEW.doc_id in Ledger.load(resolve(home)).entries


def test_the_embedded_backend_refuses_a_ledger_and_says_which_backend_serves_it(
    tmp_path, bundled_documents, fake_embedder
):
    from index.store.manifest import IndexLoadError
    from index.build.write import UpdateError

    published(tmp_path, bundled_documents, fake_embedder)
    with pytest.raises(IndexLoadError, match="KHAMTOP_BACKEND=qdrant"):
        load_index(tmp_path / "ix", fake_embedder)
    with pytest.raises(UpdateError, match="KHAMTOP_BACKEND=qdrant"):
        update_index(tmp_path / "ix", fake_embedder, index_config(), upsert=[NEW])


def test_a_damaged_ledger_is_refused_as_a_damaged_index(tmp_path, bundled_documents, fake_embedder):
    from index.store.manifest import IndexLoadError

    config, client = published(tmp_path, bundled_documents, fake_embedder)
    counts = resolve(tmp_path / "ix") / "word-counts.json"
    counts.write_text(counts.read_text("utf-8").replace(": 1,", ": 2,", 1), "utf-8")
    with pytest.raises(IndexLoadError, match="word-counts.json does not match its checksum"):
        update_index(tmp_path / "ix", fake_embedder, config, upsert=[NEW])


def test_a_rewrite_that_fails_drops_its_collection_and_leaves_the_live_one(tmp_path, bundled_documents, fake_embedder):
    from index.store import versions
    from index.store.manifest import IndexLoadError

    config, client = published(tmp_path, bundled_documents, fake_embedder, rewrite_after=0.0)
    before = sorted(c.name for c in client.get_collections().collections)
    original = client.upsert

    def fails(*args, **kwargs):
        raise ConnectionError("connection reset")

    client.upsert = fails
    try:
        with pytest.raises(IndexLoadError, match="cannot be asked"):
            update_index(tmp_path / "ix", fake_embedder, config, upsert=[NEW])
    finally:
        client.upsert = original
    assert sorted(c.name for c in client.get_collections().collections) == before
    assert versions.read_current(tmp_path / "ix") == "v000001"


def test_a_collection_a_killed_write_left_is_dropped_by_the_next_write(tmp_path, bundled_documents, fake_embedder):
    from index.backends.qdrant.server import collection_name, create_collections

    config, client = published(tmp_path, bundled_documents, fake_embedder)
    orphan = collection_name("khamtop-test", 2)  # version 2's, written before its folder was committed
    create_collections(client, orphan, fake_embedder.dim, "full")
    update_index(tmp_path / "ix", fake_embedder, config, upsert=[NEW])
    names = {c.name for c in client.get_collections().collections}
    assert not {orphan, f"{orphan}-documents", f"{orphan}-words"} & names
    assert live(client, "khamtop-test") in names


def test_an_update_of_a_ledger_with_another_model_is_refused(tmp_path, bundled_documents, fake_embedder):
    from index.store.manifest import IndexLoadError
    from tests.fakes import FakeEmbedder

    config, client = published(tmp_path, bundled_documents, fake_embedder)
    other = FakeEmbedder(model_id="another-model")
    with pytest.raises(IndexLoadError, match="another-model"):
        update_index(tmp_path / "ix", other, config, upsert=[NEW])
    assert live_manifest(tmp_path / "ix")["version"] == 1


@pytest.mark.parametrize("change", ["add", "remove"])
def test_an_update_whose_collection_is_gone_says_to_rebuild(tmp_path, bundled_documents, fake_embedder, change):
    from index.store.manifest import IndexLoadError
    from index.backends.base import EngineUnavailable

    config, client = published(tmp_path, bundled_documents, fake_embedder)
    client.delete_collection(live_manifest(tmp_path / "ix")["engine"]["collection"])
    asked = {"upsert": [NEW]} if change == "add" else {"remove": [bundled_documents[0].doc_id]}
    with pytest.raises(IndexLoadError, match="is gone: rebuild the index") as raised:
        update_index(tmp_path / "ix", fake_embedder, config, **asked)
    assert not isinstance(raised.value, EngineUnavailable), "not a server that cannot be asked now (a 503)"


@pytest.mark.parametrize("name", ["ledger.jsonl", "word-counts.json", "word-ids.json"])
def test_a_service_over_a_damaged_ledger_is_not_ready_at_start(
    make_client, tmp_path, bundled_documents, fake_embedder, name
):
    config, client = published(tmp_path, bundled_documents, fake_embedder)
    damaged = resolve(tmp_path / "ix") / name
    damaged.write_bytes(damaged.read_bytes().replace(b"1", b"2", 1))
    service = make_client(
        index_dir=tmp_path / "ix",
        backend="qdrant",
        qdrant_url=config.backend.target.url,
        qdrant_alias=config.backend.target.alias,
        ready=False,
    )
    assert wait_ready(service).status_code == 503
    assert f"{name} does not match its checksum" in service.app.state.khamtop.error
