"""The index folder: written all-or-nothing, verified at load, tied to the model that built it."""

from __future__ import annotations

import json

import faiss
import numpy as np
import pytest

from corpus.document import Document
from index.folder import write
from index.build.embed import corpus_checksum, indexed_text
from index.store.manifest import IndexLoadError, sha256
from index.folder.load import load_index, resolve
from index.build.write import build_index
from tests.fakes import FakeEmbedder
from tests.helpers import index_config, make_retriever

CONFIG = index_config(64, 8)
DOCS = [
    Document("a", "คณะรัฐมนตรีมีมติรับทราบผลการประชุม ครั้งที่ 2 ระหว่างวันที่ 27 – 28 มกราคม 2565", "เอกสาร ก", language="th"),
    Document("b/c", "Thailand received four ASEAN ICT Awards in 2021. น้ำใจไมตรี", "Doc B", "https://example.org/b"),
]


def test_index_round_trips_chunks_documents_and_manifest(tmp_path, fake_embedder):
    manifest = build_index(DOCS, fake_embedder, CONFIG, tmp_path / "idx")
    loaded = load_index(tmp_path / "idx", fake_embedder)
    assert loaded.documents["b/c"] == DOCS[1]
    assert loaded.faiss_index.ntotal == len(loaded.chunks) == manifest["corpus"]["chunks"]
    for chunk in loaded.chunks:
        assert loaded.documents[chunk.doc_id].text[chunk.char_start : chunk.char_end] == chunk.text
    ids = list(range(len(loaded.chunks)))[::-1]  # any order, as a ranking gives them
    assert loaded.chunks.texts(ids) == [loaded.chunks[i].text for i in ids] and loaded.chunks.texts([]) == []
    assert manifest["model"] == {
        "id": "fake-trigram",
        "fingerprint": fake_embedder.fingerprint(),
        "dim": 256,
        "query_prompt": "query: ",
        "passage_prompt": "passage: ",
        "backend": "fake",
        "precision": "fp32",
    }
    assert manifest["chunker"]["chunk_tokens"] == 64 and manifest["chunker"]["normalizer"]
    assert manifest["corpus"]["documents"] == 2 and len(manifest["corpus"]["checksum"]) == 64
    assert manifest["package_version"] and manifest["created_at"]


def test_chunks_file_is_readable_utf8_not_escaped(tmp_path, fake_embedder):
    build_index(DOCS, fake_embedder, CONFIG, tmp_path / "idx")
    raw = (resolve(tmp_path / "idx") / "chunks.jsonl").read_text("utf-8")
    assert "คณะรัฐมนตรี" in raw and "\\u0e" not in raw


def test_corpus_checksum_changes_when_any_text_changes(fake_embedder):
    changed = [DOCS[0], Document("b/c", DOCS[1].text + "!", "Doc B", "https://example.org/b")]
    assert corpus_checksum(DOCS) != corpus_checksum(changed)
    assert corpus_checksum(DOCS) == corpus_checksum(list(reversed(DOCS)))


def test_a_failed_build_leaves_the_previous_index_intact(tmp_path, fake_embedder, monkeypatch):
    target = tmp_path / "idx"
    build_index(DOCS, fake_embedder, CONFIG, target)
    before = {p.name: p.read_bytes() for p in target.rglob("*") if p.is_file()}

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(write, "_write_jsonl", crash)
    with pytest.raises(OSError, match="disk full"):
        build_index(DOCS[:1], fake_embedder, CONFIG, target)
    assert {p.name: p.read_bytes() for p in target.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["idx"], "no temporary folder is left behind"
    assert len(load_index(target, fake_embedder).documents) == 2


def test_a_rebuild_replaces_the_index_whole(tmp_path, fake_embedder):
    target = tmp_path / "idx"
    build_index(DOCS, fake_embedder, CONFIG, target)
    build_index(DOCS[:1], fake_embedder, CONFIG, target)
    assert list(load_index(target, fake_embedder).documents) == ["a"]
    assert [p.name for p in tmp_path.iterdir()] == ["idx"]


def test_a_crash_between_the_two_renames_is_recovered_at_load(tmp_path, fake_embedder):
    target = tmp_path / "idx"
    build_index(DOCS, fake_embedder, CONFIG, target)
    target.rename(tmp_path / ".idx.old-deadbeef")  # the moment the old index is moved aside
    assert set(load_index(target, fake_embedder).documents) == {"a", "b/c"}


@pytest.mark.parametrize(
    "name", ["index.faiss", "chunks.jsonl", "chunk_spans.npy", "documents.jsonl", "sentence_spans.npy", "sentences.npy"]
)
def test_a_damaged_file_is_refused_naming_it(tmp_path, fake_embedder, name):
    build_index(DOCS, fake_embedder, CONFIG, tmp_path / "idx")
    path = resolve(tmp_path / "idx") / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IndexLoadError, match=f"{name} does not match its checksum"):
        load_index(tmp_path / "idx", fake_embedder)


def test_a_missing_file_or_manifest_is_refused(tmp_path, fake_embedder):
    build_index(DOCS, fake_embedder, CONFIG, tmp_path / "idx")
    (resolve(tmp_path / "idx") / "index.faiss").unlink()
    with pytest.raises(IndexLoadError, match="index.faiss is missing"):
        load_index(tmp_path / "idx", fake_embedder)
    (resolve(tmp_path / "idx") / "manifest.json").write_text("{not json")
    with pytest.raises(IndexLoadError, match="damaged manifest.json"):
        load_index(tmp_path / "idx", fake_embedder)
    with pytest.raises(IndexLoadError, match="khamtop index build"):
        load_index(tmp_path / "nothing-here", fake_embedder)


def test_an_index_from_another_model_or_other_weights_is_refused(tmp_path, fake_embedder):
    build_index(DOCS, fake_embedder, CONFIG, tmp_path / "idx")
    with pytest.raises(IndexLoadError, match="built with model 'fake-trigram'.*uses 'other'"):
        load_index(tmp_path / "idx", FakeEmbedder(model_id="other"))
    with pytest.raises(IndexLoadError, match="weights"):
        load_index(tmp_path / "idx", FakeEmbedder(dim=128))  # same id, other weights
    with pytest.raises(IndexLoadError, match="prompts"):
        load_index(tmp_path / "idx", FakeEmbedder(query_prompt=""))


def test_an_index_of_another_format_is_refused(tmp_path, fake_embedder):
    build_index(DOCS, fake_embedder, CONFIG, tmp_path / "idx")
    manifest_path = resolve(tmp_path / "idx") / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format"] = "khamtop-index/0"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexLoadError, match="format"):
        load_index(tmp_path / "idx", fake_embedder)


def test_the_index_is_exact_inner_product_search_over_normalised_vectors(tmp_path, fake_embedder):
    build_index(DOCS, fake_embedder, CONFIG, tmp_path / "idx")
    loaded = load_index(tmp_path / "idx", fake_embedder)
    assert isinstance(loaded.faiss_index, faiss.IndexFlatIP)
    question = "ASEAN ICT Awards 2021"
    q = fake_embedder.embed_queries([question])[0]
    hits = make_retriever(fake_embedder, loaded, mode="dense", sentence_weight=0.0).search(question, top_k=5).passages
    assert hits[0].document.doc_id == "b/c"
    indexed = indexed_text(hits[0].document.title, hits[0].passage.text)  # title + passage, as built
    assert hits[0].score == pytest.approx(float(q @ fake_embedder.embed_passages([indexed])[0]), abs=1e-5)
    assert len(hits) == len(loaded.chunks) <= 5, "top_k larger than the index returns what there is"


def test_dense_score_blends_the_passage_with_its_best_sentence(tmp_path, fake_embedder):
    build_index(DOCS, fake_embedder, CONFIG, tmp_path / "idx")
    loaded = load_index(tmp_path / "idx", fake_embedder)
    question = "ASEAN ICT Awards 2021"
    q = fake_embedder.embed_queries([question])[0]
    (hit,) = make_retriever(fake_embedder, loaded, mode="dense", sentence_weight=0.5).search(question, top_k=1).passages
    doc = loaded.documents[hit.passage.doc_id].text
    sentences = [s for s in loaded.sentences if s.doc_id == hit.passage.doc_id]
    best = max(float(q @ fake_embedder.embed_passages([doc[s.char_start : s.char_end]])[0]) for s in sentences)
    passage = float(q @ fake_embedder.embed_passages([indexed_text(hit.document.title, hit.passage.text)])[0])
    # Sentence vectors are stored in int8 (index.folder.vectors): cosines within a few thousandths.
    assert hit.score == pytest.approx(0.5 * passage + 0.5 * best, abs=5e-3)


def test_search_normalises_the_question_like_the_documents(tmp_path, fake_embedder):
    build_index(DOCS, fake_embedder, CONFIG, tmp_path / "idx")
    retriever = make_retriever(fake_embedder, load_index(tmp_path / "idx", fake_embedder))
    plain = retriever.search("น้ำใจไมตรี", top_k=1).passages[0]
    # Zero-width spaces and a split Sara Am (ํ + า) are repaired before embedding.
    messy = retriever.search("น\u0e49\u0e4d\u0e32\u200bใจ\u200bไมตรี", top_k=1).passages[0]
    assert (messy.passage.id, messy.score) == (plain.passage.id, plain.score)


def test_building_an_empty_corpus_is_refused(tmp_path, fake_embedder):
    with pytest.raises(ValueError, match="no documents"):
        build_index([], fake_embedder, CONFIG, tmp_path / "idx")
    with pytest.raises(ValueError, match="unique"):
        build_index([DOCS[0], DOCS[0]], fake_embedder, CONFIG, tmp_path / "idx")


def test_above_the_exact_limit_a_version_gets_hnsw_with_its_recall_in_the_manifest(
    tmp_path, fake_embedder, bundled_documents
):
    manifest = build_index(bundled_documents, fake_embedder, index_config(exact_up_to=20), tmp_path / "idx")
    info = manifest["faiss"]
    assert info["type"] == "IndexHNSWSQ" and info["storage"] == "SQ8" and not info["exact"] and info["efSearch"] >= 100
    assert 0.9 <= info["recall@10"] <= 1 and 0.9 <= info["recall@100"] <= 1 and info["recall_probes"] > 0
    loaded = load_index(tmp_path / "idx", fake_embedder)
    assert isinstance(loaded.faiss_index, faiss.IndexHNSW) and loaded.faiss_index.hnsw.efSearch == info["efSearch"]

    # The same answers as exact search on a corpus this small, and updates keep exact vectors.
    flat_dir = tmp_path / "flat"
    build_index(bundled_documents, fake_embedder, index_config(exact_up_to=10**9), flat_dir)
    flat = load_index(flat_dir, fake_embedder)
    for question in ("ASEAN Digital Hub", "ศูนย์ปฏิบัติการต่อต้านการทุจริต", "ความร่วมมือกับจีน"):
        ask = [
            make_retriever(fake_embedder, i, mode="dense").search(question, top_k=5).passages for i in (loaded, flat)
        ]
        assert [h.passage.text for h in ask[0]] == [h.passage.text for h in ask[1]]
    # The index's own copies are 8-bit; the exact float32 vectors are kept beside it.
    assert (np.asarray(loaded.passage_vectors) == np.asarray(flat.passage_vectors)).all()
    assert not np.allclose(loaded.faiss_index.reconstruct_n(0, 5), flat.passage_vectors[:5], atol=1e-4)


def test_each_chunk_knows_exactly_the_sentences_that_overlap_it(_fake_index_once):
    index = load_index(_fake_index_once)
    sentences = list(index.sentences)
    for chunk in index.chunks:
        overlapping = [
            s.id
            for s in sentences
            if s.doc_id == chunk.doc_id and s.char_start < chunk.char_end and s.char_end > chunk.char_start
        ]
        assert list(index.chunk_sentences[chunk.id]) == overlapping
        assert chunk.text == index.documents[chunk.doc_id].text[chunk.char_start : chunk.char_end]


def test_spans_outside_their_document_are_refused_even_with_a_matching_checksum(tmp_path, fake_embedder):
    # A bug or a hand edit, not damage: the checksum matches, yet citations would be wrong.
    build_index(DOCS, fake_embedder, CONFIG, tmp_path / "idx")
    folder = resolve(tmp_path / "idx")
    spans = np.load(folder / "chunk_spans.npy")
    spans[0, 2] = 10**6
    np.save(folder / "chunk_spans.npy", spans)
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    manifest["files"]["chunk_spans.npy"] = sha256(folder / "chunk_spans.npy")
    (folder / "manifest.json").write_text(json.dumps(manifest), "utf-8")
    with pytest.raises(IndexLoadError, match="outside its document"):
        load_index(tmp_path / "idx", fake_embedder)


def test_a_text_repeated_across_documents_is_encoded_once(tmp_path):
    class Counting(FakeEmbedder):
        def __init__(self):
            super().__init__()
            self.texts: list[str] = []

        def embed_passages(self, texts, progress=False):
            self.texts += list(texts)
            return super().embed_passages(texts)

    shared = "กระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคมแจ้งข่าว"
    docs = [Document(f"d{i}", f"{shared} ข่าวที่ {i} เรื่องการประชุมอาเซียน", f"ข่าว {i}") for i in range(3)]
    embedder = Counting()
    build_index(docs, embedder, CONFIG, tmp_path / "idx")
    assert len(embedder.texts) == len(set(embedder.texts)), "no text is encoded twice"
    loaded = load_index(tmp_path / "idx", embedder)
    assert len(loaded.sentences) > len(
        {loaded.documents[s.doc_id].text[s.char_start : s.char_end] for s in loaded.sentences}
    )
    assert np.allclose(np.linalg.norm(loaded.sentence_vectors[:], axis=1), 1, atol=0.02)  # int8 rows


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
def test_a_document_with_unicode_line_separators_reloads_unchanged(tmp_path, fake_embedder, separator):
    # json.dumps leaves these unescaped, and str.splitlines() would split inside the string.
    doc = Document("sep", f"ประชุมครั้งที่ 2{separator}ไทยได้รับ 4 รางวัล ASEAN ICT Award", "เอกสาร")
    build_index([doc, DOCS[1]], fake_embedder, CONFIG, tmp_path / "idx")
    loaded = load_index(tmp_path / "idx", fake_embedder)
    assert loaded.documents["sep"].text == doc.text
    assert all(c.text == loaded.documents[c.doc_id].text[c.char_start : c.char_end] for c in loaded.chunks)
