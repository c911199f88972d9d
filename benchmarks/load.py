"""Overload, measured: does the service shed what it cannot serve quickly, and recover after?

    python -m benchmarks.load [--index DIR] [--overload 3] [--seconds 10] [--out FILE]

Three phases against ``khamtop serve`` on loopback (its own process, the real model, the
default limits but no per-client rate limit, since every request comes from one address):

1. capacity: 8 clients in a closed loop for a few seconds; requests per second served;
2. overload: requests sent at a fixed rate of ``overload`` x capacity for ``seconds``, whatever
   the answers (an open loop, as real visitors arrive); each answer's status and time;
3. recovery: one client in a closed loop; every answer should be a 200 again, as fast as before.

The load comes from this process, on the same two cores as the service. A benchmark: it prints
figures and writes JSON; the slow test runs a short version and asserts on it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path

import httpx

from benchmarks.common import gold_questions, parser, write_result
from eval.live import live_service
from eval.metrics import percentile
from service.settings import Settings


async def _closed_loop(base: str, questions: list[str], clients: int, seconds: float) -> list[tuple[int, float]]:
    results: list[tuple[int, float]] = []
    stop = time.monotonic() + seconds

    async def client(worker: int) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            i = worker
            while time.monotonic() < stop:
                started = time.perf_counter()
                response = await http.post("/v1/ask", json={"question": questions[i % len(questions)]})
                results.append((response.status_code, (time.perf_counter() - started) * 1000))
                i += clients

    await asyncio.gather(*(client(w) for w in range(clients)))
    return results


async def _open_loop(base: str, questions: list[str], rate: float, seconds: float) -> list[tuple[int, float]]:
    results: list[tuple[int, float]] = []
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:

        async def one(i: int) -> None:
            started = time.perf_counter()
            try:
                response = await http.post("/v1/ask", json={"question": questions[i % len(questions)]})
                status = response.status_code
            except httpx.HTTPError:
                status = 0  # no answer at all: the worst outcome
            results.append((status, (time.perf_counter() - started) * 1000))

        tasks, start, n = [], time.monotonic(), int(rate * seconds)
        for i in range(n):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    return results


def _summary(results: list[tuple[int, float]], seconds: float | None = None) -> dict:
    by_status = Counter(status for status, _ in results)
    out: dict = {"requests": len(results), "by_status": {str(k): v for k, v in sorted(by_status.items())}}
    for status in sorted(by_status):
        times = [ms for s, ms in results if s == status]
        out[f"ms_{status}"] = {
            "p50": round(percentile(times, 50), 1),
            "p95": round(percentile(times, 95), 1),
            "max": round(max(times), 1),
        }
    if seconds:
        out["ok_per_s"] = round(by_status.get(200, 0) / seconds, 1)
    return out


def run_load(
    index_dir: Path, overload: float = 3.0, seconds: float = 10.0, capacity_s: float = 5.0, **env: str
) -> dict:
    questions = gold_questions()
    with live_service(index_dir, **env) as service:
        base = service.base_url
        asyncio.run(_closed_loop(base, questions, 1, 1.0))  # warm-up
        capacity_results = asyncio.run(_closed_loop(base, questions, 8, capacity_s))
        capacity = _summary(capacity_results, capacity_s)
        rate = max(1.0, overload * capacity["ok_per_s"])
        overload_results = asyncio.run(_open_loop(base, questions, rate, seconds))
        recovery_results = asyncio.run(_closed_loop(base, questions, 1, 3.0))
        after = httpx.get(f"{base}/metrics").text
    # The limits the service ran with: the environment, as overridden for it.
    settings = Settings(**{k.removeprefix("KHAMTOP_").lower(): v for k, v in env.items() if k.startswith("KHAMTOP_")})
    return {
        "limits": {
            "search_concurrency": settings.search_concurrency,
            "search_queue": settings.search_queue,
            "request_timeout_s": settings.request_timeout_s,
        },
        "capacity": capacity,
        "overload": {"rate_per_s": round(rate, 1), "seconds": seconds, **_summary(overload_results, seconds)},
        "recovery": _summary(recovery_results, 3.0),
        "metrics": {
            line.split()[0]: float(line.split()[1])
            for line in after.splitlines()
            if line.startswith(("khamtop_shed_total", "khamtop_deadline_exceeded_total"))
        },
    }


def main() -> None:
    arguments = parser(__doc__, "load-latest.json")
    arguments.add_argument("--index", type=Path, default=None, help="index folder [default: KHAMTOP_INDEX_DIR]")
    arguments.add_argument("--overload", type=float, default=3.0, help="offered load as a multiple of capacity")
    arguments.add_argument("--seconds", type=float, default=10.0, help="how long the overload lasts")
    args = arguments.parse_args()
    report = run_load(args.index or Settings().index_dir, args.overload, args.seconds)
    print(json.dumps(report, indent=2))
    write_result(args.out, report)


if __name__ == "__main__":
    main()
