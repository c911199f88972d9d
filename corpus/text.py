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


def _repair_marks(text: str) -> str:
    # Repeated until nothing changes: moving a vowel can bring two equal marks together, or
    # marks out of canonical order (hence NFC again).
    while True:
        repaired = unicodedata.normalize("NFC", _SPLIT_SARA_AM.sub("\\1\u0e33", text))
        repaired = _TONE_BEFORE_VOWEL.sub("\\2\\1", repaired)
        repaired = _DOUBLED_MARK.sub("\\1", repaired)
        if repaired == text:
            return text
        text = repaired


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
    text = unicodedata.normalize("NFC", text)
    text = text.translate(_INVISIBLE)
    return _repair_marks(text)


# Characters that show nothing by themselves: besides controls, format characters (bidi marks and
# overrides, tag characters), unassigned and private code points, separators and combining marks
# (CGJ, variation selectors), these fillers draw a blank in most fonts.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e\u17b4\u17b5")
_SHOW_NOTHING = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp", "Mn", "Me"})


def has_visible_text(text: str) -> bool:
    """Whether ``text`` holds at least one character that shows (a letter, digit, mark of
    punctuation or symbol): a question of only invisible characters asks nothing."""
    return any(c not in _BLANK_LETTERS and unicodedata.category(c) not in _SHOW_NOTHING for c in text)


def lone_surrogate(text: str) -> int | None:
    """The offset of the first lone surrogate in ``text`` (JSON can carry ``"\\ud800"``, which is
    no character: nothing downstream can encode it), or None."""
    return next((i for i, c in enumerate(text) if "\ud800" <= c <= "\udfff"), None)
