"""Questions asked at once share encoder calls; a lone question is encoded at once, alone."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from index.search.batching import QueryBatcher
from tests.helpers import make_retriever


class SlowEncoder:
    """Records each call's texts; each call takes ``seconds`` (as a real encoder call would)."""

    def __init__(self, seconds: float = 0.05, fail_on: str | None = None) -> None:
        self.seconds, self.fail_on, self.calls = seconds, fail_on, []

    def __call__(self, texts):
        self.calls.append(list(texts))
        time.sleep(self.seconds)
        if self.fail_on in texts:
            raise RuntimeError("encoder failed")
        return np.array([[float(len(t)), float(sum(map(ord, t)))] for t in texts], dtype=np.float32)


def ask_at_once(batcher: QueryBatcher, texts: list[str]) -> dict[str, object]:
    results: dict[str, object] = {}
    start = threading.Barrier(len(texts))

    def ask(text: str) -> None:
        start.wait()
        try:
            results[text] = batcher.submit(text).result()
        except RuntimeError as exc:
            results[text] = exc

    threads = [threading.Thread(target=ask, args=(t,)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert not any(t.is_alive() for t in threads), "no question may hang"
    return results


def test_a_lone_question_is_encoded_at_once_and_alone():
    encoder = SlowEncoder(seconds=0.0)
    batcher = QueryBatcher(encoder, max_batch=8)
    started = time.perf_counter()
    vector = batcher.submit("ประชุมครั้งที่ 2").result()
    assert time.perf_counter() - started < 0.05, "no batching window for a lone question"
    assert encoder.calls == [["ประชุมครั้งที่ 2"]] and vector.shape == (1, 2)


def test_questions_arriving_together_share_calls_and_each_gets_its_own_vector():
    encoder = SlowEncoder(seconds=0.05)
    batcher = QueryBatcher(encoder, max_batch=16)
    texts = [f"คำถามที่ {i} " + "ก" * i for i in range(12)]
    results = ask_at_once(batcher, texts)
    assert sorted(t for call in encoder.calls for t in call) == sorted(texts), "each encoded exactly once"
    assert len(encoder.calls) < len(texts) / 2, f"calls were not shared: {[len(c) for c in encoder.calls]}"
    for text, vector in results.items():
        assert np.array_equal(vector, [[len(text), sum(map(ord, text))]]), "a vector went to the wrong question"


def test_submit_returns_while_the_encoder_works_so_other_work_can_overlap_it():
    encoder = SlowEncoder(seconds=0.2)
    batcher = QueryBatcher(encoder, max_batch=8)
    started = time.perf_counter()
    pending = batcher.submit("ศูนย์ต่อต้านการทุจริต")
    assert time.perf_counter() - started < 0.1, "submit waited for the encoder"
    time.sleep(0.15)  # the caller's own work (keyword search) meanwhile
    vector = pending.result()
    assert 0.2 <= time.perf_counter() - started < 0.3, "the encoder did not run alongside the caller"
    assert np.array_equal(vector, [[len("ศูนย์ต่อต้านการทุจริต"), sum(map(ord, "ศูนย์ต่อต้านการทุจริต"))]])


def test_an_idle_encoder_thread_ends_and_the_next_question_starts_another(monkeypatch):
    import index.search.batching

    monkeypatch.setattr(index.search.batching, "IDLE_S", 0.05)
    batcher = QueryBatcher(SlowEncoder(seconds=0.0), max_batch=8)
    batcher.submit("ก่อน").result()
    first = batcher._worker
    first.join(timeout=2)
    assert not first.is_alive() and batcher._worker is None
    assert batcher.submit("หลัง").result().shape == (1, 2)


def test_a_batch_never_exceeds_its_bound():
    encoder = SlowEncoder(seconds=0.03)
    ask_at_once(QueryBatcher(encoder, max_batch=3), [f"q{i}" for i in range(10)])
    assert max(len(c) for c in encoder.calls) <= 3 and sum(len(c) for c in encoder.calls) == 10


def test_an_encoder_error_reaches_every_question_of_its_batch_and_the_next_ones_still_work():
    encoder = SlowEncoder(seconds=0.03, fail_on="bad")
    batcher = QueryBatcher(encoder, max_batch=8)
    results = ask_at_once(batcher, ["bad", "good 1", "good 2", "good 3"])
    failed = {t for t, r in results.items() if isinstance(r, RuntimeError)}
    assert "bad" in failed
    for call in encoder.calls:  # a question fails only with the batch it was in
        assert ("bad" in call) == all(t in failed for t in call)
    assert batcher.submit("after").result().shape == (1, 2)
    with pytest.raises(RuntimeError):
        batcher.submit("bad").result()


def test_every_thread_that_searches_runs_faiss_on_one_thread(fake_index):
    # OpenMP keeps its thread count per thread: a limit set once at start-up would not reach
    # the request threads, so each search sets it for its own thread.
    import faiss

    from index.folder.load import load_index
    from tests.fakes import FakeEmbedder

    retriever = make_retriever(FakeEmbedder(), load_index(fake_index))
    seen = {}

    def search() -> None:
        retriever.search("ASEAN Digital Hub", top_k=5)
        seen["threads"] = faiss.omp_get_max_threads()

    worker = threading.Thread(target=search)
    worker.start()
    worker.join()
    assert seen["threads"] == 1


def test_a_thread_that_cannot_start_fails_that_question_only(monkeypatch):
    batcher = QueryBatcher(SlowEncoder(seconds=0.0), max_batch=8)
    real_start = threading.Thread.start

    def refuse(self):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    with pytest.raises(RuntimeError, match="can't start"):
        batcher.submit("ก่อน").result()
    assert batcher._waiting == [] and batcher._worker is None
    monkeypatch.setattr(threading.Thread, "start", real_start)
    assert batcher.submit("หลัง").result().shape == (1, 2), "a later question must not hang"
