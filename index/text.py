"""Thai-aware text normalisation, applied identically to documents (at ingestion) and questions.

The stored document text *is* the normalised text, so character offsets in citations always
point into what the service stores and returns.
"""

from __future__ import annotations

import re
import unicodedata

NORMALIZER_VERSION = "nfc-zw-saraam/1"

# Zero-width space, ZWNJ, ZWJ, word joiner, BOM and soft hyphen: invisible, yet they split
# words for a tokenizer and make equal strings compare unequal. PyThaiNLP's own normalize
# only removes the first two.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))

# Sara Am (U+0E33) typed or extracted as Nikhahit + Sara Aa, optionally with a tone mark
# between or before them. NFC does not compose these (only compatibility forms decompose ำ).
_SPLIT_SARA_AM = re.compile("\u0e4d([\u0e48-\u0e4b]?)\u0e32")


def normalize_text(text: str) -> str:
    r"""Return ``text`` in the one canonical form used for storing, embedding and matching.

    >>> normalize_text("น\u0e49\u0e4d\u0e32")  # น้ + ํ + า: split Sara Am is composed
    'น้ำ'
    >>> normalize_text("ข้อ\u200bมูล\r\n")
    'ข้อมูล\n'
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", text)
    text = text.translate(_INVISIBLE)
    return _SPLIT_SARA_AM.sub("\\1\u0e33", text)
