"""Answering a question from a loaded index: normalise, expand, search (dense, keyword or both),
drop near-duplicates, pick each passage's answering sentence, read the top passages (the reader's
span and a new order), and decide whether anything answers."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np

from corpus.document import Document
from corpus.text import normalize_text
from index.answer import Highlight, best_sentence, sentence_highlights
from index.answer_choice import AnswerKind, Candidate, ChoiceConfig, Decision, ReadPassage, choose
from index.answer_kinds import asked_for
from index.batching import QueryBatcher
from index.encoders.base import Embedder
from index.keyword import match_form
from index.query import Expansion, QueryExpander
from index.load import LoadedIndex
from index.qdrant_points import Engine
from index.reader.features import Span
from index.reader.runtime import Reader, Window
from index.reading import enclosing
from index.spans import Passage
from index.threads import one_thread_per_search
from index.vectors import dot_stored, stored_rows

Mode = Literal["dense", "keyword", "hybrid"]
MODES: tuple[Mode, ...] = ("dense", "keyword", "hybrid")
Fusion = Literal["weighted", "rrf"]
# How many candidates each list contributes before rescoring and fusing.
CANDIDATES = 100
# The confidence of a read search in which the reader found no span at all: below any margin,
# and finite, so that it can be compared, averaged and written as JSON.
NOTHING_READ = -1e6
# Two passages whose character 4-grams overlap this much (Jaccard) are the same passage.
DUPLICATE_JACCARD = 0.8


@dataclass(frozen=True)
class SearchConfig:
    """How questions are searched and answered (built from the settings: ``Settings.search_config``)."""

    mode: Mode
    sentence_weight: float  # dense score = (1 - w) x passage cosine + w x best sentence cosine
    fusion: Fusion
    keyword_weight: float  # hybrid: the keyword list's weight against dense's 1
    rrf_k: int  # the "rrf" fusion's constant
    expansion_file: Path | None  # equivalent-name groups (index.query); None: no query expansion
    answer_threshold: float  # the best sentence's score below which nothing answers
    dedup: bool  # drop a passage that repeats a higher-ranked one
    batch_max: int  # questions encoded together at most (index.batching)
    read_candidates: int  # the reader reads this many of the top passages (docs/decisions/017-reader.md)
    read_weight: float  # new order = w x reader z-score + (1 - w) x retrieval z-score
    no_answer_margin: float  # read: the best span's margin over "no answer" below which nothing answers
    # How the answer is chosen among the reader's spans, and the ladder (index.answer_choice).
    answer_weight: float = 0.5
    span_candidates: int = 1
    kind_bonus: float = 0.0
    kind_penalty: float = 0.0
    copy_penalty: float = 0.0
    words_margin: float = -100.0


@dataclass(frozen=True)
class _Rows:
    """Candidates' stored vectors, read from the mapped files: each passage's, then all their
    sentences' in candidate order (``sizes``: how many each), int8 codes with ``scales``."""

    ids: list[int]
    passages: np.ndarray
    sentences: np.ndarray
    scales: np.ndarray | None
    sizes: np.ndarray


@dataclass(frozen=True)
class RankedPassage:
    rank: int
    # dense: passage/sentence cosine blend; keyword: BM25; hybrid: the blend + weight x BM25/best BM25
    # (or a reciprocal-rank-fusion score with the "rrf" fusion).
    score: float
    passage: Passage
    document: Document
    highlight: Highlight | None = None
    # Read: the reader's best span's margin over "no answer" (its span is ``highlight.span``).
    reader_score: float | None = None


@dataclass(frozen=True)
class SearchResult:
    passages: list[RankedPassage]
    # The answer's passage whether or not it reaches the threshold. Read: the passage whose best
    # span the answer choice took (index.answer_choice); else the hit whose sentence scores best.
    candidate: RankedPassage | None
    # Read: the best span's margin over "no answer" among the passages read; else the candidate
    # sentence's score (similarity plus word share).
    confidence: float
    threshold: float
    expanded_with: tuple[str, ...] = ()
    index_version: int = 0  # the index version that answered (every hit comes from it)
    read: bool = False  # whether the reader read the top passages
    # Read: the confidence ladder's rung (index.answer_choice): the reader's exact words, the
    # sentence that holds them, or nothing. Unread: the best sentence or nothing.
    answer_kind: AnswerKind | None = None

    @property
    def kind(self) -> AnswerKind:
        if self.read and self.answer_kind is not None:
            return self.answer_kind
        return "none" if self.candidate is None or self.confidence < self.threshold else "sentence"

    @property
    def best(self) -> RankedPassage | None:
        """The answer; None when the ladder says nothing answers (the documents probably do not
        answer the question)."""
        return None if self.kind == "none" else self.candidate


def fuse(
    rankings: list[list[tuple[int, float]]], k: int, weights: list[float] | None = None
) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: list i gives weights[i]/(k + rank); ties keep the lower chunk id first."""
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights or [1.0] * len(rankings)):
        for rank, (chunk_id, _) in enumerate(ranking, start=1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (k + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def _shingles(text: str) -> frozenset[str]:
    folded = " ".join(match_form(text).split())
    return frozenset(folded[i : i + 4] for i in range(max(1, len(folded) - 3)))


def near_duplicate(a: frozenset[str], b: frozenset[str]) -> bool:
    small, large = sorted((len(a), len(b)))
    # Jaccard is at most small/large: most pairs are ruled out without a set operation.
    return small >= DUPLICATE_JACCARD * large and len(a & b) >= DUPLICATE_JACCARD * len(a | b)


def reading_window(hit: RankedPassage) -> Window:
    """What the reader reads of a passage: as much of it as a row holds, around its best sentence."""
    p, h = hit.passage, hit.highlight
    focus = (h.char_start + h.char_end) // 2 if h else p.char_start
    return Window(hit.document.text, p.char_start, p.char_end, focus)


class Retriever:
    """Holds the model and the index; one instance per process, shared by all requests."""

    def __init__(
        self,
        embedder: Embedder,
        index: LoadedIndex,
        config: SearchConfig,
        batcher: QueryBatcher | None = None,
        reader: Reader | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.embedder = embedder
        self.reader = reader
        # Where candidates are proposed and scored: None, the version's own files (FAISS and
        # BM25, the backend "embedded"); else Qdrant's engine over the same version's points.
        # Everything after the ranking (duplicates, sentences, the reader) is the same for both.
        self.engine = engine
        self.index = index
        self.config = config
        self.expander = QueryExpander.from_file(config.expansion_file) if config.expansion_file else None
        # One encoder call at a time (concurrent calls only fight over the same two cores), and
        # questions that arrive meanwhile share the next call. The service passes its own, which
        # outlives each index version.
        self.batcher = batcher or QueryBatcher(embedder.embed_queries, config.batch_max)
        # Per-passage and per-sentence work that does not depend on the question, kept for the
        # passages that keep coming back (thread-safe: lru_cache guards its own state). Sized by
        # memory (a passage's shingles take tens of KB), not by count: a long-running service
        # must not grow without bound (docs/decisions/013-memory-at-1m-passages.md).
        # Keyed by the text, not the chunk: a passage repeated in other documents (a standard
        # clause, a copied announcement) is cut into shingles once.
        self._shingles = lru_cache(maxsize=1_024)(_shingles)
        self._words = lru_cache(maxsize=16_384)(
            lambda doc_id, start, end: frozenset(index.keyword.tokenize(index.documents.text_span(doc_id, start, end)))
        )

    def _nearest(self, vector: np.ndarray, k: int) -> list[int]:
        """The ``k`` chunks nearest the question (FAISS), nearest first."""
        if self.engine is not None:
            return self.engine.nearest(vector, min(k, len(self.index.chunks)))
        _, ids = self.index.faiss_index.search(vector, min(k, len(self.index.chunks)))
        # FAISS pads with -1 when it has fewer than k results.
        return [int(i) for i in ids[0] if i >= 0]

    def _gather(self, chunk_ids: list[int]) -> _Rows:
        """The candidates' stored vectors: their passages' and their sentences'. None of it
        depends on the question's vector, so the keyword candidates' are read while it is
        being computed."""
        groups = [self.index.chunk_sentences[c] for c in chunk_ids]
        sizes = np.array([len(g) for g in groups], dtype=np.int64)
        rows = np.concatenate([g for g in groups if g]) if sizes.sum() else np.zeros(0, dtype=np.int64)
        # int8 rows as they are stored: a quarter of the bytes to copy and join.
        sentences, scales = stored_rows(self.index.sentence_vectors, rows)
        return _Rows(list(chunk_ids), self.index.passage_vectors[chunk_ids], sentences, scales, sizes)

    def _dense_scores(self, vector: np.ndarray, chunk_ids: list[int], read: _Rows | None = None) -> dict[int, float]:
        """Blend each candidate's passage cosine with its best sentence's cosine. ``read``: the
        stored vectors of the first candidates, gathered already (``_gather``).

        The passage cosines come from the exact float32 vectors, whichever index proposed the
        candidate (an approximate index's scores are approximate; a keyword candidate has none).

        A passage of 200 tokens covers several topics, and its single vector matches none of
        them sharply; the best sentence does (docs/decisions/004-sentence-blend.md).
        """
        if not chunk_ids:
            return {}
        if self.engine is not None:
            return self.engine.dense_scores(vector, chunk_ids, self.config.sentence_weight)
        q = vector[0]
        parts = [read] if read is not None else []
        done = len(read.ids) if read is not None else 0
        if done < len(chunk_ids):
            parts.append(self._gather(chunk_ids[done:]))
        # One matrix product over all the rows, as before they were read in two parts: BLAS
        # computes a row differently depending on its place in a block of rows, so products
        # per part would move scores in the last bits and could reorder exact ties.
        passages = parts[0].passages if len(parts) == 1 else np.concatenate([p.passages for p in parts])
        sentences = parts[0].sentences if len(parts) == 1 else np.concatenate([p.sentences for p in parts])
        # float64, as the scores always were: float32 sums could reorder near-ties.
        cosines = (passages @ q).astype(np.float64)
        scales = None if parts[0].scales is None else np.concatenate([p.scales for p in parts])
        sims = dot_stored(sentences, scales, q)
        sizes = np.concatenate([p.sizes for p in parts])
        # Each candidate's best sentence: one maximum per group of consecutive rows.
        best = cosines.copy()
        has = sizes > 0
        if has.any():
            best[has] = np.maximum.reduceat(sims, np.concatenate(([0], np.cumsum(sizes[has])[:-1])))
        blended = (1 - self.config.sentence_weight) * cosines + self.config.sentence_weight * best
        return dict(zip(chunk_ids, blended.tolist()))

    def _keyword(self, query: str, k: int, words: list[str] | None) -> list[tuple[int, float]]:
        if self.engine is None:
            return self.index.keyword.search(query, k, words)
        return self.engine.keyword(self.index.keyword.tokenize(query) if words is None else words, k)

    @staticmethod
    def _sorted(scores: dict[int, float]) -> list[tuple[int, float]]:
        return sorted(scores.items(), key=lambda item: (-item[1], item[0]))

    def _hybrid(
        self, vector: np.ndarray, keyword: list[tuple[int, float]], read: _Rows | None = None
    ) -> list[tuple[int, float]]:
        nearest = self._nearest(vector, CANDIDATES)
        if self.config.fusion == "rrf":
            return fuse(
                [self._sorted(self._dense_scores(vector, nearest)), keyword],
                self.config.rrf_k,
                [1.0, self.config.keyword_weight],
            )
        # Weighted sum: BM25 scaled by the question's best BM25, so the weight means the same for
        # every question. It beat reciprocal rank fusion on both sets
        # (docs/decisions/002-search-mode-and-fusion.md).
        candidates = list(dict.fromkeys([*(c for c, _ in keyword), *nearest]))
        scores = self._dense_scores(vector, candidates, read)
        top = keyword[0][1] if keyword and keyword[0][1] > 0 else 1.0
        for chunk_id, bm25 in keyword:
            scores[chunk_id] += self.config.keyword_weight * bm25 / top
        return self._sorted(scores)

    def _distinct(
        self, ranked: list[tuple[int, float]], top_k: int, known: dict[int, str] | None = None
    ) -> list[tuple[int, float]]:
        """The first ``top_k`` of ``ranked``, skipping passages that repeat a higher-ranked one.
        ``known``: texts of some chunks, read already."""
        if not self.config.dedup:
            return ranked[:top_k]
        kept: list[tuple[int, float]] = []
        seen: list[frozenset[str]] = []
        texts: set[str] = set()
        known = known or {}

        def texts_of(batch: list[tuple[int, float]]) -> list[str]:
            missing = [c for c, _ in batch if c not in known]
            known.update(zip(missing, self.index.chunks.texts(missing)))
            return [known[c] for c, _ in batch]

        # Texts read a batch at a time: on a corpus with many copies most of the list is walked.
        batches = (ranked[i : i + 32] for i in range(0, len(ranked), 32))
        candidates = ((c, score, text) for batch in batches for (c, score), text in zip(batch, texts_of(batch)))
        for chunk_id, score, text in candidates:
            if text in texts:  # the same passage in another document: no need to compare shingles
                continue
            texts.add(text)
            shingles = self._shingles(text)
            if any(near_duplicate(shingles, other) for other in seen):
                continue
            kept.append((chunk_id, score))
            seen.append(shingles)
            if len(kept) == top_k:
                break
        return kept

    def search(
        self, question: str, top_k: int, mode: Mode | None = None, expand: bool = True, read: bool = True
    ) -> SearchResult:
        """The ``top_k`` best distinct passages, each with its answering sentence, and the answer.
        ``read`` (with a reader): the reader reads the first passages, finds the answer's words
        and reorders them.

        ``expand`` adds equivalent names and other-era years (``index.query``) to the keyword
        search only: appended to the embedded question, the extra words pull its vector toward
        every passage that names the ministry (docs/decisions/002-search-mode-and-fusion.md).
        """
        one_thread_per_search()
        mode = mode or self.config.mode
        if mode not in MODES:
            raise ValueError(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")
        query = normalize_text(question).strip()
        if not query:
            raise ValueError("question is blank")
        # The question's vector is needed in every mode: it chooses the answering sentence. It is
        # computed on the encoder's thread while this one segments the question and runs the
        # keyword search on the other core (1M passages: BM25 no longer adds to the encoder's time).
        pending = self.batcher.submit(query)
        expansion = self.expander.expand(query) if expand and self.expander else Expansion(query, ())
        keyword_query = expansion.text
        depth = max(CANDIDATES, top_k)
        words = self.index.keyword.tokenize(query)
        # The question is segmented once: for keyword search (unless expansion added words) and
        # for the answer sentence's word share.
        keyword_words = words if keyword_query == query else None
        keyword = self._keyword(keyword_query, depth, keyword_words) if mode != "dense" else []
        # Still waiting for the vector: read the keyword candidates' stored vectors and texts.
        keyword_ids = [c for c, _ in keyword]
        overlap = mode == "hybrid" and self.config.fusion == "weighted" and self.engine is None
        gathered = self._gather(keyword_ids) if overlap else None
        known = dict(zip(keyword_ids, self.index.chunks.texts(keyword_ids))) if self.config.dedup else {}
        vector = pending.result()
        if mode == "dense":
            ranked = self._sorted(self._dense_scores(vector, self._nearest(vector, depth)))
        elif mode == "keyword":
            ranked = keyword
        else:
            ranked = self._hybrid(vector, keyword, gathered)
        reading = read and self.reader is not None
        depth = max(top_k, self.config.read_candidates) if reading else top_k
        hits, sentences = [], []
        query_words = set(words)
        for chunk_id, score in self._distinct(ranked, depth, known):
            chunk = self.index.chunks[chunk_id]
            found = sentence_highlights(self.index, chunk, vector[0], query_words, self._words)
            sentences.append(found)
            hit = RankedPassage(len(hits) + 1, score, chunk, self.index.documents[chunk.doc_id], best_sentence(found))
            hits.append(hit)
        if reading:
            hits, candidate, decision = self._read(query, hits, sentences, top_k)
            return SearchResult(
                hits[:top_k],
                candidate,
                NOTHING_READ if decision is None or candidate is None else decision.margin,
                self.config.no_answer_margin,
                expansion.added,
                self.index.version,
                True,
                answer_kind="none" if decision is None else decision.kind,
            )
        scored = [h for h in hits if h.highlight is not None]
        candidate = max(scored, key=lambda h: h.highlight.score, default=None)
        confidence = candidate.highlight.score if candidate else 0.0
        return SearchResult(
            hits, candidate, confidence, self.config.answer_threshold, expansion.added, self.index.version
        )

    def _read(
        self, query: str, hits: list[RankedPassage], sentences: list[list[Highlight]], top_k: int
    ) -> tuple[list[RankedPassage], RankedPassage | None, Decision | None]:
        """The reader's spans in each of the first passages, the answer chosen among them
        (``index.answer_choice``), those passages in the order shown (the others after them, as
        they were), the answer's passage and the decision."""
        n = min(self.config.read_candidates, len(hits))
        if n == 0:
            return hits, None, None
        windows = [reading_window(hit) for hit in hits[:n]]
        found = self.reader.candidates(query, windows, self.config.span_candidates)
        passages = []
        for hit, spans, sents in zip(hits[:n], found, sentences[:n]):
            text = hit.document.text
            candidates = [Candidate.of(text, s) for s in spans]
            passages.append(ReadPassage(hit.score, candidates, [(h.char_start, h.char_end, h.score) for h in sents]))
        decision = choose(asked_for(query), passages, ChoiceConfig.from_search(self.config), query, top_k)
        read = []
        for hit, best, found_sentences in zip(hits[:n], decision.best, sentences[:n]):
            if best is None:
                read.append(hit)
                continue
            # The passage's highlight becomes the sentence that holds its best span, marked inside it.
            bounds = [(s.char_start, s.char_end) for s in found_sentences]
            start, end = enclosing(bounds, best.char_start, best.char_end)
            start, end = max(start, hit.passage.char_start), min(end, hit.passage.char_end)
            same = next((s for s in found_sentences if (s.char_start, s.char_end) == (start, end)), None)
            score = same.score if same else (hit.highlight.score if hit.highlight else 0.0)
            span = Span(best.char_start, best.char_end, best.score, best.null)
            highlight = Highlight(start, end, score, span)
            read.append(dataclasses.replace(hit, highlight=highlight, reader_score=best.margin))
        answer = read[decision.passage] if decision.passage is not None else None
        ranked = [read[i] for i in decision.order] + hits[n:]
        ranked = [dataclasses.replace(h, rank=r) for r, h in enumerate(ranked, start=1)]
        if answer is not None:
            answer = next(h for h in ranked if h.passage.id == answer.passage.id)
        return ranked, answer, decision

    def document(self, doc_id: str) -> Document | None:
        return self.index.documents.get(doc_id)
