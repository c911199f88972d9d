"""Query understanding: equivalent names from the abbreviation file, and years across eras."""

from __future__ import annotations

import pytest

from index.search.expansion import AbbreviationFileError, QueryExpander
from service.settings import BUNDLED_ABBREVIATIONS


@pytest.fixture(scope="module")
def expander() -> QueryExpander:
    return QueryExpander.from_file(BUNDLED_ABBREVIATIONS)


def test_an_abbreviation_brings_its_full_form_and_the_reverse(expander):
    assert "คณะรัฐมนตรี" in expander.expand("ครม. อนุมัติเมื่อไหร่").added
    assert "ครม." in expander.expand("คณะรัฐมนตรีมีมติอะไร").added


def test_the_ministry_is_found_under_all_its_names(expander):
    added = expander.expand("รัฐมนตรีดีอีเสนออะไร").added
    assert {"กระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม", "ดศ.", "MDES"} <= set(added)
    assert "กระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม" in expander.expand("What did MDES sign?").added


def test_the_longest_name_wins_where_names_overlap(expander):
    # "รัฐมนตรี" inside "คณะรัฐมนตรี" is not a minister: no รมต. for the cabinet.
    assert "รมต." not in expander.expand("คณะรัฐมนตรีมีมติ").added


def test_latin_abbreviations_match_whole_words_only(expander):
    assert expander.expand("NT เปิดใช้ความจุกี่ Gbps").added[0].startswith("บริษัท โทรคมนาคมแห่งชาติ")
    assert expander.expand("the INTERNET and an ANTenna").added == ()


@pytest.mark.parametrize(
    ("question", "year"),
    [
        ("แผนงานปี ค.ศ. 2021", "2564"),
        ("ประชุมเมื่อ พ.ศ. ๒๕๖๒", "2019"),  # Thai digits are read too
        ("ช่วงปี 2564–2568", "2021"),
    ],
)
def test_years_are_matched_across_buddhist_and_christian_era(expander, question, year):
    assert year in expander.expand(question).added


def test_numbers_that_are_not_years_are_left_alone(expander):
    assert expander.expand("ความจุ 1024 Gbps และ 9999 วงจร").added == ()


def test_expansion_text_is_the_question_then_the_additions(expander):
    e = expander.expand("ครม. ปี 2021")
    assert e.text.startswith("ครม. ปี 2021 ") and e.text.endswith(" 2564")


def test_a_group_of_one_form_is_refused_naming_the_line(tmp_path):
    bad = tmp_path / "abbr.tsv"
    bad.write_text("# comment\nครม.\tคณะรัฐมนตรี\nดศ.\n", "utf-8")
    with pytest.raises(AbbreviationFileError, match="line 3"):
        QueryExpander.from_file(bad)


def test_a_missing_file_is_refused_naming_it(tmp_path):
    with pytest.raises(AbbreviationFileError, match="nothing.tsv"):
        QueryExpander.from_file(tmp_path / "nothing.tsv")
