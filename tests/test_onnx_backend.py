"""The ONNX backends give torch's vectors (fp32) or close to them (int8), with real Thai text."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from index.encoders.base import ModelLoadError
from index.encoders.factory import load_embedder
from index.encoders.onnx_export import FILES, ensure_export, export_dir, read_export, source_key
from index.encoders.base import OnnxExportError
from index.store.manifest import IndexLoadError
from index.store.compat import Wanted
from index.folder.load import load_index, stale_reason
from service.settings import Settings

QUESTIONS = [
    "ไทยได้รับรางวัล ASEAN ICT Award กี่รางวัล",
    "ใครเป็นประธานการประชุมรัฐมนตรีอาเซียนด้านดิจิทัล",
    "ศูนย์ปฏิบัติการต่อต้านการทุจริตตั้งขึ้นเมื่อใด",
    "What is the ASEAN Digital Hub?",
]


@pytest.fixture(scope="module")
def backends(real_model_dir, real_embedder):
    def load(backend: str):
        return load_embedder(Settings(models_dir=real_model_dir.parent, embedding_backend=backend).encoder_config())

    return {"torch": real_embedder if real_embedder.backend == "torch" else load("torch")} | {
        b: (real_embedder if real_embedder.backend == b else load(b)) for b in ("onnx", "onnx-int8", "onnx-int8-query")
    }


def wanted(settings: Settings) -> Wanted:
    return Wanted.of_config(settings.encoder_config(), settings.chunker_config())


def test_onnx_fp32_gives_torchs_vectors_and_fingerprint(backends, bundled_documents):
    torch, onnx = backends["torch"], backends["onnx"]
    passages = [doc.text[:700] for doc in bundled_documents]
    assert (torch.embed_queries(QUESTIONS) * onnx.embed_queries(QUESTIONS)).sum(axis=1).min() > 0.9999
    assert (torch.embed_passages(passages) * onnx.embed_passages(passages)).sum(axis=1).min() > 0.9999
    assert onnx.count_tokens(QUESTIONS + passages) == torch.count_tokens(QUESTIONS + passages)
    # The same vectors, so an index built by either is searched by the other.
    assert onnx.fingerprint() == torch.fingerprint()


def test_int8_stays_close_to_torch_but_counts_as_other_vectors(backends):
    torch, int8 = backends["torch"], backends["onnx-int8"]
    cosines = (torch.embed_queries(QUESTIONS) * int8.embed_queries(QUESTIONS)).sum(axis=1)
    assert cosines.min() > 0.98 and cosines.max() < 0.99999  # close, and really quantised
    assert int8.fingerprint() != torch.fingerprint()


def test_int8_questions_over_fp32_passages_search_an_fp32_index(backends, bundled_documents, real_fp32_index):
    mixed, onnx, int8 = backends["onnx-int8-query"], backends["onnx"], backends["onnx-int8"]
    passages = [doc.text[:700] for doc in bundled_documents]
    assert np.allclose(mixed.embed_queries(QUESTIONS), int8.embed_queries(QUESTIONS), atol=1e-5)
    assert np.allclose(mixed.embed_passages(passages), onnx.embed_passages(passages), atol=1e-5)
    assert mixed.fingerprint() == onnx.fingerprint(), "its index is an fp32 index"
    assert stale_reason(real_fp32_index, wanted(Settings(embedding_backend="onnx-int8-query"))) is None
    assert load_index(real_fp32_index, mixed).chunks


def test_a_service_that_only_answers_loads_only_the_question_encoder(real_model_dir):
    mixed = load_embedder(
        Settings(models_dir=real_model_dir.parent, embedding_backend="onnx-int8-query").encoder_config()
    )
    assert list(mixed._sessions) == ["query"]
    mixed.embed_queries(QUESTIONS[:1])
    assert list(mixed._sessions) == ["query"]
    mixed.embed_passages(["ข้อความ"])
    assert sorted(mixed._sessions) == ["passage", "query"]


def test_questions_are_encoded_on_one_thread_and_passages_on_every_core(real_model_dir):
    # One question is too small to share: a second thread only waits, while the other core runs
    # the keyword search (index.search.retriever). Passages come in big batches and use every core.
    embedder = load_embedder(Settings(models_dir=real_model_dir.parent, embedding_backend="onnx-int8").encoder_config())
    embedder.embed_passages(["ข้อความ"])
    threads = {side: session.get_session_options().intra_op_num_threads for side, session in embedder._sessions.items()}
    assert threads == {"query": 1, "passage": 0}


def test_a_batch_of_mixed_lengths_comes_back_in_the_order_given(backends, bundled_documents):
    # Texts are encoded longest first; each row must still be its own text's vector.
    onnx = backends["onnx"]
    texts = [QUESTIONS[0], bundled_documents[0].text[:1500], "ดิจิทัล", bundled_documents[1].text[:400]]
    together = onnx.embed_passages(texts)
    alone = np.vstack([onnx.embed_passages([t]) for t in texts])
    assert (together * alone).sum(axis=1).min() > 0.9999
    assert together.shape == (4, onnx.dim) and np.allclose(np.linalg.norm(together, axis=1), 1, atol=1e-5)


def test_an_fp32_index_is_stale_for_int8_and_refused_by_it(backends, real_fp32_index):
    assert stale_reason(real_fp32_index, wanted(Settings(embedding_backend="onnx"))) is None
    reason = stale_reason(real_fp32_index, wanted(Settings(embedding_backend="onnx-int8")))
    assert reason is not None and "int8" in reason
    with pytest.raises(IndexLoadError, match="rebuild"):
        load_index(real_fp32_index, backends["onnx-int8"])


def test_the_export_is_recorded_and_redone_when_the_model_changes(real_model_dir, tmp_path):
    record = read_export(real_model_dir)
    assert record is not None, "the set-up (khamtop model prepare) exports the model"
    assert record["dim"] == 384 and record["max_seq_length"] == 512
    copy = tmp_path / "model"
    copy.mkdir()
    (copy / "config.json").write_text("{}")
    key = source_key(copy)
    os.utime(copy / "config.json", ns=(1, 1))
    assert source_key(copy) != key


def test_a_model_the_onnx_path_cannot_pool_is_refused_with_a_way_out(tmp_path):
    model = tmp_path / "cls-model"
    (model / "1_Pooling").mkdir(parents=True)
    (model / "modules.json").write_text(
        json.dumps([{"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}])
    )
    (model / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    with pytest.raises(OnnxExportError, match="KHAMTOP_EMBEDDING_BACKEND=torch"):
        ensure_export(model)
    with pytest.raises(ModelLoadError, match="KHAMTOP_EMBEDDING_BACKEND=torch"):
        load_embedder(Settings(model=str(model), embedding_backend="onnx").encoder_config())


def test_a_damaged_onnx_file_is_a_clear_load_error_not_a_crash(real_model_dir, tmp_path):
    import shutil

    from index.encoders.onnx_export import export_dir

    model = tmp_path / "models" / "copy"
    shutil.copytree(real_model_dir, model)
    exported = export_dir(model)
    exported.mkdir()
    record = read_export(real_model_dir) | {"source_key": source_key(model)}
    (exported / "export.json").write_text(json.dumps(record))
    for name in ("model.onnx", "model-int8.onnx"):
        (exported / name).write_bytes(b"not an onnx file")
    with pytest.raises(ModelLoadError, match="khamtop model prepare"):
        load_embedder(Settings(model=str(model), embedding_backend="onnx-int8-query").encoder_config())


def test_the_question_encoder_keeps_its_word_table_in_float16(real_model_dir):
    # The service holds this model all the time: the table is most of its memory (index.encoders.onnx_export).
    import onnx
    from onnx import TensorProto

    path = export_dir(real_model_dir) / FILES["onnx-int8"]
    model = onnx.load(str(path))
    tables = [i for i in model.graph.initializer if len(i.dims) == 2 and i.dims[0] > 10_000]
    assert [t.data_type for t in tables] == [TensorProto.FLOAT16]
    assert path.stat().st_size < 250 * 2**20
