"""The khamtop command line, with the fake embedder (the real model: test_end_to_end.py)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import index.encoders.factory
from index.folder.load import resolve
from khamtop.cli import app
from tests.fakes import FakeEmbedder

runner = CliRunner()


@pytest.fixture(autouse=True)
def fake_model(monkeypatch):
    monkeypatch.setattr(index.encoders.factory, "load_embedder", lambda settings: FakeEmbedder())
    # The fake embedder's home has no reader export; the reader's commands are tested in
    # test_reader_model.py and the reading path in test_reading.py.
    monkeypatch.setenv("KHAMTOP_READER", "false")


def test_index_build_then_ask_answers_with_citations(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "award.md").write_text("---\ntitle: รางวัล\n---\nไทยได้รับ 4 รางวัล ASEAN ICT Award 2021", "utf-8")
    (docs / "meeting.txt").write_text("การประชุมรัฐมนตรีอาเซียนด้านดิจิทัล ครั้งที่ 2 จัดผ่านระบบการประชุมทางไกล", "utf-8")
    out = tmp_path / "idx"
    built = runner.invoke(app, ["index", "build", str(docs), "--out", str(out)])
    assert built.exit_code == 0, built.output
    assert "indexed 2 documents" in built.output

    asked = runner.invoke(app, ["ask", "ASEAN ICT Award กี่รางวัล", "--json", "--top-k", "1", "--index", str(out)])
    assert asked.exit_code == 0, asked.output
    body = json.loads(asked.stdout)
    assert body["mode"] == "hybrid" and body["no_answer"] is False
    (passage,) = body["passages"]
    assert passage["citation"]["doc_id"] == "award" and passage["citation"]["title"] == "รางวัล"
    text = "ไทยได้รับ 4 รางวัล ASEAN ICT Award 2021"
    assert passage["text"] == text[passage["citation"]["char_start"] : passage["citation"]["char_end"]]
    assert body["answer"]["text"] == text and body["answer"]["citation"]["doc_id"] == "award"

    plain = runner.invoke(app, ["ask", "ประชุมทางไกล", "--index", str(out)])
    assert plain.exit_code == 0 and "[meeting chars 0-" in plain.output


def test_index_build_if_missing_keeps_an_existing_index(tmp_path, fake_index, monkeypatch):
    monkeypatch.setenv("KHAMTOP_MODEL", "fake-trigram")  # the model the fake index was built with
    monkeypatch.setenv("KHAMTOP_EMBEDDING_BACKEND", "onnx")  # a backend of its fp32 vectors
    before = (resolve(fake_index) / "manifest.json").read_bytes()
    result = runner.invoke(app, ["index", "build", "--out", str(fake_index), "--if-missing"])
    assert result.exit_code == 0 and "not rebuilding" in result.output
    assert (resolve(fake_index) / "manifest.json").read_bytes() == before


def test_index_build_reports_unreadable_files_and_indexes_the_rest(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ok.txt").write_text("ข้อความภาษาไทย", "utf-8")
    (docs / "bad.txt").write_bytes("ภาษาไทย".encode("tis-620"))
    result = runner.invoke(app, ["index", "build", str(docs), "--out", str(tmp_path / "idx")])
    assert result.exit_code == 0
    assert "skipped bad.txt: not UTF-8" in result.output
    assert "indexed 1 documents" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["index", "build", "/no/such/folder"], "is not a folder"),
        (["ask", "   "], "question: question must not be empty or blank"),
        (["ask", "ครม.", "--top-k", "0"], "top_k"),
        (["ask", "ครม.", "--index", "/no/such/index"], "no index at /no/such/index"),
        (["serve", "--index", "/no/such/index"], "no index at /no/such/index"),
    ],
)
def test_cli_errors_name_the_problem_without_a_traceback(args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_an_invalid_setting_is_a_clean_error(monkeypatch, fake_index):
    monkeypatch.setenv("KHAMTOP_CHUNK_TOKENS", "lots")
    result = runner.invoke(app, ["ask", "ครม.", "--index", str(fake_index)])
    assert result.exit_code == 2 and "invalid setting: chunk_tokens" in result.output


@pytest.mark.parametrize(
    ("section", "key", "old", "reason"),
    [
        (None, "format", "khamtop-index/1", "format"),
        ("chunker", "normalizer", "nfc-zw-saraam/1", "normalised by 'nfc-zw-saraam/1'"),
    ],
)
def test_index_build_if_missing_rebuilds_an_index_of_an_older_format_or_normaliser(
    fake_index, monkeypatch, section, key, old, reason
):
    monkeypatch.setenv("KHAMTOP_MODEL", "fake-trigram")
    monkeypatch.setenv("KHAMTOP_EMBEDDING_BACKEND", "onnx")  # a backend of the fake index's fp32 vectors
    manifest_path = resolve(fake_index) / "manifest.json"
    manifest = json.loads(manifest_path.read_text("utf-8"))
    (manifest[section] if section else manifest)[key] = old
    manifest_path.write_text(json.dumps(manifest), "utf-8")
    result = runner.invoke(app, ["index", "build", "--out", str(fake_index), "--if-missing"])
    assert result.exit_code == 0 and "rebuilding the index" in result.output and reason in result.output
    assert json.loads((resolve(fake_index) / "manifest.json").read_text("utf-8"))["format"] != "khamtop-index/1"


def test_eval_command_prints_the_table_and_writes_both_reports(tmp_path, monkeypatch):
    gold = tmp_path / "gold.jsonl"
    gold.write_text(
        json.dumps(
            {
                "id": "a",
                "question": "ASEAN ICT Award ไทยได้กี่รางวัล",
                "evidence": [{"doc_id": "adgmin-2-results-2022", "text": "ไทยได้รับ 4 รางวัล"}],
            },
            ensure_ascii=False,
        )
        + "\n",
        "utf-8",
    )
    out = tmp_path / "out"
    result = runner.invoke(app, ["eval", "--gold", str(gold), "--mode", "hybrid", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "gold (hybrid)" in result.output and "hit@1" in result.output
    assert json.loads((out / "results.json").read_text("utf-8"))["index"]["mode"] == "hybrid"
    assert "hybrid search" in (out / "report.html").read_text("utf-8")


def test_eval_command_refuses_an_unknown_mode():
    result = runner.invoke(app, ["eval", "--mode", "fuzzy"])
    assert result.exit_code == 2 and "--mode must be dense, keyword or hybrid" in result.output


def test_serve_prints_the_widget_demo_and_how_to_allow_another_site(fake_index, monkeypatch):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
    result = runner.invoke(app, ["serve", "--index", str(fake_index), "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8123/widget/demo" in result.output
    assert '<script src="http://127.0.0.1:8123/widget.js"' in result.output
    assert "KHAMTOP_CORS_ORIGINS=https://www.example.go.th khamtop serve" in result.output

    monkeypatch.setenv("KHAMTOP_CORS_ORIGINS", "https://www.example.go.th")
    result = runner.invoke(app, ["serve", "--index", str(fake_index)])
    assert "pages on these origins may call it: https://www.example.go.th" in result.output


def test_serve_names_a_bad_cors_origin(fake_index, monkeypatch):
    monkeypatch.setenv("KHAMTOP_CORS_ORIGINS", "www.example.go.th")
    result = runner.invoke(app, ["serve", "--index", str(fake_index)])
    assert result.exit_code == 2
    assert "cors_origins" in result.output and "'www.example.go.th' is not an origin" in result.output


def test_index_add_and_remove_make_new_versions_and_name_what_changed(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "award.md").write_text("---\ntitle: รางวัล\n---\nไทยได้รับ 4 รางวัล ASEAN ICT Award 2021", "utf-8")
    out = tmp_path / "idx"
    assert runner.invoke(app, ["index", "build", str(docs), "--out", str(out)]).exit_code == 0
    new = tmp_path / "ประกาศ.txt"
    new.write_text("ประกาศรับสมัครนักศึกษาฝึกงาน", "utf-8")

    added = runner.invoke(app, ["index", "add", str(new), "--index", str(out)])
    assert added.exit_code == 0, added.output
    assert "version 2: added 1" in added.output
    again = runner.invoke(app, ["index", "add", str(new), str(docs), "--index", str(out)])
    assert "nothing changed (2 unchanged); the index stays at version 2" in again.output
    renamed = runner.invoke(app, ["index", "add", str(new), "--id", "news/intern", "--index", str(out)])
    assert "version 3: added 1" in renamed.output

    removed = runner.invoke(app, ["index", "remove", "ประกาศ", "--index", str(out)])
    assert removed.exit_code == 0 and "version 4: removed 1" in removed.output
    missing = runner.invoke(app, ["index", "remove", "ไม่มี", "--index", str(out)])
    assert missing.exit_code == 2 and "no document with id 'ไม่มี' to remove" in missing.output
    assert runner.invoke(app, ["index", "add", str(tmp_path / "nope.txt"), "--index", str(out)]).exit_code == 2


def test_ask_without_the_readers_export_says_how_to_make_it(fake_index, monkeypatch):
    monkeypatch.setenv("KHAMTOP_READER", "true")
    result = runner.invoke(app, ["ask", "ASEAN ICT Award", "--index", str(fake_index)])
    assert result.exit_code == 2 and "no reader export" in result.output and "khamtop model prepare" in result.output
    assert "Traceback" not in result.output
    unread = runner.invoke(app, ["ask", "ASEAN ICT Award", "--no-read", "--index", str(fake_index)])
    assert unread.exit_code == 0, unread.output
