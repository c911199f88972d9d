"""Reading a folder of documents (``.txt``, ``.md``, ``.html``, ``.pdf``, ``.docx``: see
``corpus.formats``) with optional metadata.

A document's id is its path relative to the folder, without the extension (``laws/pdpa``).
Metadata comes from a front-matter block at the top of the file::

    ---
    title: ผลการประชุม ...
    source_url: https://example.go.th/...
    date: 2022-04-12
    language: th
    ---

or from the file itself (an HTML page's title, date and canonical URL; a PDF's or a .docx's
title and creation date), or from a sidecar ``<name>.json`` beside the file. The sidecar wins
over front matter, which wins over what the file says of itself.
The text is normalised once here (see ``corpus.text``); that normalised text is what is stored,
embedded and cited.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from corpus.document import MAX_METADATA_CHARS, Document, as_tags, check_metadata, normal_doc_id
from corpus.formats import SUFFIXES, extract
from corpus.text import normalize_text, without_bidi_controls

METADATA_FIELDS = ("title", "source_url", "date", "language")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)---[ \t]*(?:\n|\Z)", re.DOTALL)
_THAI = re.compile("[\u0e01-\u0e5b]")
_LATIN = re.compile("[A-Za-z]")


@dataclass(frozen=True)
class ReadProblem:
    path: str
    reason: str


class CorpusError(ValueError):
    """The folder cannot be read as a corpus at all."""


class MetadataError(ValueError):
    """A document's id or metadata is refused: front matter with YAML aliases, a field over its
    limit, an id with invisible characters. The message names the field."""


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without aliases: a few lines of nested aliases expand to gigabytes, and front matter
    never needs one (each value is written out)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise MetadataError(
                f"front matter must not use YAML aliases (*{event.anchor}, line {event.start_mark.line + 1}): "
                "write each value out"
            )
        return super().compose_node(parent, index)


def _guess_language(text: str) -> str:
    thai, latin = len(_THAI.findall(text)), len(_LATIN.findall(text))
    return "th" if thai >= latin else "en"


def _default_title(text: str, fallback: str) -> str:
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line[:200]
    return fallback


def _metadata(raw: object, where: str) -> dict:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: metadata must be a mapping of {', '.join(METADATA_FIELDS)}")
    meta = {}
    for key in METADATA_FIELDS:
        value = raw.get(key)
        if value is None:
            continue
        # YAML reads `date: 2022-04-12` as a date; keep the ISO text.
        meta[key] = value.isoformat() if hasattr(value, "isoformat") else str(value)
    tags = raw.get("tags")
    if tags is not None:
        if not isinstance(tags, dict):
            raise ValueError(f"{where}: tags must be a mapping of names to values (department: budget)")
        # YAML reads numbers and dates as such: the value is their text.
        meta["tags"] = {str(k): v.isoformat() if hasattr(v, "isoformat") else str(v) for k, v in tags.items()}
    return meta


def _web_url(url: str | None) -> bool:
    """A link a citation may carry: http or https with a host (not ``javascript:``, ``data:``, a file)."""
    parts = urlsplit(url or "")
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def read_document(path: Path, doc_id: str) -> Document:
    """One document from a file (and its sidecar); raises ValueError with a reason a person can act on."""
    meta: dict = {}
    sidecar = path.with_suffix(".json")
    if sidecar.is_file():
        try:
            meta = _metadata(json.loads(sidecar.read_text("utf-8")), sidecar.name)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{sidecar.name} is not valid JSON: {exc}") from exc
    return document_from_bytes(path.read_bytes(), doc_id, path.suffix, meta)


def document_from_bytes(data: bytes, doc_id: str, suffix: str, meta: dict | None = None) -> Document:
    """One document from a file's bytes; ``meta`` (a sidecar, or fields sent with an upload) wins
    over metadata found in the file."""
    extracted = extract(data, suffix)
    raw, found = extracted.text, dict(extracted.meta)
    if not _web_url(found.get("source_url")):  # what a file says of itself is dropped, not refused
        found.pop("source_url", None)
    # So is a field over its limit (a web page's 5,000-character title); metadata given is refused.
    found = {k: v for k, v in found.items() if len(str(v)) <= MAX_METADATA_CHARS.get(k, len(str(v)))}
    match = _FRONT_MATTER.match(raw.replace("\r\n", "\n"))
    if match:
        try:
            found.update(_metadata(yaml.load(match.group(1), Loader=_NoAliasLoader) or {}, "front matter"))
        except yaml.YAMLError as exc:
            raise ValueError(f"front matter is not valid YAML: {exc}") from exc
        raw = raw.replace("\r\n", "\n")[match.end() :]
    found.update({k: v for k, v in _metadata(meta or {}, "metadata").items() if v is not None})
    if found.get("source_url") is not None and not _web_url(found["source_url"]):
        raise ValueError(f"source_url must be an http:// or https:// address, not {found['source_url'][:80]!r}")
    try:
        doc_id = normal_doc_id(doc_id)
        check_metadata(found)  # before the text is normalised: a refused file costs no more
        tags = as_tags(found.get("tags") or ())
    except ValueError as exc:
        raise MetadataError(str(exc)) from None
    text = normalize_text(raw)
    if not text.strip():
        raise ValueError("empty document")
    return Document(
        doc_id=doc_id,
        text=text,
        # No bidi controls: an override would show the title, and what follows it, backwards.
        title=without_bidi_controls(normalize_text(found.get("title") or _default_title(text, doc_id))),
        source_url=found.get("source_url"),
        date=found.get("date"),
        language=found.get("language") or _guess_language(text),
        tags=tags,
    )


def read_folder(folder: Path) -> tuple[list[Document], list[ReadProblem]]:
    """All documents under ``folder`` (sorted by id), and the files that could not be read."""
    if not folder.is_dir():
        raise CorpusError(f"{folder} is not a folder")
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    documents: list[Document] = []
    problems: list[ReadProblem] = []
    seen: dict[str, Path] = {}
    for path in files:
        rel = path.relative_to(folder)
        try:
            doc_id = normal_doc_id(rel.with_suffix("").as_posix())
        except ValueError as exc:
            problems.append(ReadProblem(str(rel), str(exc)))
            continue
        if doc_id in seen:
            problems.append(ReadProblem(str(rel), f"same id {doc_id!r} as {seen[doc_id].name}"))
            continue
        seen[doc_id] = path
        try:
            documents.append(read_document(path, doc_id))
        except (OSError, ValueError) as exc:
            problems.append(ReadProblem(str(rel), str(exc)))
        except RecursionError:
            problems.append(ReadProblem(str(rel), "its metadata is nested too deeply to read"))
    if not documents and not problems:
        raise CorpusError(f"no {', '.join(SUFFIXES)} files in {folder}")
    return documents, problems
