"""``khamtop serve`` in a child process on loopback, for benchmarks and end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


class ServiceStartError(RuntimeError):
    """The service exited or did not become ready in time."""


@dataclass
class LiveService:
    base_url: str
    pid: int
    ready_s: float  # from process start to the first 200 on /readyz


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_service(
    index_dir: Path, log: Path | None = None, timeout_s: float = 120, cgroup: Path | None = None, **env: str
) -> Iterator[LiveService]:
    """Start the service on a free loopback port with ``index_dir``; stop it on exit. With
    ``cgroup`` (a control group's folder), the service runs inside it (benchmarks.memory_limit)."""
    port = free_port()
    # No per-client rate limit by default: benchmarks and tests send many requests from one address.
    child_env = {
        **os.environ,
        "KHAMTOP_RATE_LIMIT_PER_MINUTE": "0",
        "KHAMTOP_INDEX_DIR": str(index_dir),
        "KHAMTOP_PORT": str(port),
        **env,
    }
    out = log.open("w") if log else subprocess.DEVNULL
    started = time.perf_counter()
    command = [sys.executable, "-c", "from khamtop.cli import main; main()", "serve"]
    if cgroup:
        # The shell joins the group, then becomes the service (same pid): no Python code runs
        # between fork and exec in this process, which has threads.
        command = ["sh", "-c", 'echo $$ > "$0" && exec "$@"', str(cgroup / "cgroup.procs"), *command]
    proc = subprocess.Popen(command, env=child_env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def alive() -> None:
        if proc.poll() is not None:
            raise ServiceStartError(f"the service exited during start-up{_tail(log)}")

    try:
        wait_ready(base, timeout_s, alive, why=lambda: _tail(log))
        yield LiveService(base, proc.pid, time.perf_counter() - started)
    finally:
        proc.terminate()
        proc.wait(10)
        if log:
            out.close()


def wait_ready(base: str, timeout_s: float, alive=lambda: None, why=lambda: "") -> None:
    """Poll ``base``/readyz until it answers 200; ``alive()`` may raise if the server has died."""
    deadline = time.perf_counter() + timeout_s
    while True:
        alive()
        if time.perf_counter() > deadline:
            raise ServiceStartError(f"the service was not ready in {timeout_s:.0f} s{why()}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)


def _tail(log: Path | None) -> str:
    if log is None:
        return "; run `khamtop serve` to see why"
    return ":\n" + log.read_text(errors="replace")[-2000:]
