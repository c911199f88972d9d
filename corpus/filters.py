"""Filters at question time: which documents a question reads, by their tags, their date as a
range and their language. The search proposes only the passages of documents that match
(index.search.filters for a version's arrays; a server backend translates the filter for its
engine), so a filter that matches nothing finds nothing, never everything.

Dates are compared as Common-Era calendar dates. A bound may be a year, a month or a day, in
either era and in Thai or Arabic digits (``2565-01-01``, ``๒๕๖๕``, ``2022-03``); a year above
2400 is a Buddhist-Era year. A document whose date cannot be read matches no date filter.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

BE_OFFSET = 543
BE_FROM = 2400  # a year above this is a Buddhist-Era year: the Common Era reaches it in four centuries
_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
_DATE = re.compile(r"\s*(\d{4})(?:[-/.](\d{1,2})(?:[-/.](\d{1,2}))?)?(?:[T ].*)?\s*")


class FilterError(ValueError):
    """A filter that cannot be applied (a date that is no date, a backend that cannot filter)."""


def _parts(text: str) -> tuple[int, int | None, int | None] | None:
    found = _DATE.fullmatch(str(text).translate(_THAI_DIGITS))
    if not found:
        return None
    year = int(found.group(1))
    year = year - BE_OFFSET if year > BE_FROM else year
    month = int(found.group(2)) if found.group(2) else None
    day = int(found.group(3)) if found.group(3) else None
    return year, month, day


def bound(text: str, end: bool) -> date:
    """The first (or, ``end``, the last) day that ``text`` names; FilterError if it names none."""
    parts = _parts(text)
    try:
        if parts is None:
            raise ValueError
        year, month, day = parts
        if month is None:
            return date(year, 12, 31) if end else date(year, 1, 1)
        if day is None:
            return date(year, month, calendar.monthrange(year, month)[1] if end else 1)
        return date(year, month, day)
    except ValueError:
        raise FilterError(
            f"{text[:40]!r} is not a date: give a year, year-month or year-month-day, in either era "
            "(2565-01-01, ๒๕๖๕, 2022-03)"
        ) from None


def document_day(text: str | None) -> int | None:
    """A document's date as a day number (``date.toordinal``); None when it cannot be read."""
    if not text:
        return None
    parts = _parts(text)
    if parts is None:
        return None
    year, month, day = parts
    try:
        return date(year, month or 1, day or 1).toordinal()
    except ValueError:
        return None


@dataclass(frozen=True)
class Filter:
    """Which documents a question reads: every tag named (any of its values), the date range and
    one of the languages; an empty filter reads every document."""

    tags: tuple[tuple[str, tuple[str, ...]], ...] = ()
    date_from: date | None = None
    date_to: date | None = None
    languages: tuple[str, ...] = ()
    nothing: bool = False  # two filters combined that no document can match both of

    @property
    def empty(self) -> bool:
        return not (self.tags or self.date_from or self.date_to or self.languages or self.nothing)

    def both(self, other: Filter | None) -> Filter:
        """The documents that match this filter and ``other`` (a key's fixed filter and a
        question's: the question can narrow the key's, never widen it)."""
        if other is None:
            return self
        tags: dict[str, set[str]] = {}
        for name, values in (*self.tags, *other.tags):
            tags[name] = tags[name] & set(values) if name in tags else set(values)
        if self.languages and other.languages:
            languages = tuple(sorted(set(self.languages) & set(other.languages)))
        else:
            languages = self.languages or other.languages
        froms = [d for d in (self.date_from, other.date_from) if d is not None]
        tos = [d for d in (self.date_to, other.date_to) if d is not None]
        # Values that no longer overlap match nothing: said as such, never as a value a document could have.
        nothing = (
            self.nothing
            or other.nothing
            or any(not v for v in tags.values())
            or (bool(self.languages and other.languages) and not languages)
        )
        return Filter(
            tags=tuple(sorted((n, tuple(sorted(v))) for n, v in tags.items())),
            date_from=max(froms) if froms else None,
            date_to=min(tos) if tos else None,
            languages=languages,
            nothing=nothing,
        )

    def matches(self, document) -> bool:
        """Whether one document (index's Document) is among those this filter reads."""
        if self.nothing:
            return False
        tags = dict(document.tags)
        if any(tags.get(name) not in values for name, values in self.tags):
            return False
        if self.languages and (document.language or "") not in self.languages:
            return False
        day = document_day(document.date)
        if self.date_from is not None and (day is None or day < self.date_from.toordinal()):
            return False
        return self.date_to is None or (day is not None and day <= self.date_to.toordinal())
