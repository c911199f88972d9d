"""Thai-aware text normalisation, applied identically to documents (at ingestion) and questions.

The stored document text *is* the normalised text, so character offsets in citations always
point into what the service stores and returns.
"""

from __future__ import annotations

import re
import unicodedata

NORMALIZER_VERSION = "nfc-zw-saraam-marks-pua/2"

# Zero-width space, ZWNJ, ZWJ, word joiner, BOM and soft hyphen: invisible, yet they split
# words for a tokenizer and make equal strings compare unequal. PyThaiNLP's own normalize
# only removes the first two.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))

# Sara Am (U+0E33) typed or extracted as Nikhahit + Sara Aa, optionally with a tone mark
# between or before them. NFC does not compose these (only compatibility forms decompose ำ).
_SPLIT_SARA_AM = re.compile("\u0e4d([\u0e48-\u0e4b]?)\u0e32")

# Marks that sit above or below a consonant: Mai Han-akat, the upper and lower vowels, Phinthu,
# Mai Taikhu, the tone marks, Thanthakhat, Nikhahit, Yamakkan. Typed twice they look like one,
# so a doubled mark is a typing slip; a tone mark typed before the upper vowel (ก่ี for กี่)
# renders the same but is another string.
_DOUBLED_MARK = re.compile("([\u0e31\u0e34-\u0e3a\u0e47-\u0e4e])\\1+")
_TONE_BEFORE_VOWEL = re.compile("([\u0e48-\u0e4b])([\u0e31\u0e34-\u0e37\u0e47])")

# Thai fonts in some PDFs draw shifted vowels and tone marks from the Private Use Area
# (U+F700-U+F71A); text extraction then yields those code points instead of Thai letters.
_PUA_THAI = str.maketrans(
    dict(
        zip(
            range(0xF700, 0xF71B),
            "\u0e10\u0e34\u0e35\u0e36\u0e37\u0e48\u0e49\u0e4a\u0e4b\u0e4c\u0e48\u0e49\u0e4a\u0e4b\u0e4c"
            "\u0e0d\u0e31\u0e4d\u0e47\u0e48\u0e49\u0e4a\u0e4b\u0e4c\u0e38\u0e39\u0e3a",
        )
    )
)


# Of class 0 but decomposed into marks: three Tibetan vowel signs (a test checks there are no others).
_DECOMPOSED_INTO_MARKS = "\u0f73\u0f75\u0f81"


def _mark_classes() -> tuple[str, str]:
    """Regex classes (in the BMP, and beyond it) of the characters whose canonical decomposition
    holds only combining marks (a non-zero combining class): the ones canonical ordering moves."""
    # No combining mark lies outside this range.
    members = [c for c in map(chr, range(0x300, 0x20000)) if unicodedata.combining(c)] + [*_DECOMPOSED_INTO_MARKS]
    bmp = "".join(re.escape(c) for c in members if c <= "\uffff")
    return bmp, "".join(re.escape(c) for c in members if c > "\uffff")


# A class of BMP characters alone compiles to a bitmap; one with others too is searched range by
# range, ten times slower, so it is used only for text with characters beyond the BMP.
_BMP_MARKS, _ASTRAL_MARKS = _mark_classes()
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
# CPython orders the marks after a letter by insertion sort: a long run in reverse order takes
# quadratic time (100k characters: seconds). Runs at least this long are put in order first.
_LONG_BMP_MARK_RUN = re.compile(f"[{_BMP_MARKS}]{{32,}}")
_LONG_MARK_RUN = re.compile(f"[{_BMP_MARKS}{_ASTRAL_MARKS}]{{32,}}")


def _in_canonical_order(run: re.Match) -> str:
    marks = "".join(unicodedata.normalize("NFD", c) for c in run[0])
    return "".join(sorted(marks, key=unicodedata.combining))  # stable, as canonical ordering is


def _nfc(text: str) -> str:
    """NFC in linear time: the same result, since sorting a run of marks by combining class
    (stably) before canonical ordering leaves nothing for that ordering to change."""
    long_run = _LONG_MARK_RUN if _ASTRAL.search(text) else _LONG_BMP_MARK_RUN
    return unicodedata.normalize("NFC", long_run.sub(_in_canonical_order, text))


def _repair_pass(text: str) -> str:
    # Plain NFC: a pass moves a mark into a neighbouring run at most, which orders in linear time.
    repaired = unicodedata.normalize("NFC", _SPLIT_SARA_AM.sub("\\1\u0e33", text))
    repaired = _TONE_BEFORE_VOWEL.sub("\\2\\1", repaired)
    return _DOUBLED_MARK.sub("\\1", repaired)


# Real text is repaired within two passes (a third finds nothing to change). A pass moves a tone
# mark past one vowel only, so text built to need many passes (a tone mark typed before
# thousands of vowels) would take quadratic time: past these passes, the rest is done in one.
_FAST_PASSES = 3


def _repair_marks(text: str) -> str:
    # Repeated until nothing changes: moving a vowel can bring two equal marks together, or
    # marks out of canonical order (hence NFC again).
    for _ in range(_FAST_PASSES):
        repaired = _repair_pass(text)
        if repaired == text:
            return text
        text = repaired
    return _MARK_RUN.sub(_repair_run, text)


# What the passes can change: the Thai vowels and marks above and below (Sara Aa and Sara Am
# among them) and any combining mark (canonical ordering). Nothing moves across another
# character, so each run of these is repaired on its own.
_MARK_RUN = re.compile(f"[\u0e31-\u0e3a\u0e47-\u0e4e{_BMP_MARKS}{_ASTRAL_MARKS}]{{2,}}")
_TONES = 107  # the combining class of the four tone marks, and of nothing else
_UPPER_VOWELS = frozenset("\u0e31\u0e34\u0e35\u0e36\u0e37\u0e47")
_DOUBLABLE = frozenset(
    "\u0e31\u0e34\u0e35\u0e36\u0e37\u0e38\u0e39\u0e3a\u0e47\u0e48\u0e49\u0e4a\u0e4b\u0e4c\u0e4d\u0e4e"
)


def _at_most_one_tone(marks: dict[int, list[str]]) -> bool:
    return not marks or (len(marks) == 1 and len(marks.get(_TONES, ())) == 1)


def _repair_run(run: re.Match) -> str:
    """The passes' fixed point for one run, in one left-to-right sweep: ``out`` ends with a
    character of class 0; ``marks`` holds the combining marks after it, by class, in order."""
    out: list[str] = []
    marks: dict[int, list[str]] = {}

    def add(mark: str, ccc: int) -> None:
        group = marks.setdefault(ccc, [])
        if not (group and group[-1] == mark and mark in _DOUBLABLE):  # a doubled mark: one is kept
            group.append(mark)

    def flush() -> None:
        for ccc in sorted(marks):
            out.extend(marks[ccc])
        marks.clear()

    for c in run[0]:
        ccc = unicodedata.combining(c)
        if ccc:
            add(c, ccc)
        elif c in _UPPER_VOWELS and marks and max(marks) == _TONES:
            # Tone marks before a vowel: the vowel goes before them (and after the lower marks).
            tones = marks.pop(_TONES)
            if marks:
                flush()
                out.append(c)
            elif not (out and out[-1] == c):
                out.append(c)
            marks[_TONES] = tones
        elif c == "\u0e32" and out and out[-1] == "\u0e4d" and _at_most_one_tone(marks):
            # Nikhahit, maybe a tone mark, Sara Aa: Sara Am, after the tone mark and the marks
            # that were before the nikhahit.
            tone = marks.pop(_TONES, [])
            out.pop()
            before = []
            while out and unicodedata.combining(out[-1]):
                before.append(out.pop())
            for mark in before[::-1] + tone:
                add(mark, unicodedata.combining(mark))
            flush()
            out.append("\u0e33")
        elif not marks and out and out[-1] == c and c in _DOUBLABLE:
            pass  # a doubled vowel or mark of class 0
        else:
            flush()
            out.append(c)
    flush()
    return "".join(out)


def normalize_text(text: str) -> str:
    r"""Return ``text`` in the one canonical form used for storing, embedding and matching.

    >>> normalize_text("น\u0e49\u0e4d\u0e32")  # น้ + ํ + า: split Sara Am is composed
    'น้ำ'
    >>> normalize_text("ข้อ\u200bมูล\r\n")
    'ข้อมูล\n'
    >>> normalize_text("ที่\u0e48")  # a doubled tone mark
    'ที่'
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.translate(_PUA_THAI)
    text = _nfc(text)
    text = text.translate(_INVISIBLE)
    return _repair_marks(text)


# Characters that show nothing by themselves: besides controls, format characters (bidi marks and
# overrides, tag characters), unassigned and private code points, separators and combining marks
# (CGJ, variation selectors), these fillers draw a blank in most fonts.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e\u17b4\u17b5")
_SHOW_NOTHING = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp", "Mn", "Me"})


def has_visible_text(text: str) -> bool:
    """Whether ``text`` holds at least one character that shows (a letter, digit, mark of
    punctuation or symbol): a question of only invisible characters asks nothing. The same for
    ``text`` and ``normalize_text(text)``, so a question need not be normalised to be checked."""
    text = text.translate(_PUA_THAI)  # two of the PDF glyphs become letters
    return any(c not in _BLANK_LETTERS and unicodedata.category(c) not in _SHOW_NOTHING for c in text)


# A question needs this many letters or digits to be answered (Thai vowels and tone marks that sit
# above or below a letter are not counted: ที่ is one letter).
MIN_QUESTION_LETTERS = 2


def too_little_to_answer(question: str) -> bool:
    """Whether ``question`` holds fewer than ``MIN_QUESTION_LETTERS`` letters and digits once
    normalised (``a``, ``1``, ``ก``, an emoji, U+FFFC): it asks nothing a passage could answer,
    however similar some sentence scores."""
    letters = 0
    for c in normalize_text(question):
        if unicodedata.category(c)[0] in "LN":
            letters += 1
            if letters >= MIN_QUESTION_LETTERS:
                return False
    return True


# Bidirectional formatting characters: the Arabic letter mark, the left-to-right and right-to-left
# marks, embeddings, overrides and isolates. In a title they reorder what follows (an override
# shows "ประกาศ.pdf" backwards); no title needs them.
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_NO_BIDI = dict.fromkeys(map(ord, BIDI_CONTROLS))


def without_bidi_controls(text: str) -> str:
    return text.translate(_NO_BIDI)


def lone_surrogate(text: str) -> int | None:
    """The offset of the first lone surrogate in ``text`` (JSON can carry ``"\\ud800"``, which is
    no character: nothing downstream can encode it), or None."""
    return next((i for i, c in enumerate(text) if "\ud800" <= c <= "\udfff"), None)
