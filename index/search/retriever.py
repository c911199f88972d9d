"""Answering a question from a version: normalise, expand, rank (dense, keyword or both, by the
version's engine: index.search.candidates), drop near-duplicates (index.search.duplicates), pick
each passage's answering sentence (index.search.sentences), read the top passages
(index.search.read_top), and decide whether anything answers. Nothing here knows the backend."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from corpus.text import normalize_text
from index.backends.base import Allowed, Engine, FilterUnsupported, Version
from index.encoders.base import Embedder
from index.reader.runtime import Reader
from index.search.batching import QueryBatcher
from index.search.candidates import CANDIDATES, Ranking, prefetches
from index.search.duplicates import Distinct
from index.search.expansion import Expansion, QueryExpander
from corpus.filters import Filter
from index.search.filters import Selection
from index.search.read_top import read_top
from index.search.results import MODES, NOTHING_READ, Mode, RankedPassage, SearchConfig, SearchResult
from index.search.sentences import best_sentence, sentence_highlights
from index.search.threads import one_thread_per_search


class Retriever:
    """Holds the model and a version; one instance per process and version, shared by all requests."""

    def __init__(
        self,
        embedder: Embedder,
        index: Version,
        config: SearchConfig,
        batcher: QueryBatcher | None = None,
        reader: Reader | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.embedder = embedder
        self.reader = reader
        self.index = index
        # Where candidates are proposed and scored: the backend's engine (None: the version's
        # own, ``index.engine()``). Everything after the ranking is the same for every engine.
        self.engine = engine if engine is not None else index.engine()
        self.config = config
        self.ranking = Ranking(self.engine, config, len(index.chunks))
        self.distinct = Distinct(index.chunks.texts)
        self._selection: Selection | None = None  # the documents' filterable fields, at the first filter
        self.expander = QueryExpander.from_file(config.expansion_file) if config.expansion_file else None
        # One encoder call at a time (concurrent calls only fight over the same two cores), and
        # questions that arrive meanwhile share the next call. The service passes its own, which
        # outlives each index version.
        self.batcher = batcher or QueryBatcher(embedder.embed_queries, config.batch_max)
        # A sentence's words do not depend on the question: kept for the sentences that keep
        # coming back (bounded, as the duplicates' shingles are).
        self._words = lru_cache(maxsize=16_384)(
            lambda doc_id, start, end: frozenset(index.keyword.tokenize(index.documents.text_span(doc_id, start, end)))
        )

    def search(
        self,
        question: str,
        top_k: int,
        mode: Mode | None = None,
        expand: bool = True,
        read: bool = True,
        only: Filter | None = None,
    ) -> SearchResult:
        """The ``top_k`` best distinct passages, each with its answering sentence, and the answer.
        ``read`` (with a reader): the reader reads the first passages, finds the answer's words
        and reorders them.

        ``expand`` adds equivalent names and other-era years (``index.search.expansion``) to the
        keyword search only: appended to the embedded question, the extra words pull its vector
        toward every passage that names the ministry (docs/decisions/002-search-mode-and-fusion.md).

        ``only``: the documents the question may read (index.search.filters); the engine
        proposes none of the others, so a filter that matches nothing finds nothing.
        """
        one_thread_per_search()
        mode = mode or self.config.mode
        if mode not in MODES:
            raise ValueError(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")
        query = normalize_text(question).strip()
        if not query:
            raise ValueError("question is blank")
        allowed = self._allowed(only)
        # The question's vector is needed in every mode: it chooses the answering sentence. It is
        # computed on the encoder's thread while this one segments the question and runs the
        # keyword search on the other core (1M passages: BM25 no longer adds to the encoder's time).
        pending = self.batcher.submit(query)
        expansion = self.expander.expand(query) if expand and self.expander else Expansion(query, ())
        depth = max(CANDIDATES, top_k)
        tokenize = self.index.keyword.tokenize
        words = tokenize(query)
        # The question is segmented once: for keyword search (unless expansion added words) and
        # for the answer sentence's word share.
        keyword_words = words if expansion.text == query else tokenize(expansion.text)
        # A filter that matches nothing proposes nothing, rather than everything.
        nothing = isinstance(allowed, np.ndarray) and not allowed.any()
        keyword = self.engine.keyword(keyword_words, depth, allowed) if mode != "dense" and not nothing else []
        # Still waiting for the vector: read the keyword candidates' stored vectors and texts.
        keyword_ids = [c for c, _ in keyword]
        prefetched = self.engine.prefetch(keyword_ids) if prefetches(mode, self.config.fusion) else None
        known = dict(zip(keyword_ids, self.index.chunks.texts(keyword_ids))) if self.config.dedup else {}
        vector = pending.result()
        if nothing:
            ranked = []
        elif mode == "dense":
            ranked = self.ranking.dense(vector, depth, allowed)
        elif mode == "keyword":
            ranked = keyword
        else:
            ranked = self.ranking.hybrid(vector, keyword, prefetched, allowed)
        reading = read and self.reader is not None
        depth = max(top_k, self.config.read_candidates) if reading else top_k
        kept = self.distinct.first(ranked, depth, known) if self.config.dedup else ranked[:depth]
        hits, sentences = [], []
        query_words = set(words)
        for chunk_id, score in kept:
            chunk = self.index.chunks[chunk_id]
            found = sentence_highlights(self.index, chunk, vector[0], query_words, self._words)
            sentences.append(found)
            hit = RankedPassage(len(hits) + 1, score, chunk, self.index.documents[chunk.doc_id], best_sentence(found))
            hits.append(hit)
        if reading:
            hits, candidate, decision = read_top(self.reader, self.config, query, hits, sentences, top_k)
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

    def _allowed(self, only: Filter | None) -> Allowed:
        """Each passage's place in the filter, or the filter itself for an engine that filters by
        the documents' fields (index.backends.base.Allowed); None: no filter."""
        if only is None or only.empty:
            return None
        if only.nothing:
            return np.zeros(len(self.index.chunks), dtype=bool)
        if getattr(self.engine, "filters_documents", False):
            return only
        if self._selection is None:
            documents, chunks = self.index.documents, self.index.chunks
            if not hasattr(documents, "metadata_rows") or not hasattr(chunks, "spans"):
                raise FilterUnsupported("this backend cannot filter questions yet: use embedded or qdrant-edge")
            self._selection = Selection(documents, chunks.spans[:, 0])
        return self._selection.allowed(only)

    def document(self, doc_id: str):
        return self.index.documents.get(doc_id)
