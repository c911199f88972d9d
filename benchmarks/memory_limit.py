"""The service under a hard memory limit: does it run, and how fast, when it may use only N GiB?

    python -m benchmarks.memory_limit --index /tmp/idx1m --limit-gib 3 --out benchmarks/results/memory-limit-latest.json

A built index (for 1M passages: ``khamtop bench --replicate 1000000 --keep-replica /tmp/idx1m``)
is served inside a Linux control group whose memory limit counts everything the service holds,
its own memory and the page cache of the index files it reads (memory-mapped vectors, postings,
texts). Past the limit the kernel must drop cached pages, and past what it can drop it kills the
service. The page cache is emptied first, where permitted, so the service starts cold and every
page it reads is charged to it. Swap is not limited (this machine has none). Needs root (it
creates the control group); Linux only.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from pathlib import Path

from benchmarks.common import gold_questions, parser, write_result

CGROUP_V1 = Path("/sys/fs/cgroup/memory")
CGROUP_V2 = Path("/sys/fs/cgroup")


def make_cgroup(name: str, limit_bytes: int) -> tuple[Path, dict]:
    """A fresh control group with ``limit_bytes``; its folder and the files to read back."""
    if (CGROUP_V1 / "memory.limit_in_bytes").exists():
        folder = CGROUP_V1 / name
        folder.mkdir(exist_ok=True)
        (folder / "memory.limit_in_bytes").write_text(str(limit_bytes))
        (folder / "memory.max_usage_in_bytes").write_text("0")  # reset the peak
        return folder, {"peak": "memory.max_usage_in_bytes", "now": "memory.usage_in_bytes", "hit": "memory.failcnt"}
    folder = CGROUP_V2 / name
    folder.mkdir(exist_ok=True)
    (folder / "memory.max").write_text(str(limit_bytes))
    return folder, {"peak": "memory.peak", "now": "memory.current", "hit": "memory.events"}


def main() -> None:
    from eval.bench import drive, memory_mib
    from eval.live import live_service
    from index.folder.load import resolve

    arguments = parser(__doc__, "memory-limit-latest.json")
    arguments.add_argument("--index", type=Path, required=True, help="a built index's folder")
    arguments.add_argument("--limit-gib", type=float, default=3.0, help="the control group's memory limit")
    arguments.add_argument("--requests", type=int, default=300, help="questions at 1 and at 8 clients")
    args = arguments.parse_args()

    questions = gold_questions()
    limit = int(args.limit_gib * 2**30)
    cgroup, files = make_cgroup("khamtop-memory-limit", limit)
    subprocess.run(["sync"], check=False)
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3")
        cold = True
    except OSError:
        cold = False
    manifest = json.loads((resolve(args.index) / "manifest.json").read_text("utf-8"))
    try:
        with live_service(args.index, cgroup=cgroup) as service:
            drive(service.base_url, questions, 20, 1)  # warm-up, not counted
            runs = [drive(service.base_url, questions, args.requests, c) for c in (1, 8)]
            process = memory_mib(service.pid)
            group = {k: (cgroup / f).read_text().strip() for k, f in files.items()}
    finally:
        with contextlib.suppress(OSError):  # empty once the service has stopped: a rerun gets a fresh group
            cgroup.rmdir()
    report = {
        "index": str(args.index),
        "passages": manifest["corpus"]["chunks"],
        "faiss": manifest["faiss"].get("type"),
        "limit_gib": args.limit_gib,
        "started_cold": cold,
        "ready_s": service.ready_s,
        "runs": runs,
        "service_memory_mib": process,
        "cgroup": {
            "peak_mib": int(group["peak"]) / 2**20 if group["peak"].isdigit() else group["peak"],
            "now_mib": int(group["now"]) / 2**20 if group["now"].isdigit() else group["now"],
            "limit_hits": group["hit"],
        },
    }
    print(json.dumps(report, indent=1))
    write_result(args.out, report)


if __name__ == "__main__":
    main()
