"""From (question, context window) pairs to the reader's input rows, and from its start and end
scores back to character spans of the stored text.

A row is ``<s> question </s> context </s>``. The ``<s>`` position is the "no answer" position
(SQuAD 2.0 style): a row that holds no answer is trained to point both its start and its end
there, so ``null = start[0] + end[0]`` is the score of "this window does not answer".

Shared by training and serving, so that both cut and decode windows the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Special tokens of the XLM-R vocabulary the e5 models use.
CLS, SEP, PAD = 0, 2, 1


@dataclass(frozen=True)
class Encoded:
    """A text's tokens without special tokens: ids and each token's [start, end) characters."""

    ids: np.ndarray  # int64 [n]
    offsets: np.ndarray  # int64 [n, 2], relative to the encoded text

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Rows:
    """A batch of rows, padded to the longest. ``context_start[i]``: the first context token of row
    i; ``offsets[i]``: its context tokens' characters, already moved by the window's ``base``
    (document coordinates)."""

    input_ids: np.ndarray  # int64 [b, length]
    attention_mask: np.ndarray  # int64 [b, length]
    context_start: np.ndarray  # int64 [b]
    offsets: list[np.ndarray]  # per row: int64 [n_i, 2]


@dataclass(frozen=True)
class Span:
    """The best answer span of one row: document characters, its score, and the row's margin over
    "no answer" (> 0: the reader prefers this span to saying nothing)."""

    char_start: int
    char_end: int
    score: float
    null: float

    @property
    def margin(self) -> float:
        return self.score - self.null


class ReaderTokenizer:
    def __init__(self, tokenizer_file: Path, max_length: int, max_question_tokens: int) -> None:
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self.max_length = max_length
        self.max_question_tokens = max_question_tokens

    def encode(self, text: str) -> Encoded:
        e = self._tokenizer.encode(text, add_special_tokens=False)
        ids = np.asarray(e.ids, dtype=np.int64)
        offsets = np.asarray(e.offsets, dtype=np.int64).reshape(-1, 2)
        return Encoded(ids, offsets)

    def question(self, text: str) -> np.ndarray:
        return self.encode(text).ids[: self.max_question_tokens]

    def context_budget(self, question_ids: np.ndarray) -> int:
        """How many context tokens fit in a row beside this question (at least one)."""
        return max(1, self.max_length - len(question_ids) - 3)

    def rows(self, question_ids: np.ndarray, contexts: list[tuple[Encoded, int]]) -> Rows:
        """One row per (context tokens, base character offset); contexts longer than the budget are
        cut at its end (the caller chooses windows that fit)."""
        budget = self.context_budget(question_ids)
        start = len(question_ids) + 2
        pieces, offsets = [], []
        for encoded, base in contexts:
            ids = encoded.ids[:budget]
            pieces.append(np.concatenate(([CLS], question_ids, [SEP], ids, [SEP])))
            offsets.append(encoded.offsets[: len(ids)] + base)
        length = max(len(p) for p in pieces)
        input_ids = np.full((len(pieces), length), PAD, dtype=np.int64)
        mask = np.zeros((len(pieces), length), dtype=np.int64)
        for i, p in enumerate(pieces):
            input_ids[i, : len(p)] = p
            mask[i, : len(p)] = 1
        return Rows(input_ids, mask, np.full(len(pieces), start, dtype=np.int64), offsets)


def span_candidates(
    rows: Rows,
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    max_answer_tokens: int,
    texts: list[str] | None = None,
    top: int = 1,
) -> list[list[Span]]:
    """Each row's ``top`` best distinct spans, best first (start <= end < start +
    ``max_answer_tokens``, inside the context); [] for a row without context tokens.

    ``texts[i]``, when given, is row i's document text: whitespace at a span's edges (a token's
    offsets may include the space before it) is trimmed, a span of whitespace is no answer, and
    a span never crosses a line break. A line ends a list item, a heading or a table row, and an
    answer running into the next line drags its list number or heading along."""
    out: list[list[Span]] = []
    for i, offsets in enumerate(rows.offsets):
        n = len(offsets)
        if n == 0:
            out.append([])
            continue
        first = int(rows.context_start[i])
        s = start_logits[i, first : first + n].astype(np.float64)
        e = end_logits[i, first : first + n].astype(np.float64)
        # scores[a, b] = s[a] + e[b] for b in [a, a + max_answer_tokens)
        upper = np.triu(np.ones((n, n), dtype=bool)) & ~np.triu(np.ones((n, n), dtype=bool), k=max_answer_tokens)
        band = np.where(upper, s[:, None] + e[None, :], -np.inf)
        text = texts[i] if texts is not None else None
        null = float(start_logits[i, 0]) + float(end_logits[i, 0])
        flat = band.ravel()
        finite = np.flatnonzero(np.isfinite(flat))
        # Best first; equal scores in the order of their (start, end) tokens.
        picked = finite[np.lexsort((finite, -flat[finite]))]
        found: list[Span] = []
        seen: set[tuple[int, int]] = set()
        for index in picked:
            a, b = divmod(int(index), n)
            char_start, char_end = int(offsets[a, 0]), int(offsets[b, 1])
            if text is not None:
                if not text_has_visible(text, char_start, char_end):
                    continue  # a space, or nothing: no answer here
                while text[char_start].isspace():
                    char_start += 1
                while text[char_end - 1].isspace():
                    char_end -= 1
                if "\n" in text[char_start:char_end]:
                    continue
            if (char_start, char_end) in seen:
                continue
            seen.add((char_start, char_end))
            found.append(Span(char_start, char_end, float(flat[index]), null))
            if len(found) == top:
                break
        out.append(found)
    return out


def best_spans(
    rows: Rows, start_logits: np.ndarray, end_logits: np.ndarray, max_answer_tokens: int, texts: list[str] | None = None
) -> list[Span | None]:
    """Each row's best span (``span_candidates``' first), or None for a row without one."""
    return [c[0] if c else None for c in span_candidates(rows, start_logits, end_logits, max_answer_tokens, texts)]


def text_has_visible(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` holds more than whitespace (a span of spaces is left as it is)."""
    return any(not ch.isspace() for ch in text[start:end])


def token_span(offsets: np.ndarray, char_start: int, char_end: int) -> tuple[int, int] | None:
    """The first and last token (indices into ``offsets``) covering [char_start, char_end), or None
    when the span is not wholly inside these tokens."""
    if len(offsets) == 0 or char_start < offsets[0, 0] or char_end > offsets[-1, 1]:
        return None
    first = int(np.searchsorted(offsets[:, 1], char_start, side="right"))
    last = int(np.searchsorted(offsets[:, 0], char_end, side="left")) - 1
    if first >= len(offsets) or last < first:
        return None
    return first, last
