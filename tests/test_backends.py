"""The seam between the index's core and its backends (index.backends.base): the factory makes
every backend the settings can name, a build and an update reach storage only through the
backend, and the search asks only the version's engine."""

from __future__ import annotations

import dataclasses

import pytest

from corpus.document import Document
from index.backends.base import BackendOptions
from index.backends.embedded import EmbeddedBackend
from index.backends.factory import BACKENDS, open_backend
from index.build.write import build_index, update_index
from index.folder.load import load_index
from index.search.retriever import Retriever
from service.settings import Settings
from tests.helpers import index_config, search_config


def test_the_factory_makes_every_backend_the_settings_can_name(tmp_path):
    for name in BACKENDS:
        assert open_backend(BackendOptions(name=name, url=str(tmp_path / "qdrant"))).name == name
    with pytest.raises(ValueError, match="unknown backend 'lucene'"):
        open_backend(BackendOptions(name="lucene"))
    made = Settings(backend="qdrant-edge", qdrant_shards=3).index_config().backend
    assert (made.name, made.layout.shards) == ("qdrant-edge", 3)


class Recording(EmbeddedBackend):
    """The embedded backend, recording which of the seam's calls the core makes."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def prepare(self, base):
        self.calls.append("prepare")
        return super().prepare(base)

    def current(self, base, embedder, rebuild=False):
        self.calls.append("current")
        return super().current(base, embedder, rebuild)

    def write(self, folder, planned, embedder, config, number, base):
        self.calls.append(f"write {sorted(planned.parts)}")
        return super().write(folder, planned, embedder, config, number, base)

    def published(self, manifest):
        self.calls.append(f"published v{manifest['version']}")


def test_a_build_and_an_update_reach_storage_only_through_the_backend(tmp_path, fake_embedder):
    backend = Recording()
    config = dataclasses.replace(index_config(), backend=backend)
    home = tmp_path / "idx"
    a = Document("a", "กรมการปกครองออกบัตรประจำตัวประชาชนให้ผู้มีอายุตั้งแต่เจ็ดปี", "a")
    b = Document("b", "สำนักงานสถิติแห่งชาติสำรวจภาวะการทำงานของประชากรทุกไตรมาส", "b")
    build_index([a], fake_embedder, config, home)
    update_index(home, fake_embedder, config, upsert=[b])
    update_index(home, fake_embedder, config, upsert=[b])  # unchanged: nothing is written
    assert backend.calls == [
        "prepare",
        "write ['a']",
        "published v1",
        "prepare",
        "current",
        "write ['a', 'b']",
        "published v2",
        "prepare",
        "current",
    ]
    assert sorted(load_index(home, fake_embedder).documents.doc_ids) == ["a", "b"]


class CountingEngine:
    """An engine that only forwards to another, counting what the search asks of it."""

    def __init__(self, engine) -> None:
        self.engine, self.asked = engine, []

    def __getattr__(self, name):
        self.asked.append(name)
        return getattr(self.engine, name)


class TablesOnly:
    """A version with its search part out of reach: the passages' tables, no FAISS, no stored
    passage vectors, no BM25 search (only its tokenizer and word counts)."""

    def __init__(self, index) -> None:
        self._index = index

    def __getattr__(self, name):
        if name in ("faiss_index", "passage_vectors", "engine", "path"):
            raise AssertionError(f"the search reached for the version's {name}")
        return getattr(self._index, name)


@pytest.mark.parametrize("mode", ["dense", "keyword", "hybrid"])
def test_the_search_asks_only_the_engine_it_is_given(_fake_index_once, fake_embedder, mode):
    index = load_index(_fake_index_once, fake_embedder)
    question = "ไทยได้รับรางวัล ASEAN ICT Award กี่รางวัล"
    default = Retriever(fake_embedder, index, search_config()).search(question, 5, mode=mode, read=False)
    engine = CountingEngine(index.engine())
    tables = TablesOnly(index)
    given = Retriever(fake_embedder, tables, search_config(), engine=engine).search(question, 5, mode=mode, read=False)
    assert [p.passage.id for p in given.passages] == [p.passage.id for p in default.passages]
    assert [p.score for p in given.passages] == [p.score for p in default.passages]
    wanted = {"dense": {"nearest", "dense_scores"}, "keyword": {"keyword"}, "hybrid": {"keyword", "nearest"}}
    assert wanted[mode] <= set(engine.asked)


def test_a_rebuild_that_embeds_while_another_write_lands_writes_nothing(tmp_path, fake_embedder):
    from index.build.embed import embed_documents
    from index.build.write import build_reusing
    from index.store import versions
    from index.store.manifest import IndexLoadError

    config, home = index_config(), tmp_path / "idx"
    a = Document("a", "กรมการปกครองออกบัตรประจำตัวประชาชนให้ผู้มีอายุตั้งแต่เจ็ดปี", "a")
    b = Document("b", "สำนักงานสถิติแห่งชาติสำรวจภาวะการทำงานของประชากรทุกไตรมาส", "b")
    build_index([a], fake_embedder, config, home)

    def embed_while_an_update_lands(documents):
        update_index(home, fake_embedder, config, upsert=[b])  # an admin's update, meanwhile
        return embed_documents(documents, fake_embedder, config.chunker)

    changed = Document("a", a.text + " และคนต่างด้าว", "a")
    with pytest.raises(IndexLoadError, match="went from version 1 to 2 while this build was embedding"):
        build_reusing([changed], fake_embedder, config, home, embed_while_an_update_lands)
    assert versions.read_current(home) == "v000002", "the update is kept, nothing else written"
    manifest, embedded, kept_from, note = build_reusing(
        [changed, b], fake_embedder, config, home, lambda docs: embed_documents(docs, fake_embedder, config.chunker)
    )
    assert (embedded, kept_from, note, manifest["version"]) == (["a"], 2, None, 3)
