"""`khamtop bench` produces its figures (the figures themselves are never asserted: they vary)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from eval.bench import Workload, run_bench
from service.settings import PROJECT_ROOT, Settings
from tests.fakes import FakeEmbedder
from tests.helpers import index_config, make_retriever


def test_bench_reports_build_throughput_and_latency_percentiles(bundled_documents):
    load = Workload("bundled", bundled_documents, ["ครม. มีมติอะไร", "ASEAN Digital Hub คืออะไร"])
    report = run_bench(Settings(reader=False), FakeEmbedder(), load, requests=30, http=False)
    build = report["build"]
    assert build["documents"] == 5 and build["passages"] > 5
    assert build["passages_per_s"] == pytest.approx(build["passages"] / build["seconds"])
    assert set(report["in_process"]) == {"unread"}, "no reader: only the unread path is measured"
    latency = report["in_process"]["unread"]
    assert latency["requests"] == 30
    assert 0 < latency["p50_ms"] <= latency["p95_ms"] <= latency["p99_ms"]
    assert report["machine"]["cores"] >= 1 and "http" not in report


def test_a_kept_copy_is_used_again_only_for_the_same_request(tmp_path, bundled_documents):
    load = Workload("bundled", bundled_documents, ["ASEAN Digital Hub คืออะไร"])
    kept = tmp_path / "copy"

    def bench(passages):
        report = run_bench(
            Settings(reader=False), FakeEmbedder(), load, requests=3, http=False, replicate=passages, keep_replica=kept
        )
        return report["searched"]["passages"], "replicated_s" in report["build"]

    first, made = bench(300)
    assert first >= 300 and made
    assert bench(300) == (first, False), "the same request uses the kept copy"
    other, made = bench(600)
    assert other >= 600 and made, "another size is grown again, not the bigger or smaller copy reused"


@pytest.mark.slow
def test_bench_command_measures_the_real_service_over_http(tmp_path, real_model_dir):
    out = tmp_path / "bench.json"
    env = {**os.environ, "KHAMTOP_MODELS_DIR": str(real_model_dir.parent)}
    result = subprocess.run(
        [sys.executable, "-c", "from khamtop.cli import main; main()", "bench", "--requests", "16", "--out", str(out)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text("utf-8"))
    # With the reader and without, at 1 and 8 clients, in one run.
    runs = {(run["read"], run["clients"]): run for run in report["http"]["runs"]}
    assert set(runs) == {(True, 1), (True, 8), (False, 1), (False, 8)}
    assert set(report["in_process"]) == {"read", "unread"}
    assert all(run["errors"] == 0 and run["requests"] == 16 for run in runs.values())
    assert all(run["minor_faults_per_request"] >= 0 for run in runs.values())
    assert report["http"]["peak_rss_mib"] > 100 and report["http"]["ready_s"] > 0
    assert "query latency" in result.stdout


def test_a_replicated_index_grows_without_encoding_and_switches_to_hnsw(tmp_path, _fake_index_once):
    from eval.bench import replicate_index
    from index.folder.load import load_index

    class NoEncoding(FakeEmbedder):
        def embed_passages(self, texts, progress=False):
            raise AssertionError("replication must not encode")

    source = load_index(_fake_index_once)
    manifest = replicate_index(_fake_index_once, tmp_path / "big", 500, NoEncoding(), index_config(exact_up_to=200))
    assert manifest["corpus"]["chunks"] >= 500 and manifest["faiss"]["type"] == "IndexHNSWSQ"
    grown = load_index(tmp_path / "big", FakeEmbedder())
    copy = next(c for c in grown.chunks if c.doc_id.endswith("~1"))
    original = next(c for c in source.chunks if c.doc_id == copy.doc_id.removesuffix("~1") and c.text == copy.text)
    a, b = grown.passage_vectors[copy.id], source.passage_vectors[original.id]
    assert 0.8 < float(a @ b) < 0.9999, "a copy's vector is nudged, not duplicated"
    hits = make_retriever(FakeEmbedder(), grown).search("ASEAN Digital Hub", top_k=5).passages
    assert len({h.passage.text for h in hits}) == len(hits), "copies of one passage are not listed twice"
