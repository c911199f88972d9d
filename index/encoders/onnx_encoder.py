"""The encoder through ONNX Runtime: fp32 (the same vectors as torch) or int8 (faster, slightly
off). Questions then need neither torch nor sentence-transformers, only onnxruntime and the
model's fast tokenizer; the export itself is ``index.encoders.onnx_export``."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from index.encoders.onnx_export import FILES, ensure_export, export_dir


class OnnxEmbedder:
    """Same interface and vectors as ``SentenceTransformerEmbedder`` (int8: within cosine ~0.99).

    Backends: "onnx" (fp32 throughout), "onnx-int8" (int8 throughout), "onnx-int8-query"
    (fp32 passages, int8 questions)."""

    def __init__(
        self,
        model_id: str,
        path: str,
        query_prompt: str,
        passage_prompt: str,
        backend: str = "onnx",
        batch_size: int = 32,
        threads: int = 0,
        query_threads: int = 1,
    ) -> None:
        from tokenizers import Tokenizer

        model_path = Path(path)
        record = ensure_export(model_path)
        self.model_id = model_id
        self.backend = backend
        self.dim = int(record["dim"])
        self.max_tokens = int(record["max_seq_length"])
        self.query_prompt = query_prompt
        self.passage_prompt = passage_prompt
        self.batch_size = batch_size
        # Which export encodes what. "onnx-int8-query" keeps the stored vectors (passages and
        # sentences) in fp32 and encodes only the questions in int8: the questions' encoder is
        # the latency, and the index keeps full precision (docs/decisions/005-embedding-backend.md:
        # it keeps quality where int8 on both sides did not).
        self._files = {
            "query": FILES["onnx-int8"] if backend in ("onnx-int8", "onnx-int8-query") else FILES["onnx"],
            "passage": FILES["onnx-int8"] if backend == "onnx-int8" else FILES["onnx"],
        }
        # int8 passage vectors differ from fp32 ones: an index built by one is not searched by the other.
        base = record["fingerprint"]
        int8_index = self._files["passage"] == FILES["onnx-int8"]
        key = f"{base}:{backend}:{record['format']}"
        self._fingerprint = hashlib.sha256(key.encode()).hexdigest()[:32] if int8_index else base

        self._tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(self.max_tokens)
        self._pad_id = self._tokenizer.token_to_id("<pad>") or 0

        self._threads = {"query": query_threads, "passage": threads}
        self._folder = export_dir(model_path)
        self._sessions: dict[str, object] = {}
        self._sessions_lock = threading.Lock()
        self._session("query")  # loaded now: the first question must not wait for it

    def _options(self, side: str):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        if self._threads[side]:
            options.intra_op_num_threads = self._threads[side]
        # Idle worker threads would otherwise spin for a while after each call, taking the CPU
        # that the event loop, FAISS and BM25 need between encoder calls.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return options

    def _session(self, side: str):
        """The session for "query" or "passage", each with its own threads: a question is encoded
        on one thread (a second only waits for it to wake, while the other core runs the keyword
        search), passages on all. The passage one is loaded only when passages are encoded (an
        index build or an upload), so a service that only answers holds one; after an upload it
        holds both (docs/decisions/005-embedding-backend.md gives their sizes)."""
        import onnxruntime as ort

        session = self._sessions.get(side)  # no lock once loaded: every question passes here
        if session is not None:
            return session
        with self._sessions_lock:
            if side not in self._sessions:
                path = str(self._folder / self._files[side])
                self._sessions[side] = ort.InferenceSession(
                    path, self._options(side), providers=["CPUExecutionProvider"]
                )
            return self._sessions[side]

    def fingerprint(self) -> str:
        return self._fingerprint

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encoded = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encoded]

    def _run(self, session, encodings) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, e in enumerate(encodings):
            ids[row, : len(e.ids)] = e.ids
            mask[row, : len(e.ids)] = 1
        (states,) = session.run(None, {"input_ids": ids, "attention_mask": mask})
        weights = mask[:, :, None].astype(np.float32)
        pooled = (states * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def _encode(self, texts: Sequence[str], side: str, progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        session = self._session(side)
        prompt = self.query_prompt if side == "query" else self.passage_prompt
        encodings = self._tokenizer.encode_batch([prompt + t for t in texts])
        # Longest first, in batches of similar length: little padding, and the slowest batch
        # (and any memory problem) shows at once.
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        batches = range(0, len(order), self.batch_size)
        if progress:
            from tqdm import tqdm

            batches = tqdm(batches, unit="batch", desc="encoding")
        for start in batches:
            rows = order[start : start + self.batch_size]
            out[rows] = self._run(session, [encodings[i] for i in rows])
        return out

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, "query", progress=False)

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return self._encode(texts, "passage", progress)
