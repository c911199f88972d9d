"""BM25 as sparse vectors, for an engine that stores them (Qdrant): the project's own Thai words,
each with a stable id, and each passage's BM25 weights taken from the keyword index itself.

Qdrant's own text index segments Thai itself, wrongly (docs/decisions/018-scale-out.md), so the
words are ours (``index.folder.keyword.Tokenizer``) and only their ids and weights go to the engine.
A word's id is a hash of the word, found with no shared table; two words whose hashes collide
are told apart by a probe (so then an id depends on which word came first), and the table of
which word holds which id travels from one Qdrant-backed version to the next, so an id once
given stays. The weights are bm25s's own (the embedded keyword index), so the engine's sums are
the same BM25 scores.

Two ways to send the inverse document frequency:
- ``full``: each weight is BM25's whole share, idf included, computed over the whole corpus at
  build time. Exact at any number of shards.
- ``engine``: the weight without the idf, and the engine multiplies by its own (Qdrant's
  ``Modifier.IDF``, the same formula as bm25s's). Qdrant counts per shard, so with several
  shards a word's idf differs from shard to shard; it stays right after upserts without a rebuild.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.folder.keyword import KeywordIndex
from index.backends.base import IDF_MODES, IdfMode
from index.store.manifest import IndexLoadError

# Each BM25 word's stable id, in the version folders of the Qdrant backends (covered by their checksums).
WORD_IDS_FILE = "word-ids.json"

# Qdrant's sparse indices are unsigned 32-bit integers.
ID_SPACE = 1 << 32


def hashed_id(word: str, probe: int = 0) -> int:
    """The id a word asks for first (``probe`` 0), and the next ones if that is taken."""
    digest = hashlib.blake2b(f"{probe}\x00{word}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big")


@dataclass
class WordIds:
    """Which id each word holds. Ids are hashes of the words; a word whose hash another word
    holds already takes the next probe's, and the table is kept so that it keeps it."""

    ids: dict[str, int]
    collisions: int = 0  # words that did not get their first hash, in this table's history

    @classmethod
    def empty(cls) -> WordIds:
        return cls({})

    def assign(self, words) -> WordIds:
        """A new table with ``words`` added (new words in sorted order, so the same input gives
        the same table); the words already here keep their ids."""
        ids = dict(self.ids)
        taken = {i: w for w, i in ids.items()}
        collisions = self.collisions
        for word in sorted(set(words) - ids.keys()):
            probe = 0
            while (candidate := hashed_id(word, probe)) in taken:
                probe += 1
            collisions += probe > 0
            ids[word] = candidate
            taken[candidate] = word
        return WordIds(ids, collisions)

    def query(self, words: list[str]) -> tuple[list[int], list[float]]:
        """A question's sparse vector: each known word's id, with how often it occurs (bm25s
        counts a repeated word again)."""
        counts = Counter(w for w in words if w in self.ids)
        pairs = sorted((self.ids[w], float(n)) for w, n in counts.items())
        return [i for i, _ in pairs], [v for _, v in pairs]

    def save(self, folder: Path) -> None:
        body = {"hash": "blake2b-32(probe NUL word)", "collisions": self.collisions, "ids": self.ids}
        # Written inside a version's staged folder, which is renamed into place whole (index.store.atomic).
        (Path(folder) / WORD_IDS_FILE).write_text(json.dumps(body, ensure_ascii=False, sort_keys=True), "utf-8")

    @classmethod
    def load(cls, folder: Path, required: bool = False) -> WordIds:
        """The table in a version folder; none there: an empty one, or (``required``, a version
        written for a Qdrant backend) IndexLoadError, as for a damaged one."""
        path = Path(folder) / WORD_IDS_FILE
        if not path.is_file():
            if required:
                raise IndexLoadError(f"index at {folder} is damaged: {WORD_IDS_FILE} is missing")
            return cls.empty()
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
            ids = {str(w): int(i) for w, i in body["ids"].items()}
            collisions = int(body.get("collisions", 0))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise IndexLoadError(f"index at {folder} is damaged: {WORD_IDS_FILE}: {exc}") from exc
        if len(set(ids.values())) != len(ids) or any(not 0 <= i < ID_SPACE for i in ids.values()):
            raise IndexLoadError(f"index at {folder} is damaged: {WORD_IDS_FILE} gives two words one id")
        return cls(ids, collisions)


def document_frequencies(keyword: KeywordIndex) -> dict[str, int]:
    """How many passages hold each word of the keyword index."""
    indptr = keyword.bm25.scores["indptr"]
    df = np.diff(indptr).tolist()
    return {w: (df[c] if c < len(df) else 0) for w, c in keyword.bm25.vocab_dict.items()}


def lucene_idf(df: np.ndarray, n_docs: int) -> np.ndarray:
    """bm25s's idf, float32 as it stores it: log(1 + (N - df + 0.5) / (df + 0.5))."""
    return np.array([math.log(1 + (n_docs - d + 0.5) / (d + 0.5)) for d in df.tolist()], dtype=np.float32)


@dataclass(frozen=True)
class SparseRows:
    """Each passage's sparse vector (row i for chunk i): word ids and weights."""

    indices: list[np.ndarray]
    values: list[np.ndarray]


def passage_vectors(keyword: KeywordIndex, words: WordIds, idf: IdfMode) -> SparseRows:
    """Every passage's BM25 weights from the keyword index, under the words' stable ids."""
    if idf not in IDF_MODES:
        raise ValueError(f"unknown idf mode {idf!r}; use one of {', '.join(IDF_MODES)}")
    bm25 = keyword.bm25
    scores = bm25.scores
    data, rows, indptr = scores["data"], scores["indices"], scores["indptr"]
    n_docs = int(scores["num_docs"])
    # word -> column; bm25s also lists the empty word it gives passages with no word at all,
    # after the last column: it has no postings.
    column_word = [""] * (len(indptr) - 1)
    for word, column in bm25.vocab_dict.items():
        if column < len(column_word):
            column_word[column] = word
    column_id = np.array([words.ids[w] for w in column_word], dtype=np.uint32)
    df = np.diff(indptr)
    weights = np.asarray(data, dtype=np.float32)
    if idf == "engine":
        # The share without its idf: the engine multiplies by its own.
        weights = weights / np.repeat(lucene_idf(df, n_docs), df)
    # The CSC matrix (a column per word) turned into a row per passage.
    columns = np.repeat(np.arange(len(column_word)), df)
    order = np.lexsort((column_id[columns], rows))
    by_row = np.asarray(rows)[order]
    ids, vals = column_id[columns][order], weights[order]
    bounds = np.searchsorted(by_row, np.arange(n_docs + 1))
    return SparseRows(
        [ids[bounds[i] : bounds[i + 1]] for i in range(n_docs)],
        [vals[bounds[i] : bounds[i + 1]] for i in range(n_docs)],
    )


# bm25s's defaults, which KeywordIndex.build keeps: Lucene's BM25 with k1 1.5 and b 0.75.
K1, B = 1.5, 0.75


@dataclass(frozen=True)
class Corpus:
    """What BM25 weighs a passage against: how many passages hold each word, how many passages
    there are, and how many words they hold together (their average length)."""

    df: dict[str, int]
    passages: int
    length: int  # words in all passages, repeats counted (bm25s's document length)

    @property
    def average_length(self) -> float:
        return self.length / self.passages if self.passages else 0.0


def passage_words(tokenize, texts) -> list[list[str]]:
    """Each text's BM25 words, as KeywordIndex.build gives them to bm25s (a text with no word
    at all holds the empty word, so that it still has a row)."""
    seen: dict[str, list[str]] = {}
    return [seen.get(t) or seen.setdefault(t, tokenize(t) or [""]) for t in texts]


def counted_vectors(passages: list[list[str]], words: WordIds, corpus: Corpus, idf: IdfMode) -> SparseRows:
    """The BM25 weights of ``passages`` (each its words) in ``corpus``, computed as bm25s computes
    them (float32 idf, float32 weights), under the words' stable ids: a passage can be weighed
    without the keyword index of the whole corpus (index.backends.qdrant.updates)."""
    if idf not in IDF_MODES:
        raise ValueError(f"unknown idf mode {idf!r}; use one of {', '.join(IDF_MODES)}")
    average = corpus.average_length
    indices, values = [], []
    for tokens in passages:
        counts = Counter(tokens)
        pairs = sorted((words.ids[w], w, n) for w, n in counts.items())
        tf = np.array([n for _, _, n in pairs], dtype=np.float32)
        weights = tf / (K1 * ((1 - B) + B * len(tokens) / average) + tf)
        if idf == "full":
            dfs = np.array([corpus.df[w] for _, w, _ in pairs])
            weights = lucene_idf(dfs, corpus.passages) * weights
        indices.append(np.array([i for i, _, _ in pairs], dtype=np.uint32))
        values.append(weights.astype(np.float32))
    return SparseRows(indices, values)


def corpus_of(passages: list[list[str]]) -> Corpus:
    """The counts of a whole corpus of passages (each its words)."""
    df = Counter(w for tokens in passages for w in set(tokens))
    return Corpus(dict(df), len(passages), sum(len(t) for t in passages))
