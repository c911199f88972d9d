"""One normaliser for documents and questions."""

from __future__ import annotations

import time
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import corpus.text as corpus_text
from corpus.text import has_visible_text, normalize_text


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


# The normaliser as it was before it was made linear: a pass at a time until nothing changes.
def _normalize_one_pass_at_a_time(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").translate(corpus_text._PUA_THAI)
    text = unicodedata.normalize("NFC", text).translate(corpus_text._INVISIBLE)
    while True:
        repaired = unicodedata.normalize("NFC", corpus_text._SPLIT_SARA_AM.sub("\\1\u0e33", text))
        repaired = corpus_text._TONE_BEFORE_VOWEL.sub("\\2\\1", repaired)
        repaired = corpus_text._DOUBLED_MARK.sub("\\1", repaired)
        if repaired == text:
            return text
        text = repaired


# Thai consonants, the vowels and marks the repair moves or merges, Sara Aa and Am, and other
# scripts' combining marks (canonical ordering moves them too).
_MARKS = "\u0e31\u0e34\u0e35\u0e36\u0e37\u0e38\u0e39\u0e3a\u0e47\u0e48\u0e49\u0e4a\u0e4b\u0e4c\u0e4d\u0e4e\u0e32\u0e33"
_CRAFTED = st.text(alphabet=st.sampled_from([*_MARKS, "ก", "ท", "น", " ", "e", "\u0301", "\u0323", "\uf70a"]))


@given(st.one_of(st.text(alphabet=st.characters(min_codepoint=0x0E00, max_codepoint=0x0E7F)), _CRAFTED))
def test_normalising_gives_what_repeating_passes_gave(text):
    assert normalize_text(text) == _normalize_one_pass_at_a_time(text)


@given(_CRAFTED)
def test_the_one_sweep_repair_gives_what_more_passes_give(text):
    # Real text never needs the sweep; here it takes over after the first pass.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(corpus_text, "_FAST_PASSES", 1)
        assert normalize_text(text) == _normalize_one_pass_at_a_time(text)


def test_normalising_real_thai_documents_is_unchanged():
    for path in sorted((Path(__file__).parents[1] / "corpus" / "documents").glob("*.txt")):
        text = path.read_text("utf-8")
        assert normalize_text(text) == _normalize_one_pass_at_a_time(text), path.name


def _best_time(text: str) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        normalize_text(text)
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.parametrize(
    "attack",
    [
        lambda n: "ก" + "\u0e48\u0e49" * n + "\u0e34\u0e35" * n,  # tone marks typed before their vowels
        lambda n: "ที" + "\u0e4b\u0e38" * n,  # tone marks before lower vowels: canonical order reverses them
        lambda n: "e" + "\u0323\u0301" * n,  # the same for Latin accents
    ],
    ids=["tones-before-vowels", "thai-marks-out-of-order", "latin-marks-out-of-order"],
)
def test_normalising_takes_linear_time_on_marks_built_to_need_many_passes(attack):
    # Four times the text: about four times the time (quadratic: sixteen). Timed against the same
    # function on a quarter of the text, so the machine's speed cancels out.
    small, large = _best_time(attack(500)), _best_time(attack(2_000))
    assert large < 10 * small + 0.002, f"{small * 1000:.1f} ms, then {large * 1000:.1f} ms for four times the text"


def test_only_three_characters_of_class_zero_decompose_into_marks():
    found = {
        c
        for c in map(chr, range(0x110000))
        if not unicodedata.combining(c)
        and unicodedata.decomposition(c)[:1] not in ("", "<")
        and all(unicodedata.combining(d) for d in unicodedata.normalize("NFD", c))
    }
    assert found == set(corpus_text._DECOMPOSED_INTO_MARKS)
    assert not any(unicodedata.combining(chr(c)) for c in [*range(0x300), *range(0x20000, 0x110000)])


@given(st.text())
def test_a_blank_text_is_blank_normalised_or_not(text):
    assert has_visible_text(text) == has_visible_text(normalize_text(text))
