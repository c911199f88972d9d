"""A quick, reproducible check of answer quality and speed on the bundled corpus.

    python -m eval.smoke [--index DIR]

Prints hit@1 / hit@5 on the ten reworded questions in ``eval/smoke.jsonl``, the median query
latency over 50 questions in process and over HTTP (``khamtop serve`` on loopback), and the
service's peak memory. The full evaluation runner is ``khamtop eval`` (a later issue).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
IAPP = HERE.parent.parent / "shared" / "datasets" / "iapp-wiki-qa-dev" / "retrieval.jsonl"


def load_questions() -> list[dict]:
    return [json.loads(line) for line in (HERE / "smoke.jsonl").read_text("utf-8").splitlines() if line]


def latency_questions(smoke: list[dict]) -> list[str]:
    """50 questions: the ten smoke questions, then real Thai questions from iApp (if present)."""
    questions = [q["question"] for q in smoke]
    if IAPP.is_file():
        with IAPP.open(encoding="utf-8") as f:
            questions += [json.loads(line)["question"] for _, line in zip(range(40), f)]
    while len(questions) < 50:
        questions += questions[: 50 - len(questions)]
    return questions[:50]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_figures(index_dir: Path, questions: list[str]) -> tuple[float, float, float]:
    """Median latency (ms, client side), ready time (s) and peak RSS (MiB) of a real service."""
    port = _free_port()
    env = {**os.environ, "KHAMTOP_INDEX_DIR": str(index_dir), "KHAMTOP_PORT": str(port)}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from service.cli import main; main()", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            while True:
                if proc.poll() is not None:
                    raise SystemExit("the service exited; run `khamtop serve` to see why")
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            ready_s = time.perf_counter() - started
            client.post("/v1/ask", json={"question": questions[0]})  # warm-up
            times = []
            for q in questions:
                t0 = time.perf_counter()
                client.post("/v1/ask", json={"question": q}).raise_for_status()
                times.append((time.perf_counter() - t0) * 1000)
        status = Path(f"/proc/{proc.pid}/status").read_text()
        peak_kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
        return statistics.median(times), ready_s, peak_kib / 1024
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    from index.embedding import load_embedder
    from index.search import Retriever
    from index.store import load_index
    from service.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, help="index folder [default: KHAMTOP_INDEX_DIR]")
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP measurement")
    args = parser.parse_args()
    settings = Settings(**({"index_dir": args.index} if args.index else {}))
    embedder = load_embedder(settings)
    retriever = Retriever(embedder, load_index(settings.index_dir, embedder))

    smoke = load_questions()
    ranks = []
    for q in smoke:
        hits = retriever.search(q["question"], top_k=5)
        rank = next((h.rank for h in hits if h.document.doc_id == q["doc_id"] and q["evidence"] in h.chunk.text), None)
        ranks.append(rank)
        print(f"{q['id']}  rank {rank or '-':>2}  {q['question']}")
    n = len(smoke)
    print(
        f"\nhit@1 {sum(r == 1 for r in ranks) / n:.2f}   "
        f"hit@5 {sum(r is not None for r in ranks) / n:.2f}   ({n} questions)"
    )

    questions = latency_questions(smoke)
    retriever.search(questions[0])  # warm-up
    times = []
    for q in questions:
        t0 = time.perf_counter()
        retriever.search(q, top_k=5)
        times.append((time.perf_counter() - t0) * 1000)
    print(f"in process: median {statistics.median(times):.1f} ms over {len(times)} questions")
    if not args.no_http:
        median_ms, ready_s, peak_mib = http_figures(settings.index_dir, questions)
        print(
            f"over HTTP:  median {median_ms:.1f} ms over {len(questions)} questions; "
            f"ready in {ready_s:.1f} s; peak RSS {peak_mib:.0f} MiB"
        )


if __name__ == "__main__":
    main()
