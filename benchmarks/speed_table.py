"""The two-core speed work's before/after table (docs/decisions/014-two-core-speed-targets.md):
``khamtop bench`` once per configuration, in one run, one machine.

    python -m benchmarks.speed_table [--replicate 100000] [--requests 300] [--out [FILE]]

The rows add one step at a time, from the configuration before that work (torch, exact search,
one search at a time, no batching) to today's defaults, each a whole ``khamtop bench`` on
today's code (changes that are not settings, such as the compiled keyword search, are in every
row; the decision records give their own before and after): the
bundled corpus indexed (build throughput), then grown to ``--replicate`` passages (vectors
nudged, no encoding) and searched in process and over HTTP at 1 and 8 clients. FAISS searches
on one thread in every row (index/folder/ann.py); before that work it used both cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import parser, write_result

STEPS: list[tuple[str, dict[str, str]]] = [
    (
        "before: torch, exact search, one search at a time",
        {
            "KHAMTOP_EMBEDDING_BACKEND": "torch",
            "KHAMTOP_EXACT_SEARCH_UP_TO": str(10**9),
            "KHAMTOP_SEARCH_CONCURRENCY": "1",
            "KHAMTOP_QUERY_BATCH_MAX": "1",
        },
    ),
    ("+ ONNX Runtime fp32", {"KHAMTOP_EMBEDDING_BACKEND": "onnx"}),
    ("+ HNSW above 20,000 passages", {"KHAMTOP_EXACT_SEARCH_UP_TO": "20000"}),
    (
        "+ 4 searches at once, their questions batched (up to 8)",
        {"KHAMTOP_SEARCH_CONCURRENCY": "4", "KHAMTOP_QUERY_BATCH_MAX": "8"},
    ),
    ("+ int8 questions over fp32 passages", {"KHAMTOP_EMBEDDING_BACKEND": "onnx-int8-query"}),
    (
        "+ int8 passages and sentences too (a question on both cores)",
        {"KHAMTOP_EMBEDDING_BACKEND": "onnx-int8", "KHAMTOP_QUERY_ENCODER_THREADS": "0"},
    ),
    (
        "+ a question on one core, its keyword search on the other: today's defaults",
        {"KHAMTOP_QUERY_ENCODER_THREADS": "1"},
    ),
]


def run_step(env: dict[str, str], replicate: int, requests: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="khamtop-speed-") as tmp:
        out = Path(tmp) / "bench.json"
        cmd = [sys.executable, "-c", "from khamtop.cli import main; main()", "bench"]
        cmd += ["--replicate", str(replicate), "--requests", str(requests), "--out", str(out)]
        subprocess.run(cmd, env={**os.environ, **env}, check=True)
        return json.loads(out.read_text("utf-8"))


def row(name: str, report: dict) -> str:
    b, ip = report["build"], report["in_process"]["unread"]
    runs = {r["clients"]: r for r in report["http"]["runs"] if not r.get("read")}
    one, eight = runs[1], runs[8]
    return (
        f"| {name} | {b['passages_per_s']:.1f} ({b['texts_per_s']:.0f}) | {ip['p50_ms']:.1f} | "
        f"{one['p50_ms']:.1f} / {one['p99_ms']:.1f} | {eight['requests_per_s']:.0f} ({eight['p50_ms']:.0f} ms p50) | "
        f"{report['http']['ready_s']:.1f} | {report['http']['peak_rss_mib']:.0f} "
        f"({report['http'].get('memory', {}).get('anon_mib', float('nan')):.0f}) |"
    )


def main() -> None:
    arguments = parser(__doc__, "speed-latest.json")
    arguments.add_argument("--replicate", type=int, default=100_000, help="passages searched (khamtop bench's)")
    arguments.add_argument("--requests", type=int, default=300, help="queries per measurement (khamtop bench's)")
    arguments.add_argument("--steps", type=int, default=len(STEPS), help="only the first N rows")
    args = arguments.parse_args()
    env: dict[str, str] = {}
    reports = []
    for name, change in STEPS[: args.steps]:
        env = {**env, **change}
        print(f"== {name}: {env}", flush=True)
        reports.append({"step": name, "env": dict(env), "report": run_step(env, args.replicate, args.requests)})
        write_result(args.out, reports)  # after every step: a failed step keeps the ones before
    print()
    print(
        "| configuration | build passages/s (texts/s) | in process p50 ms | HTTP 1 client p50 / p99 ms "
        "| HTTP 8 clients req/s | ready s | peak MiB (own) |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in reports:
        print(row(r["step"], r["report"]))


if __name__ == "__main__":
    main()
