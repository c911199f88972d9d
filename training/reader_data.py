"""The reader's training rows, SQuAD 2.0 style, from a dataset's ``train`` split only.

For each question: one window of its gold passage that holds the answer (placed at random in the
window), one hard negative (a window of the passage our own keyword search ranks highest that is
neither gold nor holds the answer, the window that shares most with the question, as the service
would pick it), and, for some questions, a window of the gold passage itself that misses the
answer (so that the reader learns where, not only whether).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpus.text import normalize_text
from eval.datasets import EvalSet
from index.folder.keyword import KeywordIndex
from index.reader.features import Encoded, ReaderTokenizer, token_span

# A share of questions that also get a window of their own passage without the answer.
IN_PASSAGE_NEGATIVE_SHARE = 0.3
HARD_NEGATIVE_DEPTH = 10


@dataclass(frozen=True)
class Row:
    input_ids: np.ndarray  # int64: <s> question </s> context </s>
    context_start: int
    context_tokens: int
    start: int  # row positions of the answer's first and last token; 0, 0: no answer
    end: int


@dataclass(frozen=True)
class Question:
    text: str
    ids: np.ndarray
    doc_id: str
    answer: str
    span: tuple[int, int]  # in the stored (normalised) text
    negative: str | None  # the hard negative passage's id


def data_sha256(folder: Path) -> str:
    h = hashlib.sha256()
    for name in ("contexts.jsonl", "retrieval.jsonl"):
        h.update((folder / name).read_bytes())
    return h.hexdigest()


def _bigrams(text: str) -> set[str]:
    text = "".join(text.split())
    return {text[i : i + 2] for i in range(len(text) - 1)}


class RowMaker:
    def __init__(self, eval_set: EvalSet, tokenizer: ReaderTokenizer) -> None:
        if eval_set.documents is None:
            raise ValueError("the reader trains on a dataset with its own passages")
        self.tokenizer = tokenizer
        self.texts = {d.doc_id: d.text for d in eval_set.documents}
        questions = [q for q in eval_set.questions if q.answerable and q.evidence and q.evidence[0].spans]
        used = sorted({q.evidence[0].doc_id for q in questions})
        keyword = KeywordIndex.build([self.texts[d] for d in used])
        self.questions: list[Question] = []
        for q in questions:
            piece = q.evidence[0]
            span = piece.spans[0]
            answer = self.texts[piece.doc_id][span[0] : span[1]]
            gold = {p.doc_id for p in q.evidence}
            negative = next(
                (
                    used[i]
                    for i, _ in keyword.search(normalize_text(q.question), HARD_NEGATIVE_DEPTH)
                    if used[i] not in gold and answer not in self.texts[used[i]]
                ),
                None,
            )
            ids = tokenizer.question(normalize_text(q.question))
            self.questions.append(Question(q.question, ids, piece.doc_id, answer, span, negative))
        self._encoded: dict[str, Encoded] = {}

    def encoded(self, doc_id: str) -> Encoded:
        if doc_id not in self._encoded:
            self._encoded[doc_id] = self.tokenizer.encode(self.texts[doc_id])
        return self._encoded[doc_id]

    def _row(self, q: Question, encoded: Encoded, first: int, width: int, answer: tuple[int, int] | None) -> Row:
        ids = encoded.ids[first : first + width]
        row = np.concatenate(([0], q.ids, [2], ids, [2])).astype(np.int64)
        start = len(q.ids) + 2
        if answer is None:
            return Row(row, start, len(ids), 0, 0)
        return Row(row, start, len(ids), start + answer[0] - first, start + answer[1] - first)

    def _best_window(self, q: Question, doc_id: str, width: int, avoid: tuple[int, int] | None) -> int | None:
        """The start of the window (stride half a window) that shares most character pairs with the
        question and holds no copy of the answer (nor the tokens ``avoid``)."""
        encoded, text = self.encoded(doc_id), self.texts[doc_id]
        wanted = _bigrams(normalize_text(q.text))
        best, best_first = -1, None
        for first in range(0, max(1, len(encoded) - width // 2), max(1, width // 2)):
            last = min(len(encoded), first + width) - 1
            if avoid is not None and first <= avoid[1] and avoid[0] <= last:
                continue
            window = text[encoded.offsets[first, 0] : encoded.offsets[last, 1]]
            if q.answer in window:
                continue
            shared = len(wanted & _bigrams(window))
            if shared > best:
                best, best_first = shared, first
        return best_first

    def rows(self, rng: random.Random) -> list[Row]:
        """One pass of rows; the answer's place in its window is drawn from ``rng``."""
        rows: list[Row] = []
        for q in self.questions:
            width = self.tokenizer.context_budget(q.ids)
            encoded = self.encoded(q.doc_id)
            answer = token_span(encoded.offsets, *q.span)
            if answer is None or answer[1] - answer[0] >= width:
                continue
            low, high = max(0, answer[1] - width + 1), min(answer[0], max(0, len(encoded) - width))
            first = rng.randint(low, max(low, high))
            rows.append(self._row(q, encoded, first, width, answer))
            if q.negative is not None:
                at = self._best_window(q, q.negative, width, None)
                if at is not None:
                    rows.append(self._row(q, self.encoded(q.negative), at, width, None))
            if rng.random() < IN_PASSAGE_NEGATIVE_SHARE:
                at = self._best_window(q, q.doc_id, width, answer)
                if at is not None:
                    rows.append(self._row(q, encoded, at, width, None))
        return rows
