"""Abuse that costs the attacker little and the service a lot, against real uvicorn on loopback
(issue 26): connections that never finish their headers (slowloris), uploads read a dozen at a
time, and an upload of unbroken Thai text. Bounded in count and time; no absolute timings asserted."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from eval.live import free_port, wait_ready
from service.app import create_app, server_options
from service.settings import Settings
from tests.fakes import FakeEmbedder

ADMIN = "admin-key-0123456789abcdef"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
QUESTION = {"question": "ASEAN Digital Hub"}


@pytest.fixture
def served(tmp_path, _fake_index_once):
    """``start(**settings)``: the app under real uvicorn with `khamtop serve`'s options; its base URL and app."""
    servers = []

    def start(**overrides):
        index = tmp_path / f"index{len(servers)}"
        shutil.copytree(_fake_index_once, index)
        settings = Settings(home=tmp_path, index_dir=index, reload_interval_s=0, reader=False, **overrides)
        port = free_port()
        app = create_app(settings, embedder_factory=lambda config: FakeEmbedder())
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", **server_options(settings))
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        servers.append((server, thread))
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, 30)
        return base, app

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(10)


def from_address(address: str) -> httpx.Client:
    """A client whose connections come from ``address`` (any 127.x.y.z is this machine)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=10)


def half_open(base: str, n: int, address: str = "127.0.0.1") -> list[socket.socket]:
    """``n`` connections from ``address`` that send the start of a request and never finish its headers."""
    host, port = base.removeprefix("http://").split(":")
    conns = []
    for _ in range(n):
        conn = socket.socket()
        conn.settimeout(5)
        conn.bind((address, 0))
        conn.connect((host, int(port)))
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        conns.append(conn)
    return conns


def close_all(conns: list[socket.socket]) -> None:
    for conn in conns:
        conn.close()


# Slowloris -----------------------------------------------------------------------------------------


def test_half_open_connections_leave_health_checks_and_questions_answered(served):
    # 100 unfinished requests against 64 connection slots; the header timeout far away, so that
    # only the bound on unfinished connections can keep the slots free.
    base, _ = served(max_connections=64, header_timeout_s=60, rate_limit_per_minute=0)
    conns = half_open(base, 100)
    try:
        for address in ("127.0.0.2", "127.0.0.1"):  # another client, and the attacker's own address
            with from_address(address) as http:
                health = http.get(f"{base}/healthz")
                answer = http.post(f"{base}/v1/ask", json=QUESTION)
            assert health.status_code == 200, (address, health.text)
            assert answer.status_code == 200, (address, answer.text)
    finally:
        close_all(conns)


def test_half_open_connections_from_many_addresses_leave_room_for_requests(served):
    base, _ = served(max_connections=64, header_timeout_s=60, rate_limit_per_minute=0)
    conns = []
    try:
        for i in range(20):  # 5 each from 20 addresses: under any one address's bound, 100 in all
            conns += half_open(base, 5, f"127.0.1.{i + 1}")
        with from_address("127.0.0.2") as http:
            assert http.get(f"{base}/healthz").status_code == 200
            assert http.post(f"{base}/v1/ask", json=QUESTION).status_code == 200
    finally:
        close_all(conns)


def test_the_oldest_unfinished_connections_are_closed_first(served):
    base, _ = served(max_connections=64, header_timeout_s=60, max_pending_connections_per_client=8)
    old = half_open(base, 8)
    new = half_open(base, 8)
    try:
        for conn in old:  # each closed by the server, answered 408 or reset
            with contextlib.suppress(ConnectionResetError):
                assert conn.recv(4096)[:12] in (b"", b"HTTP/1.1 408")
        for conn in new:  # still open: finishing the request gets it answered
            conn.sendall(b"1\r\n\r\n")
            assert conn.recv(4096).startswith(b"HTTP/1.1 200")
    finally:
        close_all(old + new)


def test_health_checks_are_answered_when_every_connection_is_taken(served):
    base, _ = served(max_connections=8, rate_limit_per_minute=0)
    clients = [httpx.Client(base_url=base, timeout=10) for _ in range(8)]
    try:
        for http in clients:  # 8 kept-alive connections, idle after one request each
            assert http.get("/healthz").status_code == 200
        with httpx.Client(base_url=base, timeout=10) as ninth:
            assert ninth.post("/v1/ask", json=QUESTION).status_code == 503, "the connection limit holds"
            assert ninth.get("/healthz").status_code == 200
            assert ninth.get("/readyz").status_code == 200
    finally:
        for http in clients:
            http.close()


def test_what_a_client_sees_during_a_slowloris_attack(served):
    """Measured, not asserted beyond success: new half-open connections at 60 a second for 3 s,
    while a normal client from another address asks and checks health."""
    base, _ = served(header_timeout_s=2, rate_limit_per_minute=0)
    stop, opened = threading.Event(), []

    def attack() -> None:
        while not stop.is_set() and len(opened) < 180:
            opened.extend(half_open(base, 1))
            time.sleep(1 / 60)

    attacker = threading.Thread(target=attack)
    attacker.start()
    latencies, statuses = [], []
    try:
        with from_address("127.0.0.2") as http:
            while attacker.is_alive() and len(latencies) < 300:
                started = time.perf_counter()
                statuses.append(http.get(f"{base}/healthz").status_code)
                statuses.append(http.post(f"{base}/v1/ask", json=QUESTION).status_code)
                latencies.append((time.perf_counter() - started) * 1000)
    finally:
        stop.set()
        attacker.join()
        close_all(opened)
    latencies.sort()
    print(
        f"\nhealth check + question during slowloris: n={len(latencies)}, "
        f"p50 {latencies[len(latencies) // 2]:.1f} ms, max {latencies[-1]:.1f} ms, {len(opened)} half-open connections"
    )
    assert set(statuses) == {200} and latencies


# Upload readers at once -----------------------------------------------------------------------------


def pdf_with_operators(n: int) -> bytes:
    """A one-page PDF whose content stream holds ``n`` text operators: seconds of pypdf's time."""
    content = b"BT /F1 12 Tf 72 720 Td " + b"(a) Tj 0 -0.01 Td " * n + b"ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def upload_readers_running() -> int:
    """This process's children that are reading an upload (corpus.sandbox)."""
    count = 0
    for proc in Path("/proc").iterdir():
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        count += ppid == os.getpid() and b"corpus.sandbox" in cmdline
    return count


def test_uploads_are_read_one_at_a_time_and_the_queue_is_bounded(served):
    base, _ = served(admin_key=ADMIN, rate_limit_per_minute=0, parse_timeout_s=1.5, parse_concurrency=1, parse_queue=2)
    slow = pdf_with_operators(150_000)  # read until the parse timeout stops it
    most, stop = [0], threading.Event()

    def watch() -> None:
        while not stop.is_set():
            most[0] = max(most[0], upload_readers_running())
            time.sleep(0.02)

    responses: list[httpx.Response] = []

    def upload(i: int) -> None:
        files = {"file": (f"slow{i}.pdf", slow, "application/pdf")}
        responses.append(httpx.post(f"{base}/v1/documents", files=files, headers=AS_ADMIN, timeout=60))

    watcher = threading.Thread(target=watch)
    watcher.start()
    senders = [threading.Thread(target=upload, args=(i,)) for i in range(6)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    stop.set()
    watcher.join()
    assert most[0] == 1, f"{most[0]} upload readers ran at once"
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [422, 422, 422, 503, 503, 503], [r.text for r in responses]
    busy = [r for r in responses if r.status_code == 503]
    assert all(r.headers["Retry-After"] == "2" and "upload reader" in r.json()["detail"] for r in busy)


# Unbroken text --------------------------------------------------------------------------------------


def test_an_upload_of_unbroken_thai_is_indexed_while_questions_are_answered(served):
    from tests.test_chunking import unbroken_thai

    base, _ = served(admin_key=ADMIN, rate_limit_per_minute=0)
    document = {"doc_id": "unbroken", "title": "ไม่มีวรรค", "text": unbroken_thai(100_000)}
    upload: dict = {}

    def send() -> None:
        started = time.perf_counter()
        upload["response"] = httpx.post(f"{base}/v1/documents", json=document, headers=AS_ADMIN, timeout=300)
        upload["s"] = time.perf_counter() - started

    sender = threading.Thread(target=send)
    latencies = []
    with httpx.Client(base_url=base, timeout=60) as http:
        sender.start()
        while sender.is_alive() and len(latencies) < 2_000:
            started = time.perf_counter()
            assert http.post("/v1/ask", json=QUESTION).status_code == 200
            latencies.append((time.perf_counter() - started) * 1000)
    sender.join()
    assert upload["response"].status_code == 201, upload["response"].text
    latencies.sort()
    print(
        f"\nquestions during a 100,000-character upload without a space ({upload['s']:.1f} s): n={len(latencies)}, "
        f"p50 {latencies[len(latencies) // 2]:.1f} ms, max {latencies[-1]:.1f} ms"
    )
    assert latencies, "questions were answered while it was indexed"
