"""A version read from a Qdrant server alone, with no version folder: what a stateless replica
serves (``KHAMTOP_QDRANT_REPLICA=true``, docs/scale-out.md).

The retriever reads a version through a handful of tables (index.folder.load.LoadedIndex): passages,
documents, sentences and their vectors, the keyword words' document counts. Here each is read
from the version's collections (index.backends.qdrant.server.publish) when a question first needs it, and
kept in bounded caches: passages from ``NAME`` (text, spans, sentences' spans, with the sentences'
multivector), documents from ``NAME-documents``, words from ``NAME-words``, the manifest from
``NAME``'s metadata. A replica opens one collection by name (the alias resolved once) and asks
for the version its metadata named then (``visible_at``), so every answer comes from one version
while the writer updates the collection in place (index.backends.qdrant.updates).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpus.document import Document
from index.folder.keyword import Tokenizer
from index.store.manifest import IndexLoadError
from index.backends.qdrant.filtering import FILTERABLE
from index.backends.qdrant.ledger import verify
from index.backends.base import EngineUnavailable
from index.backends.qdrant.points import SENTENCES, guarded
from index.backends.qdrant.server import SINCE, UNTIL, QdrantEngine, qdrant_models, visible_at
from index.backends.qdrant.sparse import hashed_id
from index.folder.spans import Passage, Sentence

PASSAGE_CACHE = 8_192  # passages (text, spans, sentence vectors: ~10 KB each)
DOCUMENT_CACHE = 256  # whole documents
WORD_CACHE = 65_536


class _Bounded:
    """A thread-safe least-recently-used map of at most ``size`` entries."""

    def __init__(self, size: int) -> None:
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def get_many(self, keys) -> dict:
        with self.lock:
            found = {}
            for k in keys:
                if k in self.items:
                    self.items.move_to_end(k)
                    found[k] = self.items[k]
            return found

    def put_many(self, items: dict) -> None:
        with self.lock:
            self.items.update(items)
            for k in items:
                self.items.move_to_end(k)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


@dataclass(frozen=True)
class _Point:
    passage: Passage
    sentence_spans: list[tuple[int, int]]
    sentence_vectors: np.ndarray | None  # float32, a row per sentence; None: not read yet


class RemoteIndex:
    """The tables of one published version, read from its collections on demand."""

    def __init__(self, client, collection: str, manifest: dict | None = None) -> None:
        """``manifest``: the version to serve (the writer's, from its ledger: index.backends.qdrant.ledger);
        None: the one the collection's metadata names live (a replica's)."""
        self.client, self.collection = client, collection
        try:
            info = client.get_collection(collection)
        except Exception as exc:  # the client's errors: connection refused, unknown collection, ...
            raise IndexLoadError(f"the Qdrant collection {collection} cannot be read: {exc}") from exc
        if manifest is None:
            manifest = (info.config.metadata or {}).get("manifest")
        if not isinstance(manifest, dict):
            raise IndexLoadError(f"the Qdrant collection {collection} has no manifest: it was not published whole")
        if "next_point" not in (manifest.get("engine") or {}):
            raise IndexLoadError(
                f"the Qdrant collection {collection} was published by an older khamtop (no version ranges): "
                "rebuild it with KHAMTOP_BACKEND=qdrant khamtop index build"
            )
        self.manifest = manifest
        self.path = Path(f"qdrant:{collection}")  # for messages: there is no folder
        self._points = _Bounded(PASSAGE_CACHE)
        self._documents = _Bounded(DOCUMENT_CACHE)
        self.chunks = _Chunks(self)
        self.documents = _Documents(self)
        self.chunk_sentences = _ChunkSentences(self)
        self.sentences = _Sentences(self)  # ids: see SENTENCES_PER_PASSAGE
        self.sentence_vectors = _SentenceVectors(self)
        self.keyword = RemoteKeyword(client, f"{collection}-words", int(manifest["corpus"]["chunks"]), self.version)

    @property
    def version(self) -> int:
        return int(self.manifest.get("version", 0))

    def engine(self) -> QdrantEngine:
        info = self.manifest["engine"]
        return QdrantEngine(
            self.client,
            self.collection,
            self.keyword,
            bool(info.get("exact", True)),
            self.version,
            info["idf"],
            bool(info.get(FILTERABLE)),
        )

    def points(self, ids: list[int]) -> dict[int, _Point]:
        """Passages ``ids`` (their payload), read from the collection where not cached: a
        question's duplicate check reads a hundred or more, and needs only their texts."""
        found = self._points.get_many(ids)
        missing = [i for i in dict.fromkeys(ids) if i not in found]
        if missing:
            records = guarded(self.client.retrieve, self.collection, missing, with_payload=True)
            fresh = {}
            for r in records:
                p = r.payload
                passage = Passage(int(r.id), p["doc_id"], p["char_start"], p["char_end"], p["n_tokens"], p["text"])
                fresh[int(r.id)] = _Point(passage, [tuple(x) for x in p["sentence_spans"]], None)
            if len(fresh) != len(missing):
                raise EngineUnavailable(f"the Qdrant collection {self.collection} lacks passages it was published with")
            self._points.put_many(fresh)
            found.update(fresh)
        return found

    def with_sentences(self, chunk_id: int) -> _Point:
        """Passage ``chunk_id`` with its sentences' vectors (read for the passages shown only)."""
        point = self.points([chunk_id])[chunk_id]
        if point.sentence_vectors is None:
            vector = {}
            if point.sentence_spans:
                records = guarded(self.client.retrieve, self.collection, [chunk_id], with_vectors=[SENTENCES])
                if not records:
                    raise EngineUnavailable(f"the Qdrant collection {self.collection} lost passage {chunk_id}")
                vector = records[0].vector or {}
            rows = np.asarray(vector.get(SENTENCES) or np.zeros((0, 0)), dtype=np.float32)
            point = _Point(point.passage, point.sentence_spans, rows)
            self._points.put_many({chunk_id: point})
        return point

    def document(self, doc_id: str) -> Document | None:
        cached = self._documents.get_many([doc_id])
        if doc_id in cached:
            return cached[doc_id]
        m = qdrant_models()
        records, _ = guarded(
            self.client.scroll,
            f"{self.collection}-documents",
            scroll_filter=visible_at(self.version, m.FieldCondition(key="doc_id", match=m.MatchValue(value=doc_id))),
            limit=1,
            with_payload=True,
        )
        if not records:
            return None
        document = Document(**{k: v for k, v in records[0].payload.items() if k not in (SINCE, UNTIL)})
        self._documents.put_many({doc_id: document})
        return document


class _Chunks:
    def __init__(self, index: RemoteIndex) -> None:
        self.index = index

    def __len__(self) -> int:
        return int(self.index.manifest["corpus"]["chunks"])

    def __getitem__(self, chunk_id: int) -> Passage:
        return self.index.points([int(chunk_id)])[int(chunk_id)].passage

    def texts(self, ids) -> list[str]:
        found = self.index.points([int(i) for i in ids])
        return [found[int(i)].passage.text for i in ids]


class _Documents:
    def __init__(self, index: RemoteIndex) -> None:
        self.index = index

    def __len__(self) -> int:
        return int(self.index.manifest["corpus"]["documents"])

    def get(self, doc_id: str, default=None):
        found = self.index.document(doc_id)
        return default if found is None else found

    def __getitem__(self, doc_id: str) -> Document:
        found = self.index.document(doc_id)
        if found is None:
            raise KeyError(doc_id)
        return found

    def __contains__(self, doc_id) -> bool:
        return self.index.document(doc_id) is not None

    def text_span(self, doc_id: str, start: int, end: int) -> str:
        return self[doc_id].text[max(start, 0) : end]


# A replica's sentence id: its passage's id times this, plus its place in the passage (a passage
# of at most a few hundred tokens has far fewer sentences). The passage is then found from the
# id alone, so no second table can lose a sentence between two reads of one question.
SENTENCES_PER_PASSAGE = 1 << 16


class _ChunkSentences:
    """chunk id -> its sentences' ids."""

    def __init__(self, index: RemoteIndex) -> None:
        self.index = index

    def __getitem__(self, chunk_id: int) -> range:
        point = self.index.with_sentences(int(chunk_id))
        first = int(chunk_id) * SENTENCES_PER_PASSAGE
        return range(first, first + len(point.sentence_spans))


class _Sentences:
    def __init__(self, index: RemoteIndex) -> None:
        self.index = index

    def __getitem__(self, sentence_id: int) -> Sentence:
        chunk_id, j = divmod(int(sentence_id), SENTENCES_PER_PASSAGE)
        point = self.index.with_sentences(chunk_id)
        start, end = point.sentence_spans[j]
        return Sentence(int(sentence_id), point.passage.doc_id, start, end)


class _SentenceVectors:
    """sentence ids -> float32 rows, from the multivectors of the passages that hold them."""

    def __init__(self, index: RemoteIndex) -> None:
        self.index = index

    def __getitem__(self, ids) -> np.ndarray:
        rows = []
        for sentence_id in np.atleast_1d(ids).tolist():
            chunk_id, j = divmod(int(sentence_id), SENTENCES_PER_PASSAGE)
            rows.append(self.index.with_sentences(chunk_id).sentence_vectors[j])
        return np.stack(rows) if rows else np.zeros((0, 0), np.float32)


class RemoteKeyword:
    """The keyword side of a published version: our own tokenizer, and each word's id and passage
    count from ``NAME-words`` (a word's id is its hash, or a later probe's where the hash was taken)."""

    def __init__(self, client, collection: str, num_docs: int, version: int) -> None:
        self.client, self.collection, self.num_docs, self.version = client, collection, num_docs, version
        self.tokenize = Tokenizer()
        self._words = _Bounded(WORD_CACHE)  # word -> (id, df), or None when no passage has it

    def lookup(self, words) -> dict[str, tuple[int, int] | None]:
        words = list(dict.fromkeys(words))
        found = self._words.get_many(words)
        pending = {w: 0 for w in words if w not in found}
        while pending:
            asking: dict[int, list[str]] = {}  # two words may ask for the same slot in one round
            for w, probe in pending.items():
                asking.setdefault(hashed_id(w, probe), []).append(w)
            records = self._rows(list(asking))
            fresh = {}
            for i, asked in asking.items():
                payload = records.get(i)
                for w in asked:
                    if payload is None:  # an empty slot: the version has no such word
                        fresh[w] = None
                    elif payload["word"] == w:
                        fresh[w] = (i, int(payload["df"]))
            self._words.put_many(fresh)
            found.update(fresh)
            # A word whose slot another word holds asks for its next probe.
            pending = {w: probe + 1 for w, probe in pending.items() if w not in fresh}
        return found

    def _rows(self, word_ids: list[int]) -> dict[int, dict]:
        """The version's rows of ``word_ids``: word id -> {word, df}."""
        m = qdrant_models()
        only = visible_at(self.version, m.FieldCondition(key="word_id", match=m.MatchAny(any=word_ids)))
        records, _ = guarded(
            self.client.scroll, self.collection, scroll_filter=only, limit=len(word_ids), with_payload=True
        )
        return {int(r.payload["word_id"]): r.payload for r in records}

    def query(self, words: list[str]) -> tuple[list[int], list[float]]:
        """As index.backends.qdrant.sparse.WordIds.query: each known word's id with its count."""
        known = self.lookup(words)
        counts: dict[int, float] = {}
        for w in words:
            if known.get(w) is not None:
                counts[known[w][0]] = counts.get(known[w][0], 0.0) + 1.0
        pairs = sorted(counts.items())
        return [i for i, _ in pairs], [v for _, v in pairs]

    def idf(self, word: str) -> float:
        """As index.folder.keyword's: log(1 + N / (1 + df))."""
        found = self.lookup([word]).get(word)
        return float(np.log1p(self.num_docs / (1 + (found[1] if found else 0))))

    def coverage(self, query_words: set[str], text_words: set[str]) -> float:
        self.lookup(query_words)  # one request for all of them
        total = sum(self.idf(w) for w in query_words)
        return sum(self.idf(w) for w in query_words & text_words) / total if total else 0.0


def open_ledger(client, folder: Path, manifest: dict) -> RemoteIndex:
    """The version whose ledger is at ``folder`` (``manifest``: its), as its collection holds it:
    what the writer serves; raises IndexLoadError when the ledger is damaged (as a damaged
    version's files are refused at load, not at the next write) or the collection does not hold
    the version whole."""
    verify(folder, manifest)
    name, version = manifest["engine"]["collection"], int(manifest["version"])
    try:
        points = client.count(name, count_filter=visible_at(version), exact=True).count
    except Exception as exc:  # the client's errors: connection refused, unknown collection, ...
        raise IndexLoadError(f"index at {folder}: its Qdrant collection {name} cannot be read: {exc}") from exc
    if points != manifest["corpus"]["chunks"]:
        raise IndexLoadError(
            f"index at {folder}: its Qdrant collection {name} holds {points} points "
            f"of version {version}, not {manifest['corpus']['chunks']}; "
            "rebuild it with KHAMTOP_BACKEND=qdrant khamtop index build"
        )
    return RemoteIndex(client, name, manifest)


def open_replica(client, alias: str, name: str | None) -> RemoteIndex:
    """The live version of the collection that ``name`` (``COLLECTION@VERSION``, from
    index.backends.qdrant.server.live_version) names (None: the alias names nothing yet)."""
    if name is None:
        raise IndexLoadError(
            f"no Qdrant alias {alias!r}: publish a version with KHAMTOP_BACKEND=qdrant khamtop index build"
        )
    return RemoteIndex(client, name.rpartition("@")[0])
