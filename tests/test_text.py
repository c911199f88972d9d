"""One normaliser for documents and questions."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from corpus.text import normalize_text


def test_split_sara_am_is_composed_with_or_without_a_tone_mark():
    assert normalize_text("น\u0e4d\u0e32") == "นำ"
    assert normalize_text("น\u0e49\u0e4d\u0e32") == "น้ำ"  # tone mark before nikhahit
    assert normalize_text("น\u0e4d\u0e49\u0e32") == "น้ำ"  # tone mark between


def test_sara_am_stays_composed_unlike_nfkc():
    assert normalize_text("น้ำ") == "น้ำ"
    assert unicodedata.normalize("NFKC", "น้ำ") != "น้ำ"  # why we do not use NFKC


def test_invisible_characters_are_removed():
    assert normalize_text("ข้อ\u200bมูล\u200c\u200d\u2060\ufeff\u00ad") == "ข้อมูล"


def test_line_endings_are_unified():
    assert normalize_text("ก\r\nข\rค") == "ก\nข\nค"


def test_thai_digits_and_spacing_are_kept_as_written():
    assert normalize_text("พ.ศ. ๒๕๖๔  2564") == "พ.ศ. ๒๕๖๔  2564"


@given(st.text())
def test_normalising_twice_changes_nothing(text):
    once = normalize_text(text)
    assert normalize_text(once) == once


def test_doubled_marks_are_repaired():
    assert normalize_text("ที่\u0e48ประชุม") == "ที่ประชุม"  # tone mark typed twice
    assert normalize_text("กิ\u0e34น") == "กิน"  # vowel typed twice


def test_a_tone_mark_typed_before_its_vowel_is_put_after_it():
    assert normalize_text("ท\u0e48\u0e35") == "ที่"  # ท + ่ + ี renders as ที่ but is another string


def test_pdf_private_use_area_glyphs_become_thai_marks():
    # Shifted glyphs some Thai PDF fonts use: U+F702 (left Sara Ii) and U+F70A (low Mai Ek).
    assert normalize_text("ท\uf702\uf70aประชุม") == "ที่ประชุม"


@given(st.text(alphabet=st.characters(min_codepoint=0x0E00, max_codepoint=0x0E7F)))
def test_normalising_thai_twice_changes_nothing(text):
    once = normalize_text(text)
    assert normalize_text(once) == once
