"""What kind of answer a question asks for, and what kind of answer a span of text is.

Government questions ask for a few kinds of thing: a number with its unit (กี่สถานี, เท่าไร),
an amount of money, a date, a person, an agency, a place. The reader, trained on Wikipedia, often
finds a span of the wrong kind in the right passage ("6 ประเทศ" for กี่ Tbps, "๔ ปี" for an
amount of money, a date for อายุเท่าไร). The question's own words say which kind it wants, and a
span's own characters (digits, a month, a unit, a title) say which kind it is, so the search can
prefer the reader's best span of the right kind (``index.search.answer_choice``).

Rules, not a model: they are read by people, cost microseconds, and stay the same on every
machine. Text is compared in ``match_form`` (Thai digits as Arabic, Latin in lower case).

>>> asked_for("ASIA Direct Cable รองรับการใช้งานได้กี่ Tbps")
Asked(kind='number', unit='tbps')
>>> asked_for("ประชุมผู้นำ ACMECS ครั้งที่ 8 จัดที่ไหน").kind
'place'
>>> sorted(kinds_of("๙ Tbps"))
['number']
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from index.folder.keyword import match_form

Kind = Literal["number", "money", "date", "person", "agency", "place", "reason", "manner", "other"]
# The kinds a span's characters can show; "reason", "manner" and "other" questions take any span.
TYPED: frozenset[str] = frozenset({"number", "money", "date", "person", "agency", "place"})


@dataclass(frozen=True)
class Asked:
    kind: Kind
    unit: str | None = None  # กี่ X: the unit X the number should come with, in match form


_THAI_MONTHS = [
    "มกราคม",
    "กุมภาพันธ์",
    "มีนาคม",
    "เมษายน",
    "พฤษภาคม",
    "มิถุนายน",
    "กรกฎาคม",
    "สิงหาคม",
    "กันยายน",
    "ตุลาคม",
    "พฤศจิกายน",
    "ธันวาคม",
    "ม.ค.",
    "ก.พ.",
    "มี.ค.",
    "เม.ย.",
    "พ.ค.",
    "มิ.ย.",
    "ก.ค.",
    "ส.ค.",
    "ก.ย.",
    "ต.ค.",
    "พ.ย.",
    "ธ.ค.",
]
_EN_MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
]
_MONTH = re.compile(
    "|".join(map(re.escape, (m for m in _THAI_MONTHS if "." not in m)))
    + r"|(?<![a-z])(?:"
    + "|".join(_EN_MONTHS)
    + r")(?![a-z])"
)
# Abbreviated months count only beside a number: "ก.พ." alone is also the Civil Service Commission.
_MONTH_ABBREVIATED = re.compile("|".join(re.escape(m) for m in _THAI_MONTHS if "." in m))
_ERA = re.compile(r"พ\.\s?ศ\.|ค\.\s?ศ\.|พุทธศักราช|คริสต์ศักราช|(?<![a-z])(?:b\.?e\.?|a\.?d\.?)(?![a-z])")
_YEAR = re.compile(r"(?<!\d)(?:19\d\d|20\d\d|21[0-5]\d|24[4-9]\d|25\d\d|26\d\d)(?!\d)")
_DATE_WORDS = re.compile(r"วันที่|ปีงบประมาณ|ไตรมาส|ศตวรรษ|ทศวรรษ")
_DIGIT = re.compile(r"\d")
# Number words, not the words that hold them (สามารถ, ห้าม, เก้าอี้, เรียบร้อย, ความสัมพันธ์).
_NUMBER_WORDS = re.compile(
    r"หนึ่ง|สอง|สาม(?!ารถ)|สี่|ห้า(?!ม)|หก|เจ็ด|แปด|เก้า(?!อี้)|สิบ|(?<!เรียบ)ร้อย|(?<!สัม)พัน(?!ธ)|หมื่น|แสน|ล้าน|ครึ่ง"
)
_MONEY = re.compile(r"บาท|ดอลลาร์|เหรียญ|ยูโร|เยน|หยวน|วอน|ริงกิต|รูปี|ปอนด์|usd|thb|eur|us\$|\$|€|¥|£|(?<![a-z])baht(?![a-z])")
# Titles stand at the start of a name, so they are looked for only there ("มิถุนายน" holds "นาย").
_TITLES = re.compile(
    r"(?:นางสาว|นาย(?!ก)|นาง|น\.ส\.|ดร\.|(?<![พค]\.)ศ\.|รศ\.|ผศ\.|พล(?:เอก|โท|ตรี|ตำรวจ|อากาศ|เรือ)|พล\.|พ\.ต\.|ร\.ต\.|พ\.อ\."
    r"|พ\.ท\.|ม\.ร\.ว\.|ม\.ล\.|ท่าน|คุณ|(?:mr|mrs|ms|dr|h\.e|prof)\.?(?![a-z]))\s?$"
)
_TITLE_AT_START = re.compile(_TITLES.pattern.removesuffix(r"\s?$").replace("(?:นางสาว", "^(?:นางสาว", 1))
_ROLES = re.compile(
    r"รัฐมนตรี|นายกรัฐมนตรี|ปลัด|อธิบดี|ผู้อำนวยการ|เลขาธิการ|ประธาน|ผู้ว่าราชการ|โฆษก|ผู้แทน|เอกอัครราชทูต"
    r"|อธิการบดี|ผู้บัญชาการ|รองนายก|minister|director|secretary|president|ambassador|chairman|governor"
)
_AGENCY = re.compile(
    r"กระทรวง|กรม|สำนักงาน|สำนัก|องค์การ|องค์กร|บริษัท|คณะกรรมการ|คณะรัฐมนตรี|ธนาคาร|มหาวิทยาลัย|สถาบัน|ศูนย์|กอง"
    r"|สภา|ศาล|การไฟฟ้า|การประปา|การท่าเรือ|สมาคม|มูลนิธิ|หน่วยงาน|ministry|department|office|agency|council|bank"
    r"|company|authority|commission|university|institute|centre|center|^[a-z]{2,8}$"
)
_PLACE = re.compile(
    r"จังหวัด|(?<![ก-๙.])จ\.(?![ก-๙]\.)|ประเทศ|กรุง|เมือง|อำเภอ|(?<![ก-๙.])อ\.(?![ก-๙]\.)|ตำบล|(?<![ก-๙.])ต\.(?![ก-๙]\.)|เขต|ภาค|ทวีป|เกาะ|ท่าเรือ|สนามบิน|ศาลากลาง|ทำเนียบ|โรงแรม"
    r"|ห้องประชุม|อาคาร|ตึก|city|province|country|island|hotel|thailand|bangkok|ไทย|ลาว|กัมพูชา|เมียนมา|พม่า"
    r"|เวียดนาม|มาเลเซีย|สิงคโปร์|อินโดนีเซีย|ฟิลิปปินส์|บรูไน|จีน|ญี่ปุ่น|เกาหลี|อินเดีย|ออสเตรเลีย"
    r"|สหรัฐ|อเมริกา|รัสเซีย|ฝรั่งเศส|เยอรมนี|อังกฤษ|สหราชอาณาจักร|ยุโรป|เอเชีย|แอฟริกา"
)

# Question forms, in the order they are tried: the first that matches decides.
_DATE_Q = re.compile(
    r"เมื่อไร|เมื่อไหร่|เมื่อใด|วันที่เท่า|วันไหน|วันใด|วันอะไร|ปีไหน|ปีใด|ปีอะไร|ปี\s?พ\.\s?ศ\.\s?(?:ใด|อะไร|ไหน)"
    r"|พ\.\s?ศ\.\s?(?:ใด|อะไร|ไหน|เท่า)|ค\.\s?ศ\.\s?(?:ใด|อะไร|ไหน|เท่า)|เดือนไหน|เดือนใด|เดือนอะไร|ช่วงไหน|ช่วงใด"
    r"|ตั้งแต่เมื่อ|ถึงเมื่อ|(?<![a-z])when(?![a-z])|what (?:year|date|day|month)|which (?:year|date|day|month)"
    r"|in what year|since when|until when"
)
_MONEY_Q = re.compile(
    r"(?:งบประมาณ|เงิน|ราคา|มูลค่า|ค่าใช้จ่าย|วงเงิน|ค่า|ทุน|รายได้|ภาษี|ดอลลาร์|บาท).{0,40}?(?:เท่าไร|เท่าไหร่|เท่าใด|กี่บาท|กี่ล้าน)"
    r"|กี่บาท|กี่ล้านบาท|how much (?:money|funding|budget)|what (?:budget|amount of money)"
)
# กี่ is a word of its own, not the end of เกี่ยว.
_UNIT_Q = re.compile(r"(?<!เ)กี่\s?([^\s?？]{1,20})|how many ([a-z][a-z-]*)")
_NUMBER_Q = re.compile(
    r"เท่าไร|เท่าไหร่|เท่าใด|จำนวนเท่า|ร้อยละเท่า|(?<!เ)กี่|(?<![a-z])how (?:many|much|long|old|far)(?![a-z])"
    r"|what (?:percentage|number|amount)"
)
_PERSON_Q = re.compile(r"ใคร|ผู้ใด|บุคคลใด|ท่านใด|(?<![a-z])(?:who|whom|whose)(?![a-z])")
_AGENCY_Q = re.compile(
    r"(?:หน่วยงาน|องค์กร|องค์การ|กระทรวง|กรม|สำนักงาน|บริษัท|ธนาคาร|สถาบัน|คณะกรรมการ)\s?(?:ใด|ไหน|อะไร)"
    r"|which (?:agency|ministry|organi[sz]ation|department|office|company|bank)"
)
_PLACE_Q = re.compile(
    r"ที่ไหน|ที่ใด|แห่งใด|แห่งไหน|(?:จังหวัด|ประเทศ|เมือง|อำเภอ|สถานที่|ภูมิภาค|ภาค|ทวีป)\s?(?:ใด|ไหน|อะไร)"
    r"|(?<![a-z])where(?![a-z])|which (?:country|city|province|place)"
)
_REASON_Q = re.compile(r"ทำไม|เพราะอะไร|เหตุใด|สาเหตุ|เหตุผล|(?<![a-z])why(?![a-z])")
_MANNER_Q = re.compile(r"อย่างไร|ยังไง|แบบไหน|วิธี|(?<![a-z])how(?![a-z])")
# Units that count the same things under another name.
_SAME_UNITS = {
    "คน": ("คน", "ราย", "ท่าน", "people", "persons"),
    "ราย": ("ราย", "คน", "ท่าน"),
    "ท่าน": ("ท่าน", "คน", "ราย"),
    "แห่ง": ("แห่ง", "สถานี", "จุด", "หน่วย"),
    "people": ("people", "persons", "คน", "ราย"),
    "เปอร์เซ็นต์": ("เปอร์เซ็นต์", "%", "ร้อยละ"),
    "%": ("%", "เปอร์เซ็นต์", "ร้อยละ"),
}
# Units that a date answers as well as a number does (กี่ปี: "๔ ปี" or "พ.ศ. ๒๕๖๕ – ๒๕๖๘").
_TIME_UNITS = ("ปี", "เดือน", "วัน", "year", "years", "month", "months", "day", "days")


def asked_for(question: str) -> Asked:
    """The kind of answer ``question`` asks for (``other`` when its words do not say)."""
    q = match_form(question)
    if _DATE_Q.search(q):
        return Asked("date")
    if _MONEY_Q.search(q):
        return Asked("money")
    if _AGENCY_Q.search(q):
        return Asked("agency")
    if _PLACE_Q.search(q):
        return Asked("place")
    if _NUMBER_Q.search(q):
        unit = _UNIT_Q.search(q)
        word = (unit.group(1) or unit.group(2)) if unit else None
        return Asked("number", _unit(word) if word else None)
    if _PERSON_Q.search(q):
        return Asked("person")
    if _REASON_Q.search(q):
        return Asked("reason")
    if _MANNER_Q.search(q):
        return Asked("manner")
    return Asked("other")


# Units a กี่ question counts in, longest first where one starts another (ล้านบาท before ล้าน).
_UNIT_WORDS = (
    "คน ราย ท่าน แห่ง ครั้ง ประเทศ จังหวัด โครงการ หน่วยงาน สถานี กิโลเมตร เมตร ตัน ไร่ ชั่วโมง นาที ลำ คัน เครื่อง "
    "ชุด ฉบับ เรื่อง มาตรการ ครัวเรือน หมู่บ้าน โรงเรียน ตำแหน่ง อำเภอ ด้าน ประการ ข้อ เมกะวัตต์ ลิตร โดส เตียง องค์กร "
    "บริษัท ปี เดือน วัน สัปดาห์ รางวัล ภาษา ประเภท ระยะ ขั้นตอน กลุ่ม ลูก ตัว หลัง แปลง ล้านคน ล้านตัน ล้านบาท "
    "บาท ล้าน แสน หมื่น พัน ร้อย เปอร์เซ็นต์ %"
)
_UNITS = sorted(set(_UNIT_WORDS.split(" ")), key=lambda u: (-len(u), u))


def _unit(word: str) -> str | None:
    """The unit of กี่ X: the known unit X starts with, else its first word (Thai runs on without
    spaces: กี่แห่งทั่วประเทศ → แห่ง)."""
    known = next((u for u in _UNITS if word.startswith(u)), None)
    if known is not None:
        return known
    if word.isascii():
        return word
    from pythainlp.tokenize import word_tokenize

    first = word_tokenize(word, engine="newmm")
    return first[0] if first else None


def kinds_of(text: str, before: str = "", after: str = "") -> frozenset[str]:
    """The kinds ``text`` can be an answer of: ``number`` for any count or amount, ``money``,
    ``date``, ``person``, ``agency``, ``place`` (none: the characters do not say). ``before`` and
    ``after`` are a few characters of the document around the span: a title before a name, a
    unit or a month after a number."""
    t = match_form(text)
    around = match_form(before)[-12:] + " " + t + " " + match_form(after)[:12]
    kinds = set()
    number = bool(_DIGIT.search(t) or _NUMBER_WORDS.search(t))
    if number:
        kinds.add("number")
        if _MONEY.search(around):
            kinds.add("money")
    month = _MONTH.search(t) or (number and _MONTH_ABBREVIATED.search(t))
    if month or _ERA.search(t) or _YEAR.search(t) or (_DATE_WORDS.search(t) and number):
        kinds.add("date")
    if _TITLES.search(match_form(before)[-10:]) or _TITLE_AT_START.search(t) or _ROLES.search(t):
        kinds.add("person")
    if _AGENCY.search(t):
        kinds.add("agency")
    # "ดอลลาร์สหรัฐ" names a currency, not a country.
    # "ณ" as a word before the span, not the end of ประมาณ or บริเวณ.
    at = re.search(r"(?:^|\s)ณ\s*$", match_form(before))
    if (_PLACE.search(t) or at) and "money" not in kinds:
        kinds.add("place")
    return frozenset(kinds)


def fits(asked: Asked, kinds: frozenset[str], text: str, after: str = "") -> bool | None:
    """Whether a span of ``kinds`` answers a question that asked for ``asked``: True, False, or
    None when nothing can be told (an untyped question, or a span whose characters say nothing)."""
    if asked.kind not in TYPED:
        return None
    # A count, an amount or a date is written with digits, number words or a month: a span
    # without them does not answer กี่ / เท่าไร / เมื่อไร, whatever else it is.
    if asked.kind == "number":
        if "number" not in kinds:
            return False
        if asked.unit is None:
            return True
        near = match_form(text + after[:12])
        if any(unit in near for unit in _SAME_UNITS.get(asked.unit, (asked.unit,))):
            return True
        # A date answers กี่ปี; a number with another unit does not answer กี่สถานี.
        return "date" in kinds and asked.unit in _TIME_UNITS
    if asked.kind == "money":
        return "money" in kinds or (None if "number" in kinds else False)
    if asked.kind == "date":
        return "date" in kinds
    # A name with a count or a date beside it ("การประชุม ... ๑๕-๑๖ มิถุนายน ๒๕๖๑ ณ กรุงเทพ") holds
    # the answer among other things: not refused, but not preferred either.
    extra = bool(kinds & {"number", "date", "money"})
    if asked.kind == "person":
        # Who: a person, or the agency that did it.
        if kinds & {"person", "agency"}:
            return None if extra else True
        return False if kinds - {"place"} else None
    if asked.kind == "agency":
        return (None if extra else True) if "agency" in kinds else (False if extra else None)
    # place
    if "place" in kinds:
        return None if extra else True
    return False if extra or "person" in kinds else None
