"""The document viewer: a document's stored text as a web page, the cited characters highlighted.

Citation links point here (``/documents/{doc_id}?start=&end=#cited``, optionally with the
answering sentence, ``sentence_start=&sentence_end=``, and the answer's words in it,
``span_start=&span_end=``); the ``#cited`` fragment makes the browser scroll the highlight into
view with no script at all, so the page can be served with a Content-Security-Policy that forbids
scripts. Offsets index the stored (normalised) text, exactly as the API's citations do. Every
piece of document text is HTML-escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from corpus.document import Document
from corpus.text import without_bidi_controls

FONT_STACK = (
    '"Noto Sans Thai", "Noto Sans Thai UI", Sarabun, "Leelawadee UI", Leelawadee, Tahoma, '
    '"Sukhumvit Set", Thonburi, Loma, Garuda, system-ui, sans-serif'
)

STRINGS = {
    "th": {
        "skip": "ไปยังข้อความที่อ้างอิง",
        "cited": "ข้อความที่อ้างอิง: อักขระที่ {start}–{end} จาก {length}",
        "whole": "ทั้งเอกสาร {length} อักขระ",
        "source": "ต้นฉบับ",
        "date": "วันที่",
        "sentence": "ประโยคที่ตอบคำถาม",
        "answer": "คำตอบ",
        "error": "ไม่สามารถแสดงเอกสาร",
    },
    "en": {
        "skip": "Skip to the cited text",
        "cited": "Cited text: characters {start}–{end} of {length}",
        "whole": "The whole document, {length} characters",
        "source": "Source",
        "date": "Date",
        "sentence": "The answering sentence",
        "answer": "The answer",
        "error": "Cannot show the document",
    },
}

STYLE = """
:root { color-scheme: light; }
body { margin: 0; font-family: FONT_STACK; font-size: 18px; line-height: 1.8; color: #1f2328; background: #fff; }
header, main { max-width: 46rem; margin: 0 auto; padding: 1rem 1.25rem; }
header { border-bottom: 1px solid #d0d7de; }
h1 { font-size: 1.4rem; line-height: 1.6; margin: .5rem 0; }
.meta { color: #4b535c; font-size: .95rem; margin: 0; }
a { color: #0a4f99; }
a:focus-visible { outline: 3px solid #1f2328; outline-offset: 2px; }
mark:focus { outline: none; }
.skip { position: absolute; left: -9999px; }
.skip:focus { position: static; }
.doc { white-space: pre-wrap; overflow-wrap: anywhere; }
mark { background: #fff3b0; color: inherit; border-radius: 2px; box-shadow: 0 0 0 2px #f0c000; scroll-margin: 30vh 0; }
mark .sentence { background: #ffd84d; text-decoration: underline; text-decoration-thickness: 2px; }
mark .answer { font-weight: 700; color: #000; background: #ffbf1f; box-shadow: 0 0 0 1px #8a5d00; border-radius: 2px; }
""".replace("FONT_STACK", FONT_STACK)

# No scripts, no remote anything; styles are the inline block above.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class RangeError(ValueError):
    """Offsets that do not describe characters of the document."""


@dataclass(frozen=True)
class Span:
    start: int
    end: int


def span_from(start: int | None, end: int | None, length: int, what: str) -> Span | None:
    """Both offsets or neither; 0 <= start < end <= length."""
    if start is None and end is None:
        return None
    if start is None or end is None:
        raise RangeError(f"{what}: give both start and end, or neither")
    if not 0 <= start < end <= length:
        raise RangeError(f"{what}: need 0 <= start < end <= {length} (the document's length); got {start}–{end}")
    return Span(start, end)


def language_of(lang: str | None) -> str:
    return lang if lang in STRINGS else "th"


def _page(title: str, lang: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(without_bidi_controls(title))} · khamtop</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def _within(inner: Span, outer: Span) -> bool:
    return outer.start <= inner.start and inner.end <= outer.end


def render_document(
    doc: Document, cited: Span | None, sentence: Span | None, lang: str, answer: Span | None = None
) -> str:
    """The page for ``doc``: ``cited`` in ``<mark id="cited">``, ``sentence`` (inside it) marked too,
    and ``answer`` (inside the sentence) in ``<strong class="answer">``. A sentence outside the cited
    characters, or an answer outside the sentence, is not marked."""
    t = STRINGS[lang]
    text = doc.text
    meta = []
    if cited:
        meta.append(t["cited"].format(start=cited.start, end=cited.end, length=len(text)))
    else:
        meta.append(t["whole"].format(length=len(text)))
    if doc.date:
        meta.append(f"{t['date']} {escape(doc.date)}")
    if doc.source_url and doc.source_url.startswith(("https://", "http://")):
        meta.append(f'<a href="{escape(doc.source_url)}" rel="noopener noreferrer">{t["source"]}</a>')

    if cited:
        inner = escape(text[cited.start : cited.end])
        if sentence and _within(sentence, cited):
            said = escape(text[sentence.start : sentence.end])
            if answer and _within(answer, sentence):
                said = (
                    f"{escape(text[sentence.start : answer.start])}"
                    f'<strong class="answer" title="{t["answer"]}">{escape(text[answer.start : answer.end])}</strong>'
                    f"{escape(text[answer.end : sentence.end])}"
                )
            inner = (
                f"{escape(text[cited.start : sentence.start])}"
                f'<span class="sentence" title="{t["sentence"]}">{said}</span>'
                f"{escape(text[sentence.end : cited.end])}"
            )
        article = (
            f'{escape(text[: cited.start])}<mark id="cited" tabindex="-1">{inner}</mark>{escape(text[cited.end :])}'
        )
        skip = f'<a class="skip" href="#cited">{t["skip"]}</a>'
    else:
        article, skip = escape(text), ""
    doc_lang = f' lang="{escape(doc.language)}"' if doc.language else ""
    body = (
        # Isolated, without bidi controls (stripped when read; an older index may still hold them):
        # a title cannot reorder the text around it.
        f"{skip}<header><h1><bdi>{escape(without_bidi_controls(doc.title))}</bdi></h1>"
        f'<p class="meta">{" · ".join(meta)}</p></header>'
        f'<main><article class="doc"{doc_lang}>{article}</article></main>'
    )
    return _page(doc.title, lang, body)


def render_error(message: str, lang: str) -> str:
    t = STRINGS[lang]
    body = f'<main><h1>{t["error"]}</h1><p role="alert">{escape(message)}</p></main>'
    return _page(t["error"], lang, body)
