"""Admin updates written into the live Qdrant collection in place, so that a change of a few
documents writes a few documents' points, whatever the collection holds (decision 018).

A build writes a collection whole (index.qdrant_server.publish). A version made from the
collection's live version (``index add|remove``, the admin API) then writes into the same
collection:
- a passage of a document whose content is unchanged keeps its point (``PointIds``: its chunk
  id follows the version's document order, its point id stays);
- a new or changed document's passages become new points that hold ``since = v``;
- a removed or changed document's points get ``until = v``;
- the same for the document rows and the words whose passage counts changed.

Nothing the live version sees changes (it asks for ``since <= live < until``, and an update
writes ``since`` and ``until`` past it). The new version goes live when the collection's
metadata names it (index.qdrant_server.move_alias), after its folder is committed. What a write
that failed half-way left (``since`` or ``until`` past the version it started from) is undone by
the next write before it starts.

A kept point keeps the BM25 weights it was written with: the idf (with ``full`` idf) and the
length normalisation of the corpus of its day. So updates are written in place only while the
passages they wrote and ended stay within ``ServerTarget.rewrite_after`` of the collection; the
update past that writes a new collection, exact again (a batched rebuild, with no re-encoding).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from corpus.document import Document
from index.doctable import DocumentTable
from index.keyword import KeywordIndex
from index.layout import CHUNK_SPANS_FILE, KEYWORD_DIR, POINT_IDS_FILE, read_manifest
from index.qdrant_points import SearchPart, guarded
from index.qdrant_server import (
    OPEN,
    SINCE,
    UNTIL,
    ServerTarget,
    qdrant_models,
    connect,
    head,
    live,
    upsert_documents,
    upsert_points,
    upsert_words,
    write_collection,
)
from index.sparse import WordIds, document_frequencies, passage_vectors

log = logging.getLogger("khamtop")

SET_BATCH = 1_024  # ids or values in one request's filter


@dataclass(frozen=True)
class _Base:
    """The live version an update starts from, as its folder and its collection hold it."""

    folder: Path
    manifest: dict
    collection: str

    @property
    def version(self) -> int:
        return int(self.manifest["version"])


@dataclass(frozen=True)
class _Plan:
    """What an update writes into the collection: computed from the folders alone."""

    ids: np.ndarray  # the new version's point id for each of its chunks
    fresh_chunks: list[int]  # its chunks that become new points
    fresh_docs: list[Document]  # its documents that are new or changed
    ended_points: list[int]  # the base's points it does not hold
    ended_docs: list[str]  # the base's documents it does not hold as they were
    next_point: int
    words: dict[int, tuple[str, int]]  # the words whose passage counts it changes: id -> (word, count)
    known_words: set[int]  # the word ids the base has rows for

    @property
    def changed(self) -> int:
        return len(self.fresh_chunks) + len(self.ended_points)


def write_version(folder: Path, part: SearchPart, target: ServerTarget, words: WordIds, base: Path | None) -> dict:
    """Publish version ``part`` (being written to ``folder``, made from the version at ``base``):
    into the live collection in place where ``base`` is its live version and the collection has
    not changed by more than ``target.rewrite_after`` of it since it was written whole, else as a
    collection of its own. Saves the version's point ids in ``folder``; returns the manifest's
    ``engine``."""
    client = connect(target.url, target.api_key)
    found = _in_place_base(client, target, base)
    plan = _plan(part, words, found) if found is not None else None
    if plan is not None:
        engine = found.manifest["engine"]
        if target.rewrite_after <= 0 or engine["changed"] + plan.changed > target.rewrite_after * engine["whole"]:
            log.info(
                "version %d changes too much of %s to write in place: a new collection", part.version, found.collection
            )
            plan = None
    if plan is None:
        ids = np.arange(len(part.vectors), dtype=np.int64)
        record = write_collection(replace(part, point_ids=ids), target, words)
    else:
        ids = plan.ids
        record = guarded(_write_in_place, client, part, target, words, found, plan)
    np.save(folder / POINT_IDS_FILE, ids, allow_pickle=False)
    return record


def _in_place_base(client, target: ServerTarget, base: Path | None) -> _Base | None:
    """The base version, if the update can be written into its collection (None: publish anew)."""
    if base is None or not (Path(base) / POINT_IDS_FILE).is_file():
        return None
    manifest = read_manifest(base)  # a local file: its errors are not the server's
    engine = manifest.get("engine") or {}
    if engine.get("engine") != "qdrant" or (engine.get("alias"), engine.get("idf")) != (target.alias, target.idf):
        return None
    if any(key not in engine for key in ("next_point", "whole", "changed")):
        return None  # written by an older khamtop: publish anew
    found = _Base(Path(base), manifest, engine["collection"])
    return found if guarded(_is_live, client, target.alias, found) else None


def _is_live(client, alias: str, base: _Base) -> bool:
    """Whether ``base`` is its collection's live version and the alias names that collection
    (commit() reconciles them first, so otherwise the collection has moved on)."""
    name = base.collection
    return client.collection_exists(name) and live(client, alias) == name and head(client, name) == base.version


def _plan(part: SearchPart, words: WordIds, base: _Base) -> _Plan:
    """Which points the new version keeps, which it adds and which it ends (a passage of a
    document whose content is unchanged keeps its point), and which words' counts change."""
    base_ids = np.load(base.folder / POINT_IDS_FILE, allow_pickle=False)
    base_docs = DocumentTable.load(base.folder)
    base_chunks = _chunks_by_document(np.load(base.folder / CHUNK_SPANS_FILE, allow_pickle=False), len(base_docs))
    base_row = {doc_id: i for i, doc_id in enumerate(base_docs.doc_ids)}

    ids = np.zeros(len(part.vectors), dtype=np.int64)
    next_point = int(base.manifest["engine"]["next_point"])
    fresh_chunks: list[int] = []
    fresh_docs: list[Document] = []
    kept_docs: set[str] = set()
    for d, chunks in enumerate(_chunks_by_document(part.spans, len(part.documents))):
        doc = part.documents[d]
        row = base_row.get(doc.doc_id)
        if row is not None and base_docs[doc.doc_id] == doc and len(base_chunks[row]) == len(chunks):
            ids[chunks] = base_ids[base_chunks[row]]
            kept_docs.add(doc.doc_id)
        else:
            ids[chunks] = np.arange(next_point, next_point + len(chunks))
            next_point += len(chunks)
            fresh_chunks += chunks.tolist()
            fresh_docs.append(doc)
    before_ids = WordIds.load(base.folder).ids
    before = document_frequencies(KeywordIndex.load(base.folder / KEYWORD_DIR))
    after = document_frequencies(part.keyword)
    changed = {
        i: (w, after.get(w, 0))
        for w, i in words.ids.items()
        if w not in before_ids or after.get(w, 0) != before.get(w, 0)
    }
    return _Plan(
        ids,
        fresh_chunks,
        fresh_docs,
        np.setdiff1d(base_ids, ids).tolist(),
        [doc_id for doc_id in base_docs.doc_ids if doc_id not in kept_docs],
        next_point,
        changed,
        set(before_ids.values()),
    )


def _write_in_place(client, part: SearchPart, target: ServerTarget, words: WordIds, base: _Base, plan: _Plan) -> dict:
    m = qdrant_models()
    version, name = part.version, base.collection
    _forget_after(client, name, base.version)
    part = replace(part, point_ids=plan.ids)
    for start in range(0, len(plan.ended_points), SET_BATCH):
        batch = plan.ended_points[start : start + SET_BATCH]
        client.set_payload(name, {UNTIL: version}, points=m.PointIdsList(points=batch), wait=True)
    written = upsert_points(client, name, part, passage_vectors(part.keyword, words, target.idf), plan.fresh_chunks)
    _end_rows(client, f"{name}-documents", "doc_id", plan.ended_docs, version)
    upsert_documents(client, name, plan.fresh_docs, version)
    # Words whose passage count changed get a row from this version on (index.qdrant_remote
    # reads a word's count as of its version).
    _end_rows(client, f"{name}-words", "word_id", [i for i in plan.words if i in plan.known_words], version)
    upsert_words(client, name, plan.words, version)

    engine = base.manifest["engine"]
    log.info("version %d written into %s: %d points new, %d ended", version, name, written, len(plan.ended_points))
    return {
        **engine,
        "exact": len(part.vectors) <= target.exact_up_to,
        "points": len(part.vectors),
        "next_point": plan.next_point,
        "changed": engine["changed"] + plan.changed,
        "written": {
            "kind": "in place",
            "parent": base.version,
            "points": written,
            "ended": len(plan.ended_points),
            "documents": len(plan.fresh_docs),
            "words": len(plan.words),
        },
        "word_id_collisions": words.collisions,
    }


def _chunks_by_document(spans: np.ndarray, documents: int) -> list[np.ndarray]:
    """Each document's chunk ids (its index in the document order), in order."""
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
