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

Nothing the live version holds is touched: it keeps answering from ``since <= live < until``
while the update is written, and the new version goes live when the collection's metadata names
it (index.qdrant_server.move_alias), after its folder is committed. What a write that failed
half-way left (``since`` or ``until`` past the version it started from) is undone by the next
write before it starts.
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


def write_version(folder: Path, part: SearchPart, target: ServerTarget, words: WordIds, base: Path | None) -> dict:
    """Publish version ``part`` (being written to ``folder``, made from the version at ``base``):
    into the live collection in place where ``base`` is its live version, else as a collection
    of its own. Saves the version's point ids in ``folder``; returns the manifest's ``engine``."""
    client = connect(target.url, target.api_key)
    found = guarded(_in_place_base, client, target, base)
    if found is None:
        ids = np.arange(len(part.vectors), dtype=np.int64)
        np.save(folder / POINT_IDS_FILE, ids, allow_pickle=False)
        return write_collection(replace(part, point_ids=ids), target, words)
    record, ids = guarded(_write_in_place, client, part, target, words, found)
    np.save(folder / POINT_IDS_FILE, ids, allow_pickle=False)
    return record


def _in_place_base(client, target: ServerTarget, base: Path | None) -> _Base | None:
    """The base version, if the update can be written into its collection (None: publish anew)."""
    if base is None or not (Path(base) / POINT_IDS_FILE).is_file():
        return None
    manifest = read_manifest(base)
    engine = manifest.get("engine") or {}
    if engine.get("engine") != "qdrant" or (engine.get("alias"), engine.get("idf")) != (target.alias, target.idf):
        return None
    name = engine["collection"]
    if "next_point" not in engine or not client.collection_exists(name):
        return None
    if live(client, target.alias) != name or head(client, name) != manifest["version"]:
        return None  # commit() reconciles the alias first: the collection has moved on
    return _Base(Path(base), manifest, name)


def _write_in_place(client, part: SearchPart, target: ServerTarget, words: WordIds, base: _Base):
    m = qdrant_models()
    version, name = part.version, base.collection
    _forget_after(client, name, base.version)

    base_ids = np.load(base.folder / POINT_IDS_FILE, allow_pickle=False)
    base_docs = DocumentTable.load(base.folder)
    base_spans = np.load(base.folder / CHUNK_SPANS_FILE, allow_pickle=False)
    base_chunks = _chunks_by_document(base_spans, len(base_docs))
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
    ended_points = np.setdiff1d(base_ids, ids).tolist()
    ended_docs = [doc_id for doc_id in base_docs.doc_ids if doc_id not in kept_docs]

    part = replace(part, point_ids=ids)
    for start in range(0, len(ended_points), SET_BATCH):
        batch = ended_points[start : start + SET_BATCH]
        client.set_payload(name, {UNTIL: version}, points=m.PointIdsList(points=batch), wait=True)
    written = upsert_points(client, name, part, passage_vectors(part.keyword, words, target.idf), fresh_chunks)

    _end_rows(client, f"{name}-documents", "doc_id", ended_docs, version)
    upsert_documents(client, name, fresh_docs, version)

    # Words whose passage count changed get a row from this version on (index.qdrant_remote
    # reads a word's count as of its version).
    before_ids = WordIds.load(base.folder).ids
    before = document_frequencies(KeywordIndex.load(base.folder / KEYWORD_DIR))
    after = document_frequencies(part.keyword)
    changed = {
        i: (w, after.get(w, 0))
        for w, i in words.ids.items()
        if w not in before_ids or after.get(w, 0) != before.get(w, 0)
    }
    known = set(before_ids.values())
    _end_rows(client, f"{name}-words", "word_id", [i for i in changed if i in known], version)
    upsert_words(client, name, changed, version)

    record = {
        **base.manifest["engine"],
        "exact": len(part.vectors) <= target.exact_up_to,
        "points": len(part.vectors),
        "next_point": next_point,
        "written": {
            "kind": "in place",
            "parent": base.version,
            "points": written,
            "ended": len(ended_points),
            "documents": len(fresh_docs),
            "words": len(changed),
        },
    }
    log.info("version %d written into %s: %d points new, %d ended", version, name, written, len(ended_points))
    return record, ids


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
