"""A deterministic, instant stand-in for the embedding model (fast tests only).

Vectors are hashed character trigrams, so texts that share words score higher: good enough
for retrieval tests to be meaningful without loading 470 MB of weights.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence

import numpy as np


class FakeEmbedder:
    backend = "fake"

    def __init__(
        self,
        dim: int = 256,
        model_id: str = "fake-trigram",
        query_prompt: str = "query: ",
        passage_prompt: str = "passage: ",
    ) -> None:
        self.dim = dim
        self.model_id = model_id
        self.query_prompt = query_prompt
        self.passage_prompt = passage_prompt
        self.calls = 0

    def fingerprint(self) -> str:
        return hashlib.sha256(f"{self.model_id}/{self.dim}".encode()).hexdigest()[:32]

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        # Roughly what XLM-R gives for Thai: a token per 3-4 characters.
        return [max(1, -(-len(t.strip()) // 4)) for t in texts]

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            t = "".join(text.lower().split())
            for i in range(max(1, len(t) - 2)):
                out[row, zlib.crc32(t[i : i + 3].encode()) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts)

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return self._embed(texts)


class FakeReader:
    """Reads like the reader: in each window it points at the first of ``answers`` it finds there,
    with a margin of +5 over "no answer" (the first answer found ranks first), or at the window's
    first character with a margin of -5. Records what it was asked."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, list]] = []

    def read(self, question, windows):
        return [c[0] for c in self.candidates(question, windows, 1)]

    def candidates(self, question, windows, top):
        """Each window's spans: every one of ``answers`` found in it, in their order (margins
        +5, +4, ...), or else its first character (margin -5)."""
        from index.reader.features import Span

        self.calls.append((question, windows))
        out = []
        for w in windows:
            text = w.text[w.char_start : w.char_end]
            found = [(i, a) for i, a in enumerate(self.answers) if a in text]
            if not found:
                out.append([Span(w.char_start, w.char_start + 1, -5.0, 0.0)])
                continue
            spans = []
            for i, a in found[:top]:
                at = w.char_start + text.index(a)
                spans.append(Span(at, at + len(a), 5.0 - i, 0.0))
            out.append(spans)
        return out
