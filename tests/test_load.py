"""A bounded overload on loopback, the real model: what cannot be served is refused fast, and the
service recovers. (Figures: `python -m benchmarks.load`, in docs/decisions/015-overload-shedding.md.)"""

from __future__ import annotations

import pytest

from benchmarks.load import run_load

pytestmark = pytest.mark.slow


def test_overload_is_shed_fast_and_the_service_recovers(real_fp32_index, real_model_dir):
    # The load comes from this process, on the same two cores. At the defaults' capacity (about
    # 160 answers/s) three times that is more than a Python client here can send, and the test
    # would measure the client. So the service runs as it did before the two-core speed work (torch,
    # one search at a time, no batching: about 28/s). Shedding does not depend on that
    # configuration, and nothing asserted here depends on how fast this CPU is or on how busy the
    # machine is (issue 26: on an AVX-512 Xeon with its other core busy a question once took 900
    # ms): a deadline far beyond what the queue can hold means that whatever is admitted is
    # answered, however slowly, and the rest refused; every comparison is with this run's own figures.
    report = run_load(
        real_fp32_index,
        overload=3.0,
        seconds=4.0,
        capacity_s=3.0,
        KHAMTOP_MODELS_DIR=str(real_model_dir.parent),
        KHAMTOP_EMBEDDING_BACKEND="torch",
        KHAMTOP_SEARCH_CONCURRENCY="1",
        KHAMTOP_REQUEST_TIMEOUT_S="60",
        KHAMTOP_QUERY_BATCH_MAX="1",
        KHAMTOP_READER="false",  # the configuration the shedding was measured in (no reader then)
    )
    print(report)
    capacity, overload, recovery = report["capacity"], report["overload"], report["recovery"]
    assert set(overload["by_status"]) <= {"200", "503"}, "only answers and fast refusals, no errors or timeouts"
    assert overload["by_status"].get("503", 0) > 0, "three times capacity must be shed in part"
    assert overload["by_status"].get("200", 0) > 0, "and the rest served"
    # Relative, not absolute: the load comes from the same two cores, so a busy CI machine slows
    # everything; what must hold is that a refusal never waits for an encoder.
    assert overload["ms_503"]["p50"] < 0.25 * overload["ms_200"]["p50"], "a refusal comes far sooner than an answer"
    assert overload["ms_503"]["p95"] < overload["ms_200"]["p50"], "even a slow refusal beats a typical answer"
    assert overload["ok_per_s"] >= 0.5 * capacity["ok_per_s"], "the service keeps serving at near capacity"
    assert report["metrics"]["khamtop_shed_total"] == overload["by_status"]["503"]
    assert set(recovery["by_status"]) == {"200"}, "and it recovers (on a busy machine, a few answers in 3 s)"
    # One client after the overload waits for no queue: faster than each of 8 clients did at capacity.
    assert recovery["ms_200"]["p50"] < capacity["ms_200"]["p50"], "no backlog is left behind"
