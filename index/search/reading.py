"""The reader's scores and retrieval's, blended into one order, and the sentences around a span
(docs/decisions/017-reader.md; the reading itself: index.search.read_top).

The scores of the two models are on different scales and move from question to question, so
each is turned into z-scores over the passages read for that question before they are blended.
"""

from __future__ import annotations

import numpy as np


def zscores(values: list[float]) -> np.ndarray:
    """(v - mean) / std over ``values``; all zeros when they are equal (nothing to tell apart)."""
    v = np.asarray(values, dtype=np.float64)
    std = v.std()
    return np.zeros_like(v) if std < 1e-12 else (v - v.mean()) / std


def blend(retrieval: list[float], reader: list[float], weight: float) -> np.ndarray:
    """``weight`` × the reader's z-scores + (1 − ``weight``) × retrieval's."""
    return weight * zscores(reader) + (1 - weight) * zscores(retrieval)


def enclosing(sentences: list[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    """The smallest run of consecutive ``sentences`` (sorted [start, end) spans) that holds
    [start, end); the span itself when no sentence touches it."""
    touching = [s for s in sentences if s[0] < end and start < s[1]] or [s for s in sentences if s[0] <= start < s[1]]
    if not touching:
        return start, end
    return min(start, touching[0][0]), max(end, touching[-1][1])
