"""Limits (413, 429, 503 shed, 504 deadline), /metrics and the JSON request log, in process."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time

import pytest

from service.limits import Admission, Overloaded, RateLimit
from service.observe import JsonFormatter
from service.settings import Settings
from tests.fakes import FakeEmbedder

QUESTION = {"question": "ไทยได้รับรางวัล ASEAN ICT Award กี่รางวัล"}


class SlowEmbedder(FakeEmbedder):
    """Answers after ``delay`` seconds: a question that costs time."""

    def __init__(self, delay: float):
        super().__init__()
        self.delay = delay

    def embed_queries(self, texts):
        time.sleep(self.delay)
        return super().embed_queries(texts)


def test_a_body_over_the_limit_is_refused_with_413(make_client):
    client = make_client(max_body_bytes=2048)
    big = {"question": "ก" * 1000}  # 3,000 bytes of UTF-8
    response = client.post("/v1/ask", json=big)
    assert response.status_code == 413 and "2,048 bytes" in response.json()["detail"]

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(10):
            yield b"x" * 1000

    streamed = client.post("/v1/ask", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert client.post("/v1/ask", json=QUESTION).status_code == 200


def test_a_client_over_its_rate_gets_429_with_retry_after(make_client):
    client = make_client(rate_limit_per_minute=60, rate_limit_burst=3)
    statuses = [client.post("/v1/ask", json=QUESTION).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = client.post("/v1/ask", json=QUESTION)
    assert refused.headers["retry-after"] == "1" and "too many requests" in refused.json()["detail"]
    assert client.get("/readyz").status_code == 200, "health checks are not limited"


def test_the_rate_limit_refills_and_counts_each_client_apart():
    limiter = RateLimit(app=None, per_minute=60, burst=2)
    assert [limiter.take("a", 0.0) for _ in range(3)] == [0.0, 0.0, pytest.approx(1.0)]
    assert limiter.take("b", 0.0) == 0.0, "another client has its own bucket"
    assert limiter.take("a", 1.0) == 0.0, "a second later a token is back"
    small = RateLimit(app=None, per_minute=60, burst=1, max_clients=2)
    for client in "xyz":
        small.take(client, 0.0)
    assert list(small.buckets) == ["y", "z"], "the longest-idle client is forgotten first"


def test_admission_refuses_at_once_beyond_running_plus_queue():
    async def scenario():
        admission = Admission(concurrency=1, queue=1, deadline_s=5)
        gate = threading.Event()
        first = asyncio.ensure_future(admission.run(gate.wait, 5))
        second = asyncio.ensure_future(admission.run(gate.wait, 5))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        with pytest.raises(Overloaded):
            await admission.run(gate.wait, 5)
        refused_in = time.monotonic() - started
        gate.set()
        await asyncio.gather(first, second)
        return refused_in, admission.inflight

    refused_in, inflight = asyncio.run(scenario())
    assert refused_in < 0.05 and inflight == 0


def test_overload_is_shed_fast_with_503_and_the_service_recovers(make_client):
    client = make_client(SlowEmbedder(0.3), search_concurrency=1, search_queue=1, rate_limit_per_minute=0)
    results = []

    def ask():
        started = time.monotonic()
        response = client.post("/v1/ask", json=QUESTION)
        results.append((response.status_code, time.monotonic() - started, response.headers.get("retry-after")))

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    shed = [r for r in results if r[0] == 503]
    assert sorted(r[0] for r in results).count(200) >= 2 and len(shed) >= 3
    assert all(seconds < 0.2 and retry == "1" for _, seconds, retry in shed), "shed requests fail fast"
    assert client.post("/v1/ask", json=QUESTION).status_code == 200, "and the service recovers"


def test_a_search_past_the_deadline_gets_504_without_hanging(make_client):
    client = make_client(SlowEmbedder(1.0), request_timeout_s=0.2)
    started = time.monotonic()
    response = client.post("/v1/ask", json=QUESTION)
    assert response.status_code == 504 and "0.2 s" in response.json()["detail"]
    assert time.monotonic() - started < 0.8


def test_metrics_count_requests_and_describe_the_index(client):
    client.post("/v1/ask", json=QUESTION)
    client.post("/v1/ask", json={"question": ""})
    text = client.get("/metrics").text
    assert 'khamtop_requests_total{method="POST",route="/v1/ask",status="200"} 1.0' in text
    assert 'khamtop_requests_total{method="POST",route="/v1/ask",status="422"} 1.0' in text
    assert 'khamtop_request_seconds_bucket{le="0.05",route="/v1/ask"}' in text
    assert "khamtop_index_version 1.0" in text and "khamtop_index_documents 5.0" in text
    assert "khamtop_ready 1.0" in text


def test_metrics_need_the_admin_key_when_one_is_set(make_client):
    client = make_client(admin_key=Settings(admin_key="admin-key-0123456789abcdef").admin_key)
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"X-API-Key": "admin-key-0123456789abcdef"}).status_code == 200


def test_request_logs_are_json_without_question_text_or_query_strings(make_client, caplog):
    caplog.set_level(logging.INFO)
    client = make_client()
    client.post("/v1/ask", json=QUESTION)
    client.get("/documents/adgmin-2-results-2022?start=0&end=10&token=secret-token")
    lines = [JsonFormatter().format(r) for r in caplog.records if r.name.startswith("khamtop.")]
    entries = [json.loads(line) for line in lines]
    assert any(e["msg"] == "request" and e["route"] == "/v1/ask" and e["status"] == 200 for e in entries)
    assert any(e["msg"] == "request" and e["route"] == "/documents/{doc_id:path}" for e in entries)
    assert any(e["msg"] == "ask" and e["question_chars"] == len(QUESTION["question"]) for e in entries)
    assert not any(QUESTION["question"] in line or "secret-token" in line for line in lines)


def test_questions_are_logged_only_when_allowed(make_client, caplog):
    caplog.set_level(logging.INFO)
    make_client(log_questions=True).post("/v1/ask", json=QUESTION)
    assert any(getattr(r, "fields", {}).get("question") == QUESTION["question"] for r in caplog.records)
