"""Versions of the ``qdrant`` backend written to a Qdrant server: the collection holds the
version whole, the version folder is a ledger (index.backends.qdrant.ledger), and an admin update of a few
documents writes those documents' points, whatever the collection holds (decision 018).

A build writes a collection whole (``write_build``). A version made from the collection's live
version (``index add|remove``, the admin API) then writes into the same collection in place
(``write_update``):
- a passage of a document whose content hash is unchanged keeps its point;
- a new or changed document's passages are encoded, weighed from the ledger's counts
  (index.backends.qdrant.sparse.counted_vectors), and become new points that hold ``since = v``;
- a removed or changed document's points get ``until = v``, and the words they held (read back
  from their ``bm25`` vectors) count one passage less;
- the same for the document rows and for the words whose passage counts changed.

Nothing the live version sees changes (it asks for ``since <= live < until``, and an update
writes ``since`` and ``until`` past it). The new version goes live when the collection's
metadata names it (index.backends.qdrant.server.move_alias), after its folder is committed. What a write
that failed half-way left is undone by the next write before it starts.

A kept point keeps the BM25 weights it was written with: the idf (with ``full`` idf) and the
length normalisation of the corpus of its day. So updates are written in place only while the
passages they wrote and ended stay within ``ServerTarget.rewrite_after`` of the collection. The
update past that writes a new collection from the live one (a batched rebuild): the kept
points' vectors are copied, their texts tokenised again and weighed with today's counts, so the
new collection is exact again, and nothing is encoded again.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, replace

import numpy as np

from corpus.document import Document
from index.backends.qdrant.filtering import FILTERABLE
from index.build.embed import document_hash, indexed_text
from index.folder.keyword import Tokenizer
from index.store.manifest import IndexLoadError
from index.backends.qdrant.ledger import Entry, Ledger
from index.backends.base import EngineUnavailable
from index.backends.qdrant.points import BM25, UPSERT_BATCH, SearchPart, guarded
from index.backends.qdrant.server import (
    OPEN,
    SINCE,
    UNTIL,
    ServerTarget,
    collection_name,
    connect,
    create_collections,
    drop_collection,
    head,
    live,
    qdrant_models,
    upsert_documents,
    upsert_points,
    upsert_words,
    visible_at,
    write_collection,
)
from index.backends.qdrant.sparse import Corpus, WordIds, corpus_of, counted_vectors, passage_words

log = logging.getLogger("khamtop")

SET_BATCH = 1_024  # ids or values in one request's filter
COPY_BATCH = 256  # points read back and written again at once by a rewrite


@dataclass(frozen=True)
class Base:
    """The version an update starts from: its ledger, and its manifest's engine record."""

    version: int
    ledger: Ledger
    engine: dict

    @property
    def collection(self) -> str:
        return self.engine["collection"]


def write_build(part: SearchPart, tokens: list[list[str]], target: ServerTarget, words: WordIds) -> tuple[dict, Ledger]:
    """Version ``part`` (every document; ``tokens``: each passage's BM25 words) as a collection of
    its own, not yet live; returns the manifest's ``engine`` and the version's ledger. ``words``:
    the ids to keep (the live version's)."""
    corpus = corpus_of(tokens)
    words = words.assign(corpus.df)
    part = replace(part, point_ids=np.arange(len(part.vectors), dtype=np.int64))
    weights = counted_vectors(tokens, words, corpus, target.idf)
    df = {w: corpus.df.get(w, 0) for w in words.ids}
    record = write_collection(part, target, words, weights, {words.ids[w]: (w, n) for w, n in df.items()})
    return record, Ledger(_entries(part, tokens), words, df)


def write_update(
    part: SearchPart, tokens: list[list[str]], target: ServerTarget, base: Base, ended: list[str], whole: bool = False
) -> tuple[dict, Ledger]:
    """Version ``part.version``, made from ``base``: the base's documents but ``ended`` (removed or
    replaced), and ``part``'s (the new and changed ones; ``tokens``: their passages' words).
    Into the base's collection in place where it is live and has not changed by more than
    ``target.rewrite_after`` since it was written whole, else (and if ``whole``) a new collection
    copied from it."""
    client = connect(target.url, target.api_key)
    if not guarded(client.collection_exists, base.collection):
        raise IndexLoadError(
            f"the Qdrant collection {base.collection} of version {base.version} is gone: "
            "rebuild the index with KHAMTOP_BACKEND=qdrant khamtop index build"
        )
    next_point = int(base.engine["next_point"])
    part = replace(part, point_ids=np.arange(next_point, next_point + len(part.vectors), dtype=np.int64))
    ended_points = [p for doc_id in ended for p in base.ledger.entries[doc_id].points]
    word_of = {i: w for w, i in base.ledger.words.ids.items()}
    found = guarded(_words_of_points, client, base.collection, ended_points)
    if not found.keys() <= word_of.keys():
        raise _disagree(base)
    held = Counter({word_of[i]: n for i, n in found.items()})
    fresh_entries = _entries(part, tokens)
    words = base.ledger.words.assign(w for t in tokens for w in t)
    df = dict(base.ledger.df)
    for word, n in held.items():
        df[word] -= n
        if df[word] < 0:
            raise _disagree(base)
    fresh_df = corpus_of(tokens).df
    for word, n in fresh_df.items():
        df[word] = df.get(word, 0) + n
    gone = set(ended)
    entries = {d: e for d, e in base.ledger.entries.items() if d not in gone} | fresh_entries
    ledger = Ledger(entries, words, df)
    corpus = ledger.corpus()
    weights = counted_vectors(tokens, words, corpus, target.idf)
    # Word rows for the words whose passage count this version changes (and its new words).
    changed_words = {words.ids[w]: (w, df[w]) for w in held.keys() | fresh_df.keys() if df[w] != base.ledger.df.get(w)}
    changed = len(part.vectors) + len(ended_points)
    share = target.rewrite_after * int(base.engine.get("whole", 0))
    within = target.rewrite_after > 0 and base.engine["changed"] + changed <= share
    if not whole and within and guarded(_is_live, client, target, base):
        record = guarded(
            _write_in_place, client, part, weights, base, ended, ended_points, changed_words, base.ledger.words
        )
        record["changed"] = base.engine["changed"] + changed
    else:
        log.info("version %d rewrites %s whole, as a new collection", part.version, base.collection)
        record = guarded(_rewrite, client, target, part, tokens, weights, base, gone, ledger, corpus)
    record["exact"] = ledger.passages <= target.exact_up_to
    record["next_point"] = next_point + len(part.vectors)
    # The base's points are carried over as they are: filterable only if they all were.
    record[FILTERABLE] = bool(base.engine.get(FILTERABLE))
    record["word_id_collisions"] = words.collisions
    return record, ledger


def _disagree(base: Base) -> IndexLoadError:
    return IndexLoadError(
        f"the ledger of version {base.version} disagrees with its Qdrant collection {base.collection}: "
        "rebuild the index with KHAMTOP_BACKEND=qdrant khamtop index build"
    )


def _entries(part: SearchPart, tokens: list[list[str]]) -> dict[str, Entry]:
    """The ledger's entries of ``part``'s documents (its point ids given)."""
    chunks = _chunks_by_document(part.spans, len(part.documents))
    sentences = _chunks_by_document(part.sentence_spans, len(part.documents))
    return {
        doc.doc_id: Entry(
            doc.doc_id,
            document_hash(doc),
            [part.point_id(int(c)) for c in chunks[d]],
            [len(tokens[int(c)]) for c in chunks[d]],
            len(sentences[d]),
            len(doc.text),
        )
        for d, doc in enumerate(part.documents)
    }


def _is_live(client, target: ServerTarget, base: Base) -> bool:
    """Whether ``base`` is its collection's live version, the alias names that collection, and
    its points are written with the target's idf (commit() reconciles the alias first, so
    otherwise the collection has moved on)."""
    name = base.collection
    same = (base.engine.get("alias"), base.engine.get("idf")) == (target.alias, target.idf)
    return (
        same
        and client.collection_exists(name)
        and live(client, target.alias) == name
        and head(client, name) == base.version
    )


def _words_of_points(client, collection: str, points: list[int]) -> Counter:
    """How many of ``points`` hold each word, read back from their BM25 vectors (the ledger keeps
    no passage's words)."""
    found = Counter()
    for start in range(0, len(points), UPSERT_BATCH):
        batch = points[start : start + UPSERT_BATCH]
        records = client.retrieve(collection, batch, with_vectors=[BM25])
        if len(records) != len(batch):
            raise EngineUnavailable(f"the Qdrant collection {collection} lacks points its version was written with")
        for r in records:
            found.update(int(i) for i in r.vector[BM25].indices)
    return found


def _write_in_place(client, part, weights, base: Base, ended: list[str], ended_points, words, before: WordIds) -> dict:
    m = qdrant_models()
    version, name = part.version, base.collection
    _forget_after(client, name, base.version)
    for start in range(0, len(ended_points), SET_BATCH):
        batch = ended_points[start : start + SET_BATCH]
        client.set_payload(name, {UNTIL: version}, points=m.PointIdsList(points=batch), wait=True)
    written = upsert_points(client, name, part, weights)
    _end_rows(client, f"{name}-documents", "doc_id", ended, version)
    upsert_documents(client, name, part.documents, version)
    # Words whose passage count changed get a row from this version on (index.backends.qdrant.remote
    # reads a word's count as of its version).
    known = set(before.ids.values())
    _end_rows(client, f"{name}-words", "word_id", [i for i in words if i in known], version)
    upsert_words(client, name, words, version)
    log.info("version %d written into %s: %d points new, %d ended", version, name, written, len(ended_points))
    return {
        **base.engine,
        "points": base.ledger.passages - len(ended_points) + written,
        "written": {
            "kind": "in place",
            "parent": base.version,
            "points": written,
            "ended": len(ended_points),
            "documents": len(part.documents),
            "words": len(words),
        },
    }


def _rewrite(
    client, target: ServerTarget, part, tokens, weights, base, ended: set[str], ledger: Ledger, corpus: Corpus
):
    """The new version as a collection of its own: the base's points but those of the ``ended``
    documents, copied from its collection (vectors as they are, BM25 weighed again from
    ``corpus``), and ``part``'s new ones. A rewrite that fails drops what it wrote."""
    name = collection_name(target.alias, part.version)
    create_collections(client, name, part.vectors.shape[1], target.idf)
    try:
        copied = _copy_kept(client, target, name, part, tokens, base, ended, ledger, corpus)
        written = upsert_points(client, name, part, weights)
    except BaseException:
        drop_collection(client, name)
        raise
    log.info("version %d written as %s: %d points copied, %d new", part.version, name, copied, written)
    return {
        **base.engine,
        "collection": name,
        "alias": target.alias,
        "idf": target.idf,
        "points": copied + written,
        "whole": copied + written,
        "changed": 0,
        "written": {"kind": "collection", "parent": base.version, "points": written, "copied": copied},
    }


def _copy_kept(client, target, name, part, tokens, base: Base, ended: set[str], ledger: Ledger, corpus: Corpus) -> int:
    """Copy the base's kept points and document rows into ``name``, their BM25 weighed again;
    write the version's word rows; check the ledger's counts against what was copied."""
    m = qdrant_models()
    old, version = base.collection, part.version
    tokenize = Tokenizer()
    kept_docs = {}
    # The kept documents first: their titles are in their passages' BM25 text.
    for records in _scroll(client, f"{old}-documents", base.version):
        for r in records:
            if r.payload["doc_id"] not in ended:
                kept_docs[r.payload["doc_id"]] = {k: v for k, v in r.payload.items() if k not in (SINCE, UNTIL)}
    recount, length, copied = Counter(), 0, 0
    for records in _scroll(client, old, base.version, with_vectors=True):
        kept = [r for r in records if r.payload["doc_id"] not in ended]
        if any(r.payload["doc_id"] not in kept_docs for r in kept):
            raise _disagree(base)
        texts = [indexed_text(kept_docs[r.payload["doc_id"]]["title"], r.payload["text"]) for r in kept]
        words = passage_words(tokenize, texts)
        recount.update(w for t in words for w in set(t))
        length += sum(map(len, words))
        if any(w not in ledger.words.ids for t in words for w in t):
            raise _disagree(base)
        rows = counted_vectors(words, ledger.words, corpus, target.idf)
        points = [
            m.PointStruct(
                id=r.id,
                vector={**r.vector, BM25: m.SparseVector(indices=i.tolist(), values=v.tolist())},
                payload={**r.payload, SINCE: version, UNTIL: OPEN},
            )
            for r, i, v in zip(kept, rows.indices, rows.values)
        ]
        if points:
            client.upsert(name, points, wait=True)
        copied += len(points)
    recount.update(w for t in tokens for w in set(t))
    length += sum(map(len, tokens))
    if {w: n for w, n in ledger.df.items() if n} != dict(recount) or length != corpus.length:
        raise _disagree(base)
    upsert_documents(client, name, [Document(**d) for d in kept_docs.values()] + list(part.documents), version)
    upsert_words(client, name, {ledger.words.ids[w]: (w, n) for w, n in ledger.df.items()}, version)
    return copied


def _scroll(client, collection: str, version: int, with_vectors: bool = False):
    """The rows of ``collection`` that ``version`` holds, ``COPY_BATCH`` at a time, with their payload."""
    offset = None
    while True:
        records, offset = client.scroll(
            collection,
            scroll_filter=visible_at(version),
            limit=COPY_BATCH,
            offset=offset,
            with_payload=True,
            with_vectors=with_vectors,
        )
        yield records
        if offset is None:
            return


def _chunks_by_document(spans: np.ndarray, documents: int) -> list[np.ndarray]:
    """Each document's rows of ``spans`` (their first column is the document's index), in order."""
    doc_of = spans[:, 0].astype(np.int64) if len(spans) else np.zeros(0, np.int64)
    order = np.argsort(doc_of, kind="stable")
    bounds = np.searchsorted(doc_of[order], np.arange(documents + 1))
    return [order[bounds[d] : bounds[d + 1]] for d in range(documents)]


def _end_rows(client, collection: str, field: str, values: list, version: int) -> None:
    """``until = version`` for the open rows whose ``field`` is one of ``values``."""
    m = qdrant_models()
    for start in range(0, len(values), SET_BATCH):
        batch = values[start : start + SET_BATCH]
        open_rows = m.Filter(
            must=[
                m.FieldCondition(key=field, match=m.MatchAny(any=batch)),
                m.FieldCondition(key=UNTIL, range=m.Range(gte=OPEN)),
            ]
        )
        client.set_payload(collection, {UNTIL: version}, points=m.FilterSelector(filter=open_rows), wait=True)


def _forget_after(client, name: str, version: int) -> None:
    """Undo what writes after ``version`` left in the collection and its companions (a write that
    failed before it went live): their points go, and what they ended is open again."""
    m = qdrant_models()
    later = m.Filter(must=[m.FieldCondition(key=SINCE, range=m.Range(gt=version))])
    ended_later = m.Filter(must=[m.FieldCondition(key=UNTIL, range=m.Range(gt=version, lt=OPEN))])
    for collection in (name, f"{name}-documents", f"{name}-words"):
        client.delete(collection, m.FilterSelector(filter=later), wait=True)
        client.set_payload(collection, {UNTIL: OPEN}, points=m.FilterSelector(filter=ended_later), wait=True)
