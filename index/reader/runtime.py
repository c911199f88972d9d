"""The reader at query time, through ONNX Runtime: every window of a question in one call.

A window is the part of a passage the reader sees beside the question: the passage's tokens
around a focus character (its best sentence), as many as a row holds. A passage of the default
size fits in a row almost whole (docs/decisions/017-reader.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from corpus.text import normalize_text
from index.reader.export import FILES, read_export
from index.reader.features import Encoded, ReaderTokenizer, Span, span_candidates
from index.reader.weights import ReaderWeightsError

Precision = Literal["fp32", "int8"]
MIN_CONTEXT_TOKENS = 16


@dataclass(frozen=True)
class Window:
    """A passage to read: its document's text, its characters, and where to centre the window."""

    text: str
    char_start: int
    char_end: int
    focus: int


@dataclass(frozen=True)
class ReaderConfig:
    """How the reader runs (built from the settings: ``Settings.reader_config``)."""

    weights: Path  # the shipped folder (weights/reader)
    encoder_dir: Path  # the converted e5-small: its tokenizer, and the frozen half of the weights
    export_dir: Path  # where the set-up put the ONNX files
    precision: Precision
    max_length: int  # tokens a row holds (question, window, three special tokens)
    max_answer_tokens: int
    threads: int


class Reader:
    def __init__(self, config: ReaderConfig) -> None:
        import onnxruntime as ort

        record = read_export(config.export_dir, config.weights, config.encoder_dir)
        if record is None:
            raise ReaderWeightsError(
                f"no reader export at {config.export_dir} for the weights in {config.weights}; "
                "run `khamtop model prepare` (or set KHAMTOP_READER=false)"
            )
        self.config = config
        least = int(record["max_question_tokens"]) + 3 + MIN_CONTEXT_TOKENS
        if config.max_length < least:
            raise ReaderWeightsError(
                f"KHAMTOP_READER_MAX_LENGTH is {config.max_length}; this reader needs at least {least} "
                f"(its {record['max_question_tokens']} question tokens, three markers and some passage)"
            )
        self.tokenizer = ReaderTokenizer(
            config.encoder_dir / "tokenizer.json", config.max_length, int(record["max_question_tokens"])
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = config.threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(config.export_dir / FILES[config.precision]), options, providers=["CPUExecutionProvider"]
        )

    def _window(self, window: Window, budget: int) -> tuple[Encoded, int]:
        """The passage's tokens around the focus, at most ``budget`` of them, and their base offset."""
        encoded = self.tokenizer.encode(window.text[window.char_start : window.char_end])
        if len(encoded) <= budget:
            return encoded, window.char_start
        focus = int(np.searchsorted(encoded.offsets[:, 1], window.focus - window.char_start, side="right"))
        first = min(max(0, focus - budget // 2), len(encoded) - budget)
        part = Encoded(encoded.ids[first : first + budget], encoded.offsets[first : first + budget])
        return part, window.char_start

    def read_passage(self, question: str, text: str, char_start: int = 0, char_end: int | None = None) -> Span | None:
        """The best span of a passage of any length: windows of a row's size, half a window
        apart, read in one call; the best-scoring span wins."""
        char_end = len(text) if char_end is None else char_end
        budget = self.tokenizer.context_budget(self.tokenizer.question(normalize_text(question)))
        encoded = self.tokenizer.encode(text[char_start:char_end])
        windows = []
        for first in range(0, max(1, len(encoded) - budget // 2), max(1, budget // 2)):
            last = min(len(encoded), first + budget) - 1
            if last < first:
                break
            start, end = char_start + int(encoded.offsets[first, 0]), char_start + int(encoded.offsets[last, 1])
            windows.append(Window(text, start, end, start))
        spans = [s for s in self.read(question, windows) if s is not None]
        return max(spans, key=lambda s: s.score, default=None)

    def read(self, question: str, windows: list[Window]) -> list[Span | None]:
        """Each window's best span (document characters) and its margin over "no answer"."""
        return [c[0] if c else None for c in self.candidates(question, windows, 1)]

    def candidates(self, question: str, windows: list[Window], top: int) -> list[list[Span]]:
        """Each window's ``top`` best distinct spans, best first (``features.span_candidates``).
        One call per question: the int8 export quantises a call's activations with one scale for
        the whole batch, so reading two questions in one call would make each answer depend on
        the other."""
        if not windows:
            return []
        # Idempotent: the search passes a normalised question already, other callers may not.
        question_ids = self.tokenizer.question(normalize_text(question))
        budget = self.tokenizer.context_budget(question_ids)
        rows = self.tokenizer.rows(question_ids, [self._window(w, budget) for w in windows])
        start, end = self._session.run(
            ["start_logits", "end_logits"], {"input_ids": rows.input_ids, "attention_mask": rows.attention_mask}
        )
        texts = [w.text for w in windows]
        return span_candidates(rows, start, end, self.config.max_answer_tokens, texts, top)
