"""Question sets: the bundled gold set (``eval/gold.jsonl``) and external datasets in the format of
the iApp Wiki QA benchmark (a folder of ``contexts.jsonl`` + ``retrieval.jsonl``; docs/evaluation.md).

Every piece of evidence is resolved to character spans in the *stored* (normalised) document
text, the same coordinates as the citations the service returns.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from corpus.document import Document
from corpus.text import normalize_text

GOLD = Path(__file__).resolve().parent / "gold.jsonl"


class DatasetError(ValueError):
    """A question set cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class EvidencePiece:
    doc_id: str
    text: str
    # Where the evidence lies in the stored text; empty means any passage of the document counts.
    spans: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class EvalQuestion:
    id: str
    question: str
    answerable: bool
    evidence: tuple[EvidencePiece, ...]
    language: str | None = None
    tags: tuple[str, ...] = ()
    split: str | None = None  # an external dataset's split ("train", "valid"), if it names one


@dataclass
class EvalSet:
    name: str
    questions: list[EvalQuestion]
    # The documents to index for this set; None means the bundled corpus.
    documents: list[Document] | None = None

    def sample(self, limit: int | None, seed: int = 0) -> EvalSet:
        """A seeded random sample of ``limit`` questions (all of them if ``limit`` is None)."""
        if limit is None or limit >= len(self.questions):
            return self
        picked = random.Random(seed).sample(self.questions, limit)
        return EvalSet(f"{self.name} (sample of {limit})", picked, self.documents)

    def of_split(self, split: str | None) -> EvalSet:
        """Only the questions of ``split`` (all of them if ``split`` is None); the documents stay."""
        if split is None:
            return self
        picked = [q for q in self.questions if q.split == split]
        if not picked:
            raise DatasetError(f"{self.name} has no questions in a split named {split!r}")
        return EvalSet(f"{self.name} ({split})", picked, self.documents)


def _occurrences(text: str, needle: str) -> tuple[tuple[int, int], ...]:
    spans, start = [], text.find(needle)
    while needle and start >= 0:
        spans.append((start, start + len(needle)))
        start = text.find(needle, start + 1)
    return tuple(spans)


def _read_jsonl(path: Path) -> list[tuple[int, dict]]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rows.append((number, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{number}: not valid JSON: {exc}") from exc
    return rows


def load_gold(path: Path, documents: list[Document]) -> EvalSet:
    """The gold set at ``path``, its evidence located in ``documents`` (the bundled corpus)."""
    by_id = {d.doc_id: d for d in documents}
    questions = []
    for number, row in _read_jsonl(path):
        where = f"{path.name}:{number}"
        try:
            pieces = []
            for ev in row.get("evidence", []):
                doc = by_id.get(ev["doc_id"])
                if doc is None:
                    raise DatasetError(f"{where}: no document {ev['doc_id']!r} in the corpus")
                text = normalize_text(ev["text"])
                spans = _occurrences(doc.text, text)
                if not spans:
                    raise DatasetError(f"{where}: evidence {text[:40]!r} is not in {ev['doc_id']}")
                pieces.append(EvidencePiece(ev["doc_id"], text, spans))
            questions.append(
                EvalQuestion(
                    id=str(row["id"]),
                    question=row["question"],
                    answerable=bool(row.get("answerable", True)),
                    evidence=tuple(pieces),
                    language=row.get("language"),
                    tags=tuple(row.get("tags", ())),
                )
            )
        except KeyError as exc:
            raise DatasetError(f"{where}: missing field {exc}") from exc
    return EvalSet(path.stem, questions)


def _normalised_span(raw: str, start: int, end: int) -> tuple[int, int]:
    """A span of the raw text, moved to the same characters in the normalised text."""
    new_start = len(normalize_text(raw[:start]))
    return new_start, new_start + len(normalize_text(raw[start:end]))


def load_faq(path: Path) -> EvalSet:
    """A question-answer file in thaigov-faq's format (``{"id", "question", "context", "answers":
    [{"text", "start"}]}`` a line): each context is a document, each answer its evidence."""
    documents, questions = [], []
    for number, row in _read_jsonl(path):
        try:
            doc_id, raw = str(row["id"]), row["context"]
            documents.append(Document(doc_id, normalize_text(raw), doc_id))
            pieces = tuple(
                EvidencePiece(doc_id, a["text"], (_normalised_span(raw, a["start"], a["start"] + len(a["text"])),))
                for a in row["answers"]
            )
            questions.append(EvalQuestion(doc_id, row["question"], bool(pieces), pieces, split="valid"))
        except (KeyError, TypeError) as exc:
            raise DatasetError(f"{path.name}:{number}: missing field {exc}") from exc
    return EvalSet(path.parent.name, questions, documents)


def load_dataset(folder: Path) -> EvalSet:
    """An external dataset: ``contexts.jsonl`` (id, title, text) and ``retrieval.jsonl``
    (id, question, gold_context_ids, answer_spans [{context_id, start, end, text}]); or a folder
    with ``faq.jsonl`` (``load_faq``: every question in the split ``valid``)."""
    if (folder / "faq.jsonl").is_file() and not (folder / "contexts.jsonl").exists():
        return load_faq(folder / "faq.jsonl")
    contexts_path, questions_path = folder / "contexts.jsonl", folder / "retrieval.jsonl"
    for path in (contexts_path, questions_path):
        if not path.is_file():
            raise DatasetError(f"{folder} is not a dataset folder: {path.name} is missing")
    raw_texts: dict[str, str] = {}
    documents = []
    for number, row in _read_jsonl(contexts_path):
        try:
            raw_texts[row["id"]] = row["text"]
            documents.append(Document(row["id"], normalize_text(row["text"]), row.get("title") or row["id"]))
        except KeyError as exc:
            raise DatasetError(f"{contexts_path.name}:{number}: missing field {exc}") from exc
    questions = []
    for number, row in _read_jsonl(questions_path):
        try:
            pieces = []
            for span in row.get("answer_spans") or []:
                raw = raw_texts[span["context_id"]]
                start, end = _normalised_span(raw, span["start"], span["end"])
                pieces.append(EvidencePiece(span["context_id"], span.get("text", ""), ((start, end),)))
            covered = {p.doc_id for p in pieces}
            pieces += [EvidencePiece(cid, "", ()) for cid in row["gold_context_ids"] if cid not in covered]
            questions.append(
                EvalQuestion(str(row["id"]), row["question"], bool(pieces), tuple(pieces), split=row.get("split"))
            )
        except KeyError as exc:
            raise DatasetError(f"{questions_path.name}:{number}: unknown context or missing field {exc}") from exc
    return EvalSet(folder.name, questions, documents)
