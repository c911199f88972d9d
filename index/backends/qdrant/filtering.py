"""A question's filter (corpus.filters) as a Qdrant server's payload filter.

A server collection's passages carry their document's filterable fields, indexed
(``create_collections``), so the server filters inside its own search (HNSW with its filtering,
exact search below the exact-search size) and no list of allowed points crosses the network per
question. A collection written before the fields existed cannot be filtered this way: its manifest
lacks ``FILTERABLE`` and a filtered question is refused (rebuild it).
"""

from __future__ import annotations

from corpus.filters import Filter, document_day

FILTERABLE = "filter_fields"  # in the manifest's engine record: every passage carries the fields
TAGS, DAY, LANGUAGE = "tags", "day", "language"
NO_DAY = -1  # a document whose date cannot be read: below every range a filter can ask for


def fields_of(document) -> dict:
    """A passage's payload fields for its document (corpus.document.Document). A tag is kept as
    ``name=value``: a tag's name has no ``=`` (corpus.document.TAG_NAME), so the pair is one keyword."""
    day = document_day(document.date)
    return {
        TAGS: [f"{name}={value}" for name, value in document.tags],
        DAY: NO_DAY if day is None else day,
        LANGUAGE: document.language or "",
    }


def conditions(chosen: Filter, m) -> list:
    """The payload conditions (all must hold) of ``chosen``, in qdrant-client's models ``m``.
    ``chosen.nothing`` is the caller's to answer (nothing is asked then)."""
    out = [
        m.FieldCondition(key=TAGS, match=m.MatchAny(any=[f"{name}={v}" for v in values]))
        for name, values in chosen.tags
    ]
    if chosen.languages:
        out.append(m.FieldCondition(key=LANGUAGE, match=m.MatchAny(any=list(chosen.languages))))
    if chosen.date_from is not None or chosen.date_to is not None:
        low = chosen.date_from.toordinal() if chosen.date_from is not None else NO_DAY + 1
        high = chosen.date_to.toordinal() if chosen.date_to is not None else None
        out.append(m.FieldCondition(key=DAY, range=m.Range(gte=low, lte=high)))
    return out
