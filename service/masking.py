"""What a question may not keep when it is logged: Thai national ID numbers, phone numbers and
e-mail addresses, each replaced by a marker of its kind (the question's sense stays readable).

The text is normalised first (corpus.text: zero-width characters go; and full-width digits become
digits), so that those cannot hide a number. Every pattern is a regular expression without nested
repetition, so its time is linear in the text's length.
"""

from __future__ import annotations

import re

from corpus.text import normalize_text

_D = "[0-9๐-๙]"
_SEP = r"[\s.-]?"
# 13 digits, written together or in the card's groups 1-4-5-2-1 (spaces or dashes between).
_NATIONAL_ID = re.compile(rf"(?<![0-9๐-๙]){_D}[\s-]?{_D}{{4}}[\s-]?{_D}{{5}}[\s-]?{_D}{{2}}[\s-]?{_D}(?![0-9๐-๙])")
# Thai numbers: 0 and 8-9 more digits (mobile 06/08/09, Bangkok 02: 0-2123-4567, (02) 123-4567),
# or +66 / 0066 and the number without its 0 ((0) allowed); digits grouped by spaces, dashes, dots.
_PHONE = re.compile(
    rf"(?<![0-9๐-๙+])(?:(?:\+|00)66{_SEP}(?:\([0๐]\){_SEP})?|\(?[0๐]\)?{_SEP})"
    rf"(?:{_D}\)?{_SEP}){{7}}{_D}{{1,2}}(?![0-9๐-๙])"
)
_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+")

MARKS = {"national_id": "[เลขประจำตัวประชาชน]", "phone": "[เบอร์โทรศัพท์]", "email": "[อีเมล]"}


def mask(text: str) -> str:
    """``text``, normalised, with every national ID number, phone number and e-mail address replaced."""
    text = _EMAIL.sub(MARKS["email"], normalize_text(text).translate(_FULL_WIDTH_DIGITS))
    text = _NATIONAL_ID.sub(MARKS["national_id"], text)
    return _PHONE.sub(MARKS["phone"], text)
