"""Filters at question time (index.search.filters): tags, a date range in either era and Thai or
Arabic digits, a language; a filter that matches nothing finds nothing, never everything; the
same filtered ranking on the embedded folder and on qdrant-edge's shards (fake embedder)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from corpus.document import Document
from index.build.write import build_index
from index.folder.load import load_index
from corpus.filters import Filter, FilterError, bound, document_day
from index.search.retriever import Retriever
from service.settings import Settings
from tests.helpers import LOCAL_MODE_WARNINGS, index_config, search_config

DOCS = [
    Document(
        "budget-2565",
        "สำนักงบประมาณจัดสรรงบประมาณให้กรมชลประทานสร้างอ่างเก็บน้ำที่จังหวัดน่าน ปีงบประมาณ ๒๕๖๕",
        "งบชลประทาน ๒๕๖๕",
        date="2565-03-01",
        language="th",
        tags={"department": "budget", "type": "announcement"},
    ),
    Document(
        "budget-2567",
        "สำนักงบประมาณจัดสรรงบประมาณให้กรมชลประทานขุดลอกคลองที่จังหวัดน่าน ปีงบประมาณ ๒๕๖๗",
        "งบชลประทาน ๒๕๖๗",
        date="2024-02-10",
        language="th",
        tags={"department": "budget", "type": "report"},
    ),
    Document(
        "health-2566",
        "กระทรวงสาธารณสุขเปิดโรงพยาบาลส่งเสริมสุขภาพตำบลแห่งใหม่ที่จังหวัดน่าน ปี ๒๕๖๖",
        "โรงพยาบาลน่าน",
        date="๒๕๖๖-๐๖-๑๕",
        language="th",
        tags={"department": "health"},
    ),
    Document(
        "english-note",
        "The Budget Bureau allocated irrigation funds for a reservoir in Nan province.",
        "Irrigation note",
        language="en",
    ),
]
QUESTION = "งบประมาณอ่างเก็บน้ำจังหวัดน่าน"


def test_a_date_bound_reads_either_era_and_thai_digits():
    assert bound("2565-01-01", end=False) == bound("2022-01-01", end=False) == date(2022, 1, 1)
    assert (bound("๒๕๖๕", end=False), bound("๒๕๖๕", end=True)) == (date(2022, 1, 1), date(2022, 12, 31))
    assert bound("2024-02", end=True) == date(2024, 2, 29)
    for bad in ("abc", "2565-13-01", "2022-02-30", ""):
        with pytest.raises(FilterError, match="is not a date"):
            bound(bad, end=False)
    assert document_day("2564-05-01") == document_day("2021-05-01") == document_day("๒๕๖๔-๐๕-๐๑")
    assert document_day("undated") is None and document_day(None) is None


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    from tests.fakes import FakeEmbedder

    home = tmp_path_factory.mktemp("filters") / "idx"
    build_index(DOCS, FakeEmbedder(), index_config(), home)
    return load_index(home, FakeEmbedder())


def ids(result) -> list[str]:
    return [p.passage.doc_id for p in result.passages]


@pytest.mark.parametrize("mode", ["dense", "keyword", "hybrid"])
def test_a_filter_keeps_only_the_documents_it_names(index, fake_embedder, mode):
    retriever = Retriever(fake_embedder, index, search_config())
    search = lambda only: ids(retriever.search(QUESTION, 10, mode, read=False, only=only))  # noqa: E731
    assert set(search(Filter(tags=(("department", ("budget",)),)))) <= {"budget-2565", "budget-2567"}
    assert search(Filter(tags=(("department", ("budget",)), ("type", ("report",))))) == ["budget-2567"]
    assert set(search(Filter(tags=(("department", ("budget", "health")),)))) <= {
        "budget-2565",
        "budget-2567",
        "health-2566",
    }
    # 2565-2566 BE is 2022-2023: the Buddhist-Era document and the Thai-digit one, not 2024's.
    in_range = search(Filter(date_from=bound("2565", False), date_to=bound("2023", True)))
    assert set(in_range) <= {"budget-2565", "health-2566"} and in_range
    english = search(Filter(languages=("en",)))
    assert english == ["english-note"] if mode != "keyword" else set(english) <= {"english-note"}
    assert "english-note" not in search(Filter(date_from=bound("1990", False)))  # undated: no date filter keeps it


@pytest.mark.parametrize("mode", ["dense", "keyword", "hybrid"])
def test_a_filter_that_matches_nothing_finds_nothing_and_answers_nothing(index, fake_embedder, mode):
    retriever = Retriever(fake_embedder, index, search_config())
    for nothing in (
        Filter(tags=(("department", ("defence",)),)),
        Filter(tags=(("no-such-tag", ("x",)),)),
        Filter(date_from=bound("2030", False)),
    ):
        result = retriever.search(QUESTION, 10, mode, read=False, only=nothing)
        assert result.passages == [] and result.best is None and result.kind == "none"


def test_an_empty_filter_is_no_filter(index, fake_embedder):
    retriever = Retriever(fake_embedder, index, search_config())
    assert ids(retriever.search(QUESTION, 10, read=False, only=Filter())) == ids(
        retriever.search(QUESTION, 10, read=False)
    )


def test_the_filtered_ranking_is_the_same_on_qdrant_edges_shards(tmp_path, fake_embedder):
    from tests.helpers import scale_extra

    scale_extra("qdrant_edge", "qdrant-edge-py")
    from index.backends.qdrant.edge import EdgeEngine, EdgeLayout
    from index.backends.qdrant.edge_backend import EdgeBackend

    for shards in (1, 3):
        home = tmp_path / f"edge-{shards}"
        build_index(DOCS, fake_embedder, index_config(backend=EdgeBackend(EdgeLayout(shards=shards))), home)
        version = load_index(home, fake_embedder)
        embedded = Retriever(fake_embedder, version, search_config())
        edge = Retriever(fake_embedder, version, search_config(), engine=EdgeEngine(version.path))
        for only in (
            Filter(tags=(("department", ("budget",)),)),
            Filter(date_from=bound("2566", False)),
            Filter(languages=("th",), tags=(("type", ("report", "announcement")),)),
            Filter(tags=(("department", ("defence",)),)),
        ):
            for mode in ("dense", "keyword", "hybrid"):
                want = embedded.search(QUESTION, 10, mode, read=False, only=only)
                got = edge.search(QUESTION, 10, mode, read=False, only=only)
                assert ids(got) == ids(want), (shards, only, mode)
                assert np.allclose([p.score for p in got.passages], [p.score for p in want.passages], atol=1e-5)


@pytest.mark.filterwarnings(*[m.args[0] for m in LOCAL_MODE_WARNINGS])
@pytest.mark.parametrize("where", ["local", "server"])
def test_the_filtered_ranking_is_the_same_on_a_qdrant_server_collection(tmp_path, fake_embedder, where):
    """The server filters by the passages' payload fields (index.backends.qdrant.filtering), not by
    a mask: the same filtered top 10 as the embedded folder, in qdrant-client's local mode and on a
    real server when KHAMTOP_TEST_QDRANT_URL names one."""
    import os

    from tests.helpers import scale_extra

    client_class = scale_extra("qdrant_client", "qdrant-client").QdrantClient
    from index.backends.qdrant.points import SearchPart
    from index.backends.qdrant.server import QdrantEngine, live, publish
    from index.backends.qdrant.sparse import WordIds

    if where == "local":
        client = client_class(path=str(tmp_path / "qdrant"))
    elif os.environ.get("KHAMTOP_TEST_QDRANT_URL"):
        client = client_class(
            url=os.environ["KHAMTOP_TEST_QDRANT_URL"], api_key=os.environ.get("KHAMTOP_TEST_QDRANT_API_KEY")
        )
    else:
        pytest.skip("no Qdrant server: set KHAMTOP_TEST_QDRANT_URL (and KHAMTOP_TEST_QDRANT_API_KEY) to run this")
    home = tmp_path / "idx"
    build_index(DOCS, fake_embedder, index_config(), home)
    version = load_index(home, fake_embedder)
    try:
        publish(client, SearchPart.of(version), "khamtop-test-filters")
        words = WordIds.empty().assign(version.keyword.bm25.vocab_dict)
        engine = QdrantEngine(client, live(client, "khamtop-test-filters"), words)
        embedded = Retriever(fake_embedder, version, search_config())
        server = Retriever(fake_embedder, version, search_config(), engine=engine)
        for only in (
            Filter(tags=(("department", ("budget",)),)),
            Filter(date_from=bound("2566", False)),
            Filter(date_to=bound("2023", True)),
            Filter(languages=("th",), tags=(("type", ("report", "announcement")),)),
            Filter(tags=(("department", ("defence",)),)),
            Filter(tags=(("department", ("budget",)),)).both(Filter(tags=(("department", ("health",)),))),
        ):
            for mode in ("dense", "keyword", "hybrid"):
                want = embedded.search(QUESTION, 10, mode, read=False, only=only)
                got = server.search(QUESTION, 10, mode, read=False, only=only)
                assert ids(got) == ids(want), (only, mode)
                assert np.allclose([p.score for p in got.passages], [p.score for p in want.passages], atol=1e-5)
        assert ids(server.search(QUESTION, 10, read=False, only=Filter(date_from=bound("1990", False)))) and (
            "english-note"
            not in ids(server.search(QUESTION, 10, read=False, only=Filter(date_from=bound("1990", False))))
        ), "an undated document matches no date filter on the server either"
    finally:
        for c in client.get_collections().collections:
            if c.name.startswith("khamtop-test"):
                client.delete_collection(c.name)
        client.close()


def test_a_qdrant_collection_written_before_filters_refuses_a_filter_rather_than_ignoring_it():
    from index.backends.base import FilterUnsupported
    from index.backends.qdrant.server import QdrantEngine

    old = QdrantEngine(client=None, collection="khamtop-v000001", words=None, filterable=False)
    with pytest.raises(FilterUnsupported, match="written before filters: rebuild"):
        old._allowed(Filter(tags=(("department", ("budget",)),)))
    with pytest.raises(FilterUnsupported, match="not by a list of passages"):
        QdrantEngine(client=None, collection="c", words=None)._allowed(np.ones(3, dtype=bool))
    assert old._allowed(None) == ()


def test_on_hnsw_a_filter_that_keeps_few_passages_is_searched_exactly_and_one_that_keeps_many_by_hnsw(
    tmp_path, fake_embedder, bundled_documents
):
    """index.folder.engine: below ``scan_up_to`` allowed passages their stored vectors are read
    (exact); above it HNSW skips the others through a bitmap. Both propose only allowed passages."""
    import dataclasses

    from index.folder.engine import FolderEngine

    tagged = [dataclasses.replace(d, tags={"half": str(i % 2)}) for i, d in enumerate(bundled_documents)]
    build_index(tagged, fake_embedder, index_config(exact_up_to=10), tmp_path / "idx")
    version = load_index(tmp_path / "idx", fake_embedder)
    assert hasattr(version.faiss_index, "hnsw"), "above exact_up_to: HNSW"
    engine = FolderEngine(version)
    allowed = np.array(
        [
            version.documents[c.doc_id].tags[0][1] == "1"
            for c in map(version.chunks.__getitem__, range(len(version.chunks)))
        ]
    )
    vector = fake_embedder.embed_queries([QUESTION])
    exact = np.flatnonzero(allowed)[
        np.argsort(-(version.passage_vectors[np.flatnonzero(allowed)] @ vector[0]), kind="stable")
    ]
    engine.scan_up_to = len(version.chunks)  # every filter scanned
    assert engine.nearest(vector, 10, allowed) == exact[:10].tolist()
    engine.scan_up_to = 0  # every filter through HNSW
    through_hnsw = engine.nearest(vector, 10, allowed)
    assert through_hnsw and all(allowed[i] for i in through_hnsw)
    assert len(set(through_hnsw) & set(exact[:10].tolist())) >= 8, "HNSW's filtered recall on a small graph"
    assert engine.nearest(vector, 10, np.zeros(len(allowed), dtype=bool)) == []


def test_a_backend_that_cannot_filter_says_so_rather_than_ignoring_the_filter():
    from index.backends.base import FilterUnsupported
    from index.backends.qdrant.points import TopK

    with pytest.raises(FilterUnsupported, match="cannot filter"):
        TopK()._allowed(np.ones(3, dtype=bool))
    assert TopK()._allowed(None) is None


def test_over_http_a_filter_narrows_the_answer_and_a_bad_date_is_a_422(make_client):
    client = make_client(rate_limit_per_minute=0, admin_key=Settings(admin_key="admin-key-0123456789abcdef").admin_key)
    admin = {"Authorization": "Bearer admin-key-0123456789abcdef"}
    for doc in DOCS:
        body = {"doc_id": doc.doc_id, "text": doc.text, "title": doc.title, "date": doc.date, "language": doc.language}
        response = client.post("/v1/documents", json={**body, "tags": dict(doc.tags) or None}, headers=admin)
        assert response.status_code == 201, response.text
    assert client.get("/v1/documents/budget-2567").json()["tags"] == {"department": "budget", "type": "report"}
    ask = lambda **f: client.post("/v1/ask", json={"question": QUESTION, "read": False, "filter": f})  # noqa: E731
    narrowed = ask(tags={"department": "health"}).json()
    assert {p["citation"]["doc_id"] for p in narrowed["passages"]} == {"health-2566"}
    nothing = ask(tags={"department": "defence"}).json()
    assert nothing["passages"] == [] and nothing["no_answer"] is True and nothing["answer"] is None
    both = ask(tags={"department": ["budget", "health"]}, date_from="๒๕๖๖").json()
    assert {p["citation"]["doc_id"] for p in both["passages"]} == {"budget-2567", "health-2566"}
    bad = ask(date_from="yesterday")
    assert bad.status_code == 422 and "is not a date" in bad.json()["message"]
    assert ask(shape="round").status_code == 422


def test_the_cli_asks_with_a_filter_and_names_a_bad_one(tmp_path, monkeypatch, fake_embedder):
    import json

    from typer.testing import CliRunner

    import index.encoders.factory
    from khamtop.cli import app
    from tests.fakes import FakeEmbedder

    monkeypatch.setattr(index.encoders.factory, "load_embedder", lambda settings: FakeEmbedder())
    home = tmp_path / "idx"
    build_index(DOCS, fake_embedder, index_config(), home)
    ask = ["ask", QUESTION, "--index", str(home), "--no-read", "--json"]
    done = CliRunner().invoke(app, [*ask, "--filter", '{"tags": {"department": "health"}}'])
    assert done.exit_code == 0, done.output
    assert {p["citation"]["doc_id"] for p in json.loads(done.output)["passages"]} == {"health-2566"}
    bad = CliRunner().invoke(app, [*ask, "--filter", '{"date_to": "พรุ่งนี้"}'])
    assert bad.exit_code == 2 and "--filter: 'พรุ่งนี้' is not a date" in bad.output
