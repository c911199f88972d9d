"""Keyword search (BM25, via bm25s) over Thai words and English words.

Regex tokenizers cut Thai at vowel and tone marks, so keyword search built on them silently
fails in Thai. Here Thai is segmented into dictionary words (PyThaiNLP newmm, through its Rust
port nlpo3 when installed: the same dictionary, about five times faster), Thai and English
stopwords are dropped, and text is first put in a *matching form*.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache, partial
from pathlib import Path

import numpy as np

KEYWORD_DIR = "keyword"

_THAI_DIGITS = "๐๑๒๓๔๕๖๗๘๙"
# One character in, one character out: offsets in the matching form are offsets in the stored
# text, so anything found here can be cited without an offset map.
_FOLD = str.maketrans(
    {
        **{thai: str(i) for i, thai in enumerate(_THAI_DIGITS)},
        **{chr(c): chr(c + 32) for c in range(ord("A"), ord("Z") + 1)},
        **dict.fromkeys(
            map(ord, "\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000\t"),
            " ",
        ),
    }
)

_ENGLISH_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "will",
        "with",
    ]
)


def match_form(text: str) -> str:
    """Thai digits as Arabic digits, ASCII letters in lower case, odd spaces as spaces; same length.

    >>> match_form("พ.ศ. ๒๕๖๒ ASEAN\u00a0ICT")
    'พ.ศ. 2562 asean ict'
    """
    return text.translate(_FOLD)


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or "\u0e00" <= ch <= "\u0e7f"


def _engine() -> str:
    try:
        import nlpo3  # noqa: F401

        return "nlpo3"
    except ImportError:
        return "newmm"


class Tokenizer:
    """Words for BM25: segmented, stripped of punctuation, without stopwords."""

    def __init__(self) -> None:
        from pythainlp.corpus import thai_stopwords

        self.engine = _engine()
        self.stopwords = frozenset(thai_stopwords()) | _ENGLISH_STOPWORDS

    def describe(self) -> dict:
        from importlib.metadata import version

        return {"engine": self.engine, "pythainlp": version("pythainlp"), "stopwords": len(self.stopwords)}

    def __call__(self, text: str) -> list[str]:
        from pythainlp.tokenize import word_tokenize

        out = []
        for word in word_tokenize(match_form(text), engine=self.engine, keep_whitespace=False):
            # nlpo3 leaves punctuation attached ("ตอร์\"", "น,"); newmm splits it off. Same words after this.
            start, end = 0, len(word)
            while start < end and not _is_word_char(word[start]):
                start += 1
            while end > start and not _is_word_char(word[end - 1]):
                end -= 1
            word = word[start:end]
            if word and word not in self.stopwords:
                out.append(word)
        return out


class KeywordIndex:
    """BM25 over the chunks' words; row i is chunk id i."""

    def __init__(self, bm25, tokenizer: Tokenizer) -> None:
        self.bm25 = bm25  # bm25s.BM25: its vocabulary and postings (benchmarks and tests read them)
        self.tokenize = tokenizer
        # Asked for every word of every candidate sentence; a version's figures never change.
        self.idf = lru_cache(maxsize=65_536)(partial(_idf, bm25))
        self._postings = None  # index.folder.postings.Postings, made at the first search

    @classmethod
    def build(cls, texts: Sequence[str], tokenizer: Tokenizer | None = None) -> KeywordIndex:
        import bm25s

        # bm25s sets its own logger to DEBUG on import and logs every build; quiet it.
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        tokenizer = tokenizer or Tokenizer()
        bm25 = bm25s.BM25()
        # Each distinct text is segmented once (a passage repeated across documents is common).
        # A chunk with no keyword at all still needs a row, so that row numbers stay chunk ids.
        words: dict[str, list[str]] = {}
        bm25.index([words.get(t) or words.setdefault(t, tokenizer(t) or [""]) for t in texts], show_progress=False)
        return cls(bm25, tokenizer)

    def save(self, folder: Path) -> None:
        self.bm25.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path) -> KeywordIndex:
        import bm25s

        from index.folder import postings

        # Memory-mapped: the postings are read where a question's words point (1.2 GB at 1M
        # passages would otherwise be read whole into the service's memory).
        bm25 = bm25s.BM25.load(str(folder), show_progress=False, verbosity=0, mmap=True)
        postings.warm_up()  # compiled now (or read from numba's cache), not at the first question
        return cls(bm25, Tokenizer())

    def coverage(self, query_words: set[str], text_words: set[str]) -> float:
        """The share of the question's words (weighted by idf) that ``text`` also has, 0 to 1."""
        total = sum(self.idf(w) for w in query_words)
        return sum(self.idf(w) for w in query_words & text_words) / total if total else 0.0

    def numpy_scores(self, words: list[str]) -> np.ndarray:
        """Every chunk's BM25 score for ``words`` (all in the vocabulary; a repeated word counts
        again, as in bm25s), in numpy: for BM25L / BM25+ indexes, and as the reference the
        compiled top k (index.folder.postings) is checked against. bm25s adds the postings with
        ``np.add.at``, which is slow; a chunk appears once in a word's postings, so a plain
        indexed add is the same sum, faster (docs/decisions/008-keyword-search-compiled.md)."""
        bm25 = self.bm25
        if getattr(bm25, "nonoccurrence_array", None) is not None:  # BM25L / BM25+: bm25s's own
            return bm25.get_scores(words)
        data, indices, indptr = bm25.scores["data"], bm25.scores["indices"], bm25.scores["indptr"]
        scores = np.zeros(bm25.scores["num_docs"], dtype=np.float32)
        for column in (bm25.vocab_dict[w] for w in words):
            start, end = int(indptr[column]), int(indptr[column + 1])
            scores[indices[start:end]] += data[start:end]
        return scores

    def search(
        self, query: str, k: int, words: list[str] | None = None, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """(chunk id, BM25 score) best first; only chunks sharing a word with the query (and, given
        ``allowed``, only those it allows). ``words``: the query already segmented
        (``tokenize(query)``), to do it once."""
        words = [w for w in (self.tokenize(query) if words is None else words) if w in self.bm25.vocab_dict]
        if not words or k <= 0:
            return []
        bm25 = self.bm25
        if getattr(bm25, "nonoccurrence_array", None) is None:  # Lucene's BM25, what we build
            from index.folder import postings

            if self._postings is None:
                scores = bm25.scores
                self._postings = postings.Postings(
                    scores["data"], scores["indices"], scores["indptr"], scores["num_docs"]
                )
            ids, best = self._postings.top_k([bm25.vocab_dict[w] for w in words], k, allowed)
            return list(zip(ids.tolist(), best.tolist()))
        scores = self.numpy_scores(words)  # BM25L / BM25+: bm25s's own sums
        if allowed is not None:
            scores[~allowed] = 0
        ids, best = top_k_of(scores, k)
        return list(zip(ids.tolist(), best.tolist()))


def top_k_of(scores: np.ndarray, k: int, positive: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(ids, scores) of the ``k`` best of every chunk's ``scores`` (above 0 only, if
    ``positive``: BM25's), in numpy: those at or above the k-th best, then best first and, among
    equals, the lower id first (as a stable sort of all would), without sorting every chunk."""
    if len(scores) > k:
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        top = np.flatnonzero(scores >= kth)
    else:
        top = np.arange(len(scores))
    top = top[np.lexsort((top, -scores[top]))][:k]
    if positive:
        top = top[scores[top] > 0]
    return top, scores[top]


def _idf(bm25, word: str) -> float:
    """Inverse chunk frequency, log(1 + N / (1 + df)); a word no chunk has gets the most."""
    scores = bm25.scores
    column = bm25.vocab_dict.get(word)
    df = 0 if column is None else int(scores["indptr"][column + 1] - scores["indptr"][column])
    return float(np.log1p(scores["num_docs"] / (1 + df)))
