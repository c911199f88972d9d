"""Query understanding: expand a question with equivalent names and with its years in the other era.

Thai questions and documents often name the same thing differently: "ครม." for "คณะรัฐมนตรี",
"กระทรวงดีอี" for "กระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม", "ค.ศ. 2021" for "พ.ศ. ๒๕๖๔". Neither
the embedding model nor BM25 knows these are equal, so the question is expanded with the
other forms before it is searched. The citation is unaffected: only the query changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from index.folder.keyword import match_form

# Buddhist Era = Christian Era + 543. Years outside these ranges are left alone: a four-digit
# number from 1900 to 2157 is read as CE, from 2443 to 2700 as BE.
ERA_OFFSET = 543
CE_YEARS = range(1900, 2158)
BE_YEARS = range(2443, 2701)
_NUMBER = re.compile(r"(?<!\d)\d{4}(?!\d)")


class AbbreviationFileError(ValueError):
    """The abbreviation file cannot be read or has a malformed line."""


def _is_latin(form: str) -> bool:
    return form.isascii()


@dataclass(frozen=True)
class Expansion:
    query: str  # the question as given (normalised)
    added: tuple[str, ...]  # equivalent names and other-era years, in the order found

    @property
    def text(self) -> str:
        """The question followed by what was added: what the keyword search sees (the question's
        vector is computed from the question alone, ``index.search.retriever``)."""
        return " ".join((self.query, *self.added)) if self.added else self.query


class QueryExpander:
    """Equivalent-name groups (from a TSV file) plus Buddhist/Christian Era years."""

    def __init__(self, groups: list[list[str]]) -> None:
        self.groups = groups
        # Each form in matching form, with a pattern: Latin forms match whole words only ("NT" is
        # not in "INTERNET"); Thai has no word delimiters, so Thai forms match anywhere.
        self._forms: list[tuple[re.Pattern, int]] = []
        for g, group in enumerate(groups):
            for form in group:
                key = re.escape(match_form(form))
                pattern = rf"(?<![a-z0-9]){key}(?![a-z0-9])" if _is_latin(form) else key
                self._forms.append((re.compile(pattern), g))

    @classmethod
    def from_file(cls, path: Path) -> QueryExpander:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise AbbreviationFileError(f"cannot read the abbreviation file {path}: {e}") from e
        groups = []
        for number, line in enumerate(lines, start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            forms = [f.strip() for f in line.split("\t") if f.strip()]
            if len(forms) < 2:
                raise AbbreviationFileError(
                    f"{path}, line {number}: a group needs at least two tab-separated forms, got {line!r}"
                )
            groups.append(forms)
        return cls(groups)

    def expand(self, question: str) -> Expansion:
        folded = match_form(question)
        added: list[str] = []

        def add(term: str) -> None:
            if term not in added and match_form(term) not in folded:
                added.append(term)

        # The longest form wins where matches overlap: "รัฐมนตรี" inside "คณะรัฐมนตรี" is not a
        # mention of a minister.
        found = sorted(
            ((m.start(), m.end(), g) for pattern, g in self._forms for m in pattern.finditer(folded)),
            key=lambda t: (t[0] - t[1], t[0]),
        )
        taken: list[tuple[int, int]] = []
        matched: list[int] = []
        for start, end, g in found:
            if all(end <= a or start >= b for a, b in taken):
                taken.append((start, end))
                if g not in matched:
                    matched.append(g)
        for g in sorted(matched):
            for form in self.groups[g]:
                add(form)
        for m in _NUMBER.finditer(folded):
            year = int(m.group())
            if year in CE_YEARS:
                add(str(year + ERA_OFFSET))
            elif year in BE_YEARS:
                add(str(year - ERA_OFFSET))
        return Expansion(question, tuple(added))
