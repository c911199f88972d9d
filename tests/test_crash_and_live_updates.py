"""Writes that die at any moment, and queries that run while documents come and go.

kill -9 lands on a writer process at random moments, over and over; after each, the index must
load (checksums verified) and hold every version the writer reported as committed. Then, queries
in a loop while an admin adds, replaces and removes a document: no errors, and every response
comes whole from the version it names.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time

import pytest

from index.folder.load import load_index
from service.settings import PROJECT_ROOT, Settings

pytestmark = pytest.mark.slow

# A writer that adds and removes one document for ever, printing each version it commits.
WRITER = """
import sys
from corpus.document import Document
from index.build.write import update_index
from tests.fakes import FakeEmbedder
from tests.helpers import index_config

home, embedder = sys.argv[1], FakeEmbedder()
i = 0
while True:
    i += 1
    if i % 2:
        doc = Document("x", ("ข่าวรุ่นที่ %d เรื่องศูนย์ข้อมูลแห่งชาติ " % i) * 40, "ข่าว")
        result = update_index(home, embedder, index_config(), upsert=[doc])
    else:
        result = update_index(home, embedder, index_config(), remove=["x"])
    print("committed", result.version, flush=True)
"""


def test_kill_9_at_random_moments_never_loses_a_committed_version(make_client, fake_index, fake_embedder):
    rng = random.Random(7)
    base_docs = set(load_index(fake_index, fake_embedder).documents)
    kills, mid_write, committed = 0, 0, 0
    # At least 15 kills, and on until three have landed inside a write (bounded: 60 at most), so
    # that the machine's speed on the day decides how long the test runs, not whether it passes.
    while kills < 15 or (mid_write < 3 and kills < 60):
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(fake_index)],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        first = child.stdout.readline()  # the first write warms up (segmenter, sentence model)
        assert first.startswith("committed"), first
        time.sleep(rng.uniform(0.0, 0.6))  # an update takes about 0.2 s here, half of it writing
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate()
        kills += 1
        reported = [int(line.split()[1]) for line in (first + out).splitlines() if line.startswith("committed")]
        committed += len(reported)
        mid_write += any(p.name.startswith(".v") for p in fake_index.iterdir())

        loaded = load_index(fake_index, fake_embedder)  # verifies every checksum
        assert set(loaded.documents) in (base_docs, base_docs | {"x"})
        if reported:
            assert loaded.version >= max(reported), "a version reported committed was lost"
    print(f"\nkill -9: {kills} kills, {committed} versions committed between them, {mid_write} during a write")
    assert mid_write >= 3, "the kills should land inside writes, or this test proves little"

    # Restart: the service comes up on the surviving version.
    ready = make_client().get("/readyz").json()
    assert ready["status"] == "ready" and ready["index_version"] == load_index(fake_index).version


def test_queries_during_adds_and_removes_see_one_whole_version_each(make_client):
    key = "admin-key-0123456789abcdef"
    client = make_client(admin_key=Settings(admin_key=key).admin_key, rate_limit_per_minute=0)
    marker_of: dict[int, str | None] = {}  # version -> the text marker of "x" in it (None: no "x")
    errors: list[str] = []
    stop = threading.Event()
    marker_of[client.get("/readyz").json()["index_version"]] = None

    def admin():
        for i in range(1, 41):
            if i % 3:
                marker = f"ข่าวรุ่นที่ {i} "
                doc = {"doc_id": "x", "text": (marker + "เรื่องศูนย์ข้อมูลแห่งชาติ ") * 30, "title": "ข่าว"}
                response = client.post("/v1/documents", json=doc, headers={"X-API-Key": key})
            else:
                marker = None
                response = client.delete("/v1/documents/x", headers={"X-API-Key": key})
            if response.status_code not in (200, 201):
                errors.append(f"admin {response.status_code}: {response.text}")
                continue
            marker_of[response.json()["index_version"]] = marker
        stop.set()

    writer = threading.Thread(target=admin)
    writer.start()
    answered: dict[int, int] = {}
    while not stop.is_set():
        response = client.post("/v1/ask", json={"question": "ศูนย์ข้อมูลแห่งชาติ ข่าวรุ่นที่", "top_k": 5})
        if response.status_code != 200:
            errors.append(f"ask {response.status_code}: {response.text}")
            continue
        body = response.json()
        answered[body["index_version"]] = answered.get(body["index_version"], 0) + 1
        for passage in body["passages"]:
            if passage["citation"]["doc_id"] == "x":
                # Written before the version is named to the admin thread: wait for its record.
                deadline = time.monotonic() + 5
                while body["index_version"] not in marker_of and time.monotonic() < deadline:
                    time.sleep(0.01)
                expected = marker_of[body["index_version"]]
                if expected is None or expected not in passage["text"]:
                    errors.append(f"version {body['index_version']} answered with x as {passage['text'][:20]!r}")
    writer.join()
    print(
        f"\nlive updates: {len(marker_of) - 1} versions, {sum(answered.values())} answers from {len(answered)} of them"
    )
    assert errors == []
    assert len(answered) >= 5, "queries should have been answered by many versions"
