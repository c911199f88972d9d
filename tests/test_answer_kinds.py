"""What a question asks for and what a span is: the rules the answer's choice leans on
(index.search.answer_kinds), on real Thai and English questions of the government register."""

from __future__ import annotations

import pytest

from index.search.answer_kinds import Asked, asked_for, fits, kinds_of


@pytest.mark.parametrize(
    ("question", "kind", "unit"),
    [
        ("ASIA Direct Cable รองรับการใช้งานได้กี่ Tbps", "number", "tbps"),
        ("ติดตั้งอุปกรณ์เพิ่มความจุโครงข่ายไปกี่สถานี", "number", "สถานี"),
        ("ไทยได้รับรางวัล ASEAN ICT Award กี่รางวัลครับ", "number", "รางวัล"),
        ("ความจุรวมของระบบคือเท่าไร", "number", None),
        ("กองทุน JAIF ให้เงินสนับสนุนโครงการนี้เท่าไร", "money", None),
        ("ประชุมผู้นำ ACMECS ครั้งที่ 8 เมื่อเดือนมิถุนายน ค.ศ. 2018 จัดที่ไหน", "place", None),
        ("การประชุมจัดขึ้นเมื่อไร", "date", None),
        ("ครม. อนุมัติเมื่อวันที่เท่าไร", "date", None),
        ("ใครเป็นประธานการประชุม", "person", None),
        ("หน่วยงานใดรับผิดชอบศูนย์ต่อต้านการทุจริต", "agency", None),
        ("ทำไมต้องตั้งศูนย์นี้", "reason", None),
        ("ล้างมืออย่างไรให้ถูกวิธี", "manner", None),
        ("How many Tbps does the cable carry?", "number", "tbps"),
        ("When was the meeting held?", "date", None),
        ("Who chaired the meeting?", "person", None),
        ("Where was the ACMECS summit held?", "place", None),
        ("ACMECS คืออะไร", "other", None),
    ],
)
def test_the_question_says_which_kind_of_answer_it_wants(question, kind, unit):
    asked = asked_for(question)
    assert asked.kind == kind
    assert asked.unit == unit


@pytest.mark.parametrize(
    ("text", "before", "after", "expected"),
    [
        ("9 Tbps", "", "", {"number"}),
        ("๔ ปี", "", "", {"number"}),
        ("๕๐๐,๐๐๐ ดอลลาร์สหรัฐ", "", "", {"number", "money"}),
        ("๑๕-๑๖ มิถุนายน ๒๕๖๑", "", "", {"number", "date"}),
        ("พ.ศ. ๒๕๖๕", "", "", {"number", "date"}),
        ("ประยุทธ์ จันทร์โอชา", "พลเอก ", "", {"person"}),
        ("กระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม", "", "", {"agency"}),
        ("กรุงเทพ", "๒๕๖๑ ณ ", "", {"place"}),
        ("จังหวัดชลบุรี", "", "", {"place"}),
        ("ความร่วมมือ", "", "", set()),
    ],
)
def test_a_span_shows_its_kind_in_its_characters(text, before, after, expected):
    assert kinds_of(text, before, after) == expected


def test_a_number_with_another_unit_does_not_answer_a_question_about_this_unit():
    asked = asked_for("ASIA Direct Cable รองรับการใช้งานได้กี่ Tbps")
    assert fits(asked, kinds_of("6 ประเทศ"), "6 ประเทศ") is False
    assert fits(asked, kinds_of("9 Tbps"), "9 Tbps") is True
    # The unit may follow the reader's words in the document.
    assert fits(asked, kinds_of("9", after=" Tbps และ"), "9", after=" Tbps และ") is True


def test_a_duration_or_date_answers_how_many_years_but_a_place_answers_no_number():
    years = asked_for("โครงการนี้ใช้เวลากี่ปี")
    assert fits(years, kinds_of("พ.ศ. ๒๕๖๕ - ๒๕๖๘"), "พ.ศ. ๒๕๖๕ - ๒๕๖๘") is True
    assert fits(years, kinds_of("จังหวัดชลบุรี"), "จังหวัดชลบุรี") is False


def test_wrong_kinds_seen_on_government_questions_are_refused():
    assert fits(asked_for("ความจุรวมของระบบคือเท่าไร"), kinds_of("จังหวัดชลบุรี"), "จังหวัดชลบุรี") is False
    assert fits(asked_for("กองทุน JAIF ให้เงินสนับสนุนเท่าไร"), kinds_of("๔ ปี"), "๔ ปี") is None
    assert fits(asked_for("กองทุน JAIF ให้เงินสนับสนุนเท่าไร"), kinds_of("๕๐,๐๐๐ ดอลลาร์"), "๕๐,๐๐๐ ดอลลาร์")
    assert fits(asked_for("นายเนวินธุ์ อายุเท่าไร"), kinds_of("นายเนวินธุ์"), "นายเนวินธุ์") is False
    assert fits(asked_for("จัดที่ไหน"), kinds_of("๑๕-๑๖ มิถุนายน ๒๕๖๑"), "๑๕-๑๖ มิถุนายน ๒๕๖๑") is False


def test_an_untyped_question_takes_any_span():
    assert fits(Asked("other"), kinds_of("๙ Tbps"), "๙ Tbps") is None
    assert fits(Asked("reason"), frozenset(), "เพราะ") is None


def test_a_name_with_a_date_beside_it_is_not_preferred_over_the_name_alone():
    asked = asked_for("ประชุมผู้นำ ACMECS ครั้งที่ 8 จัดที่ไหน")
    long = "ครั้งที่ ๘ เมื่อวันที่ ๑๕-๑๖ มิถุนายน ๒๕๖๑ ณ กรุงเทพ"
    assert fits(asked, kinds_of(long), long) is None
    assert fits(asked, kinds_of("กรุงเทพ", "๒๕๖๑ ณ "), "กรุงเทพ") is True


@pytest.mark.parametrize(
    ("question", "kind", "unit"),
    [
        ("ครม.มีมติเกี่ยวกับเรื่องใด", "other", None),  # เกี่ยว holds กี่ but asks no number
        ("ใครเกี่ยวข้องกับโครงการนี้", "person", None),
        ("มีสถานีกี่แห่งทั่วประเทศ", "number", "แห่ง"),  # the unit, not the rest of the question
        ("เมื่อวันที่ 5 มิ.ย. 2568 ใครเป็นประธาน", "person", None),  # a date it mentions is not asked
        ("นายกรัฐมนตรีเดินทางไปที่ใดเมื่อวันที่ 3 มิ.ย.", "place", None),
    ],
)
def test_words_inside_other_words_and_dates_mentioned_do_not_decide_the_kind(question, kind, unit):
    assert asked_for(question) == Asked(kind, unit)


@pytest.mark.parametrize(
    ("text", "before", "expected"),
    [
        ("ความสัมพันธ์ไทย", "", {"place"}),  # พัน in สัมพันธ์ is no number
        ("สามารถดำเนินการได้เรียบร้อย", "", set()),
        ("สำนักงาน ก.พ.", "", {"agency"}),  # the commission, not February
        ("5 ต.ค. 2568", "", {"number", "date"}),  # ต.ค. is October, not a ตำบล
        ("๒๕๖๘", "พ.ศ. ", {"number", "date"}),  # the ศ. of พ.ศ. is no professor's title
        ("ดำเนินการแล้ว", "ประมาณ ", set()),  # ประมาณ ends in ณ but says no place
    ],
)
def test_abbreviations_and_words_inside_words_do_not_give_a_span_a_kind(text, before, expected):
    assert kinds_of(text, before) == expected
