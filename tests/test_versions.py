"""Index versions and live updates: add, replace and remove by id; every change a new version."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from corpus.document import Document
from index.store import versions
from index.folder import write
from index.store.manifest import IndexLoadError
from index.build.write import RecordedModel, UpdateError, build_index, update_index
from index.folder.load import load_index
from tests.fakes import FakeEmbedder
from tests.helpers import index_config

CONFIG = index_config(64, 8)
A = Document("a", "คณะรัฐมนตรีมีมติเห็นชอบร่างปฏิญญาว่าด้วยการพัฒนาดิจิทัล " * 6, "มติคณะรัฐมนตรี")
B = Document("b/c", "ประเทศไทยได้รับ 4 รางวัล ASEAN ICT Awards 2021 ในการประชุม " * 5, "รางวัล")
C = Document("ค", "ศูนย์ปฏิบัติการต่อต้านการทุจริตรับเรื่องร้องเรียน " * 5, "ศูนย์ต่อต้านการทุจริต")


class CountingEmbedder(FakeEmbedder):
    """The fake embedder, remembering every passage text it was asked to embed."""

    def __init__(self):
        super().__init__()
        self.embedded: list[str] = []

    def embed_passages(self, texts):
        self.embedded += list(texts)
        return super().embed_passages(texts)


def contents(index):
    return (
        [(c.doc_id, c.char_start, c.char_end, c.text) for c in index.chunks],
        np.asarray(index.passage_vectors),
        [(s.doc_id, s.char_start, s.char_end) for s in index.sentences],
        np.asarray(index.sentence_vectors),
        index.documents,
    )


def test_adding_a_document_embeds_only_it_and_equals_a_full_build(tmp_path):
    embedder = CountingEmbedder()
    build_index([A, B], embedder, CONFIG, tmp_path / "idx")
    embedder.embedded.clear()
    result = update_index(tmp_path / "idx", embedder, CONFIG, upsert=[A, B, C])
    assert (result.version, result.added, result.unchanged) == (2, ["ค"], ["a", "b/c"])
    assert embedder.embedded, "the new document was embedded"
    assert not any("คณะรัฐมนตรี" in t or "ASEAN" in t for t in embedder.embedded), "and nothing else"

    build_index([A, B, C], FakeEmbedder(), CONFIG, tmp_path / "full")
    incremental, full = contents(load_index(tmp_path / "idx")), contents(load_index(tmp_path / "full"))
    assert incremental[0] == full[0] and incremental[2] == full[2] and incremental[4] == full[4]
    np.testing.assert_allclose(incremental[1], full[1], atol=1e-6)
    np.testing.assert_allclose(incremental[3], full[3], atol=1e-6)


def test_an_unchanged_document_makes_no_new_version(tmp_path, fake_embedder):
    build_index([A, B], fake_embedder, CONFIG, tmp_path / "idx")
    result = update_index(tmp_path / "idx", fake_embedder, CONFIG, upsert=[A])
    assert not result.changed and result.version == 1 and result.manifest is None
    assert versions.versions(tmp_path / "idx") == [1]


def test_a_changed_title_or_text_replaces_the_document(tmp_path, fake_embedder):
    build_index([A, B], fake_embedder, CONFIG, tmp_path / "idx")
    retitled = Document("a", A.text, "ชื่อใหม่")
    result = update_index(tmp_path / "idx", fake_embedder, CONFIG, upsert=[retitled])
    assert result.replaced == ["a"] and result.version == 2
    loaded = load_index(tmp_path / "idx", fake_embedder)
    assert loaded.documents["a"].title == "ชื่อใหม่" and loaded.version == 2
    assert loaded.manifest["change"] == {"kind": "update", "parent": 1, "added": [], "replaced": ["a"], "removed": []}


def test_removing_by_id_drops_the_document_its_passages_and_sentences(tmp_path, fake_embedder):
    build_index([A, B, C], fake_embedder, CONFIG, tmp_path / "idx")
    result = update_index(tmp_path / "idx", fake_embedder, CONFIG, remove=["b/c"])
    assert result.removed == ["b/c"] and result.version == 2
    loaded = load_index(tmp_path / "idx", fake_embedder)
    assert set(loaded.documents) == {"a", "ค"}
    assert {c.doc_id for c in loaded.chunks} == {s.doc_id for s in loaded.sentences} == {"a", "ค"}
    assert loaded.faiss_index.ntotal == len(loaded.chunks)
    assert [c.id for c in loaded.chunks] == list(range(len(loaded.chunks)))


@pytest.mark.parametrize(
    ("upsert", "remove", "words"),
    [
        ([], ["nope"], "no document with id 'nope'"),
        ([], ["a", "b/c"], "no documents"),
        ([A], ["a"], "both added and removed"),
        ([A, A], [], "unique"),
    ],
)
def test_an_update_that_cannot_apply_changes_nothing(tmp_path, fake_embedder, upsert, remove, words):
    build_index([A, B], fake_embedder, CONFIG, tmp_path / "idx")
    with pytest.raises(UpdateError, match=words):
        update_index(tmp_path / "idx", fake_embedder, CONFIG, upsert=upsert, remove=remove)
    assert versions.versions(tmp_path / "idx") == [1]


def test_adding_to_an_empty_folder_creates_the_first_version(tmp_path, fake_embedder):
    result = update_index(tmp_path / "idx", fake_embedder, CONFIG, upsert=[C])
    assert result.added == ["ค"] and result.version == 1
    assert list(load_index(tmp_path / "idx", fake_embedder).documents) == ["ค"]


def test_old_versions_are_pruned_and_current_names_the_newest(tmp_path, fake_embedder):
    build_index([A, B], fake_embedder, CONFIG, tmp_path / "idx")
    for i in range(5):
        update_index(tmp_path / "idx", fake_embedder, CONFIG, upsert=[Document("n", f"ข้อความที่ {i} " * 10, "n")])
    assert versions.versions(tmp_path / "idx") == [4, 5, 6]
    assert versions.read_current(tmp_path / "idx") == "v000006"
    assert load_index(tmp_path / "idx", fake_embedder).version == 6


def test_a_failed_write_leaves_the_live_version_and_no_temporary_folder(tmp_path, fake_embedder, monkeypatch):
    build_index([A, B], fake_embedder, CONFIG, tmp_path / "idx")

    def disk_full(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(write, "_write_jsonl", disk_full)
    with pytest.raises(OSError, match="disk full"):
        update_index(tmp_path / "idx", fake_embedder, CONFIG, upsert=[C])
    assert versions.read_current(tmp_path / "idx") == "v000001"
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == [".write.lock", "CURRENT", "v000001"]


def test_a_dead_writers_leftovers_are_ignored_by_readers_and_removed_by_the_next_writer(tmp_path, fake_embedder):
    build_index([A, B], fake_embedder, CONFIG, tmp_path / "idx")
    leftover = tmp_path / "idx" / ".v000002.tmp-deadbeef"
    leftover.mkdir()
    (leftover / "chunks.jsonl").write_text("half a file")
    (tmp_path / "idx" / ".CURRENT.tmp-deadbeef").write_text("v0000")
    assert load_index(tmp_path / "idx", fake_embedder).version == 1
    update_index(tmp_path / "idx", fake_embedder, CONFIG, upsert=[C])
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == [".write.lock", "CURRENT", "v000001", "v000002"]


def test_a_damaged_current_pointer_is_refused_with_a_reason(tmp_path, fake_embedder):
    build_index([A, B], fake_embedder, CONFIG, tmp_path / "idx")
    (tmp_path / "idx" / "CURRENT").write_text("garbage")
    with pytest.raises(IndexLoadError, match="CURRENT is damaged"):
        load_index(tmp_path / "idx", fake_embedder)
    (tmp_path / "idx" / "CURRENT").write_text("v000009\n")
    with pytest.raises(IndexLoadError, match="names v000009, which is missing"):
        load_index(tmp_path / "idx", fake_embedder)


def test_two_writers_at_once_both_land(tmp_path, fake_embedder):
    build_index([A], fake_embedder, CONFIG, tmp_path / "idx")
    errors = []

    def add(doc):
        try:
            update_index(tmp_path / "idx", FakeEmbedder(), CONFIG, upsert=[doc])
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(doc,)) for doc in (B, C)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert set(load_index(tmp_path / "idx", fake_embedder).documents) == {"a", "b/c", "ค"}
    assert versions.versions(tmp_path / "idx") == [1, 2, 3]


def test_removing_needs_no_model_only_what_the_manifest_records(tmp_path, fake_embedder):
    build_index([A, B, C], fake_embedder, CONFIG, tmp_path / "idx")
    recorded = RecordedModel.of(tmp_path / "idx")
    result = update_index(tmp_path / "idx", recorded, CONFIG, remove=["ค"])
    assert result.removed == ["ค"]
    loaded = load_index(tmp_path / "idx", fake_embedder)  # still matches the real model
    assert set(loaded.documents) == {"a", "b/c"}
    with pytest.raises(RuntimeError, match="cannot embed"):
        update_index(tmp_path / "idx", recorded, CONFIG, upsert=[C])
