"""What a question may not keep when it is logged: Thai national ID numbers, phone numbers and
e-mail addresses, each replaced by a marker of its kind (the question's sense stays readable).

Every pattern is a regular expression without nested repetition, so its time is linear in the
question's length (questions are bounded by KHAMTOP_MAX_QUESTION_CHARS anyway).
"""

from __future__ import annotations

import re

_D = "[0-9๐-๙]"
# 13 digits, written together or in the card's groups 1-4-5-2-1 (spaces or dashes between).
_NATIONAL_ID = re.compile(rf"(?<![0-9๐-๙]){_D}[\s-]?{_D}{{4}}[\s-]?{_D}{{5}}[\s-]?{_D}{{2}}[\s-]?{_D}(?![0-9๐-๙])")
# Thai numbers: 0 then 8-9 digits (mobile 08x/09x/06x, Bangkok 02), or +66 without the 0;
# digits in groups with spaces, dashes or dots.
_PHONE = re.compile(rf"(?<![0-9๐-๙+])(?:(?:\+|00)66[\s.-]?|[0๐])(?:{_D}[\s.-]?){{7}}{_D}{{1,2}}(?![0-9๐-๙])")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+")

MARKS = {"national_id": "[เลขประจำตัวประชาชน]", "phone": "[เบอร์โทรศัพท์]", "email": "[อีเมล]"}


def mask(text: str) -> str:
    """``text`` with every national ID number, phone number and e-mail address replaced."""
    text = _EMAIL.sub(MARKS["email"], text)
    text = _NATIONAL_ID.sub(MARKS["national_id"], text)
    return _PHONE.sub(MARKS["phone"], text)
