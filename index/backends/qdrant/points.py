"""A version's passages as Qdrant points, and the blend of what Qdrant gives back: what the two
Qdrant backends share (index.backends.qdrant.edge in process, index.backends.qdrant.server over the network).

Per passage, one point whose id is its chunk id (in a server collection, its point id: kept
across versions, index.backends.qdrant.updates, and the chunk id a replica knows it by):

    passage    the passage's float32 vector (dot product; int8 quantisation with rescoring,
               HNSW above the exact-search size, exact search below it, as index.folder.ann)
    sentences  its sentences' vectors as one multivector (MaxSim: its best sentence's cosine)
    bm25       its BM25 weights over our own Thai words (index.backends.qdrant.sparse)
    payload    its document and character span (and, in a server collection, its version)

The engine proposes candidates and scores them; the blend is the embedded retriever's
(index.folder.engine, index.search.candidates), so every backend gives the same ranking: the candidates from both lists,
(1 - w) x passage cosine + w x best sentence cosine, plus the keyword weight x BM25 / best BM25.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpus.document import Document
from index.folder.keyword import KeywordIndex
from index.backends.base import EngineUnavailable, FilterUnsupported
from index.store.manifest import IndexLoadError
from index.folder.spans import ChunkSentences
from index.backends.qdrant.sparse import WordIds
from index.folder.vectors import Int8Rows

PASSAGE, SENTENCES, BM25 = "passage", "sentences", "bm25"


HNSW_M, HNSW_EF_CONSTRUCT, HNSW_EF = 32, 80, 160  # as index.folder.ann
UPSERT_BATCH = 512


def guarded(call, *args, **kwargs):
    """A call to a Qdrant server; its failures (down, refusing the key, a collection gone) become
    ``EngineUnavailable``."""
    try:
        return call(*args, **kwargs)
    except IndexLoadError:  # said already (EngineUnavailable is one): a version that cannot be written or served
        raise
    except Exception as exc:  # qdrant-client raises httpx, grpc and its own errors
        raise EngineUnavailable(f"the Qdrant server cannot be asked: {exc}") from exc


class TopK:
    """An engine's keyword and dense top k, from its ``_top(query, using, k, params)``: what the
    two Qdrant engines share. ``words``: the version's word ids (``query(words)``)."""

    words: object

    def prefetch(self, chunk_ids: list[int]) -> None:
        return None  # the engine reads the candidates' vectors itself, with the question's

    def _sparse(self, indices: list[int], values: list[float]):
        raise NotImplementedError

    def _top(self, query, using: str, k: int, params=None, where=None) -> list[tuple[int, float]]:
        raise NotImplementedError

    def _nearest_params(self):
        return None

    def _keyword_params(self):
        return None

    def _allowed(self, allowed: np.ndarray | None):
        """The engine's filter for the allowed chunks (None: no filter)."""
        if allowed is None:
            return None
        raise FilterUnsupported("this backend cannot filter questions yet: use embedded or qdrant-edge")

    def keyword(self, words: list[str], k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """BM25's best ``k`` for the question's words (those the version knows)."""
        indices, values = self.words.query(words)
        if not indices or k <= 0:
            return []
        return self._top(self._sparse(indices, values), BM25, k, self._keyword_params(), self._allowed(allowed))

    def nearest(self, vector: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[int]:
        found = self._top(vector[0].tolist(), PASSAGE, k, self._nearest_params(), self._allowed(allowed))
        return [i for i, _ in found]


@dataclass(frozen=True)
class SearchPart:
    """What Qdrant holds of a version: its passages' vectors, sentences and words."""

    version: int
    vectors: np.ndarray  # float32, row i for chunk i
    sentence_vectors: Int8Rows
    chunk_sentences: ChunkSentences
    doc_ids: list[str]  # a span's document index -> its id
    spans: np.ndarray  # the chunks' spans: document index, char_start, char_end, n_tokens
    keyword: KeywordIndex | None  # None: weighed from counts (index.backends.qdrant.sparse.counted_vectors)
    documents: list[Document]  # in the spans' document order
    sentence_spans: np.ndarray  # the sentences': document index, char_start, char_end
    point_ids: np.ndarray | None = None  # chunk id -> its point's id (None: the same number)

    def point_id(self, chunk_id: int) -> int:
        return chunk_id if self.point_ids is None else int(self.point_ids[chunk_id])

    @classmethod
    def assembled(cls, version, number: int, keyword: KeywordIndex | None) -> SearchPart:
        """A version being written (index.build.version.Assembled), as version ``number``."""
        chunk_spans, sentence_spans = version.spans()
        return cls(
            number,
            version.vectors,
            version.sentence_vectors,
            ChunkSentences(chunk_spans, sentence_spans),
            [d.doc_id for d in version.documents],
            chunk_spans,
            keyword,
            version.documents,
            sentence_spans,
        )

    @classmethod
    def of(cls, index) -> SearchPart:
        """A loaded version's (index.folder.load.LoadedIndex)."""
        return cls(
            index.version,
            index.passage_vectors,
            index.sentence_vectors,
            index.chunk_sentences,
            index.documents.doc_ids,
            index.chunks.spans,
            index.keyword,
            [index.documents[d] for d in index.documents.doc_ids],
            index.sentences.spans,
        )


@dataclass(frozen=True)
class PointRow:
    """One passage as a Qdrant point, whichever Qdrant stores it."""

    id: int  # the point id (``SearchPart.point_id``)
    passage: list[float]
    sentences: list[list[float]] | None  # None: the passage has no sentence
    bm25: tuple[list[int], list[float]]  # word ids and weights (index.backends.qdrant.sparse)
    payload: dict

    def named(self, sparse) -> dict:
        """The point's named vectors, with ``sparse`` (its BM25 part in the client's own type)."""
        vectors = {PASSAGE: self.passage, BM25: sparse}
        if self.sentences is not None:
            vectors[SENTENCES] = self.sentences
        return vectors


def point_rows(part: SearchPart, sparse, chunk_ids=None):
    """The version's passages ``chunk_ids`` (None: all of them, in order) as ``PointRow``s
    (``sparse``: ``index.backends.qdrant.sparse.passage_vectors``)."""
    for chunk_id in range(len(part.vectors)) if chunk_ids is None else chunk_ids:
        sentence_ids = part.chunk_sentences[chunk_id]
        # The stored int8 sentence rows as the embedded retriever reads them (codes x scale).
        sentences = part.sentence_vectors[np.asarray(sentence_ids)].tolist() if len(sentence_ids) else None
        doc, start, end = (int(x) for x in part.spans[chunk_id][:3])
        yield PointRow(
            part.point_id(chunk_id),
            part.vectors[chunk_id].tolist(),
            sentences,
            (sparse.indices[chunk_id].tolist(), sparse.values[chunk_id].tolist()),
            {"doc_id": part.doc_ids[doc], "char_start": start, "char_end": end},
        )


def merge_top(lists: list[list[tuple[int, float]]], k: int) -> list[tuple[int, float]]:
    """The best ``k`` of several engines' lists: best first, the lower id first among equals
    (as the embedded retriever breaks ties)."""
    return sorted((item for found in lists for item in found), key=lambda item: (-item[1], item[0]))[:k]


def blend_dense(
    chunk_ids: list[int], cosines: dict[int, float], best: dict[int, float], sentence_weight: float
) -> dict[int, float]:
    """(1 - w) x passage cosine + w x best sentence cosine (the passage cosine where it has no
    sentence), as index.folder.engine.FolderEngine blends them."""
    w = sentence_weight
    return {c: (1 - w) * cosines[c] + w * best.get(c, cosines[c]) for c in chunk_ids}


def previous_words(home: Path) -> WordIds:
    """The word ids of the live version at ``home``, to keep them in the next one."""
    from index.store import versions

    try:
        live = versions.current_path(Path(home))
    except versions.VersionError:
        return WordIds.empty()
    return WordIds.load(live) if live is not None else WordIds.empty()
