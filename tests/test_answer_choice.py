"""Choosing the answer among the reader's spans and the confidence ladder (index.search.answer_choice):
spans of the asked-for kind win near-ties, copies of the question lose, the answer can come from
a passage other than the first without reordering the list, and each rung is said when it should."""

from __future__ import annotations

import dataclasses

from index.search.answer_choice import Candidate, ChoiceConfig, ReadPassage, choose
from index.search.answer_kinds import asked_for

CONFIG = ChoiceConfig(
    read=3,
    weight=0.0,
    answer_weight=0.5,
    kind_bonus=2.0,
    kind_penalty=4.0,
    copy_penalty=4.0,
    words_margin=0.0,
    none_margin=-5.0,
    sentence_threshold=0.5,
)
TEXT = "ระบบเคเบิลใต้น้ำ ASIA Direct Cable เชื่อม 6 ประเทศ รองรับการใช้งานได้ 9 Tbps"


def _candidate(text: str, margin: float, doc: str = TEXT) -> Candidate:
    start = doc.index(text)
    end = start + len(text)
    return Candidate(text, doc[max(0, start - 16) : start], doc[end : end + 16], margin, 0.0, start, end)


def _passage(score: float, *candidates: Candidate, sentence: float = 1.0) -> ReadPassage:
    return ReadPassage(score, list(candidates), [(0, len(TEXT), sentence)])


def test_a_span_of_the_asked_kind_beats_a_slightly_better_span_of_another_kind():
    question = "ASIA Direct Cable รองรับการใช้งานได้กี่ Tbps"
    passage = _passage(1.0, _candidate("6 ประเทศ", 3.0), _candidate("9 Tbps", 2.0))
    decision = choose(asked_for(question), [passage], CONFIG, question)
    assert decision.candidate.text == "9 Tbps" and decision.kind == "words" and decision.fits is True
    # Without kinds, the reader's own best wins.
    plain = dataclasses.replace(CONFIG, kind_bonus=0.0, kind_penalty=0.0)
    assert choose(asked_for(question), [passage], plain, question).candidate.text == "6 ประเทศ"


def test_a_span_that_repeats_the_question_is_not_shown_as_the_answer():
    question = "ASIA Direct Cable เชื่อมกี่ประเทศ"
    passage = _passage(1.0, _candidate("ASIA Direct Cable", 6.0), _candidate("6 ประเทศ", 1.0))
    decision = choose(asked_for(question), [passage], CONFIG, question)
    assert decision.candidate.text == "6 ประเทศ"


def test_the_answer_can_come_from_the_second_passage_while_the_list_keeps_retrievals_order():
    question = "ASIA Direct Cable รองรับการใช้งานได้กี่ Tbps"
    first = _passage(2.0, _candidate("ระบบเคเบิลใต้น้ำ", -3.0))
    second = _passage(1.9, _candidate("9 Tbps", 4.0))
    third = _passage(0.5, _candidate("6 ประเทศ", -4.0))
    decision = choose(asked_for(question), [first, second, third], CONFIG, question)
    assert decision.order == [0, 1, 2], "weight 0: the ranking is retrieval's"
    assert decision.passage == 1 and decision.candidate.text == "9 Tbps"


def test_the_ladder_shows_words_then_the_sentence_then_nothing():
    question = "ระบบนี้รองรับการใช้งานได้กี่ Tbps"
    sure = choose(asked_for(question), [_passage(1.0, _candidate("9 Tbps", 2.0))], CONFIG, question)
    assert sure.kind == "words"
    # Right passage, unsure span: the sentence, without bold words.
    unsure = choose(asked_for(question), [_passage(1.0, _candidate("9 Tbps", -2.0))], CONFIG, question)
    assert unsure.kind == "sentence" and unsure.sentence == (0, len(TEXT))
    # A span of the wrong kind is never shown as the exact words, however sure the reader is.
    wrong = choose(asked_for(question), [_passage(1.0, _candidate("6 ประเทศ", 6.0))], CONFIG, question)
    assert wrong.kind == "sentence" and wrong.fits is False
    # Nothing close enough: no answer, whether the reader is unsure or no sentence is similar.
    silent = choose(asked_for(question), [_passage(1.0, _candidate("9 Tbps", -6.0))], CONFIG, question)
    assert silent.kind == "none"
    far = choose(asked_for(question), [_passage(1.0, _candidate("9 Tbps", 2.0), sentence=0.1)], CONFIG, question)
    assert far.kind == "none"


def test_no_span_anywhere_is_no_answer():
    decision = choose(asked_for("กี่ Tbps"), [ReadPassage(1.0, [], [])], CONFIG, "กี่ Tbps")
    assert decision.kind == "none" and decision.passage is None and decision.candidate is None


def test_a_span_that_only_rewords_the_question_counts_as_a_copy():
    from index.search.answer_choice import copies_question

    question = "ประชุมผู้นำ ACMECS ครั้งที่ 8 เมื่อเดือนมิถุนายน ค.ศ. 2018 จัดที่ไหน"
    doc = "โดยมีการประชุมที่สำคัญที่ผ่านมาคือ การประชุมผู้นำ ACMECS ครั้งที่ ๘ เมื่อวันที่ ๑๕-๑๖ มิถุนายน ๒๕๖๑ ณ กรุงเทพ"
    assert copies_question(_candidate("การประชุมผู้นำ ACMECS ครั้งที่ ๘", 1.0, doc), question)
    assert not copies_question(_candidate("กรุงเทพ", 1.0, doc), question)
    assert not copies_question(_candidate("๑๕-๑๖ มิถุนายน ๒๕๖๑", 1.0, doc), question)


def test_a_word_that_only_introduces_the_answer_is_left_out_with_exact_offsets():
    doc = "การประชุมผู้นำ ACMECS ครั้งที่ ๘ เมื่อวันที่ ๑๕-๑๖ มิถุนายน ๒๕๖๑ ณ กรุงเทพ ซึ่ง"
    question = "ประชุมผู้นำ ACMECS ครั้งที่ 8 จัดที่ไหน"
    passage = ReadPassage(1.0, [_candidate("ณ กรุงเทพ", 2.0, doc)], [(0, len(doc), 1.0)])
    answer = choose(asked_for(question), [passage], CONFIG, question).candidate
    assert answer.text == "กรุงเทพ" == doc[answer.char_start : answer.char_end]


def test_the_answer_comes_from_a_passage_the_response_lists():
    question = "ASIA Direct Cable รองรับการใช้งานได้กี่ Tbps"
    first = _passage(2.0, _candidate("ระบบเคเบิลใต้น้ำ", -3.0))
    second = _passage(1.9, _candidate("9 Tbps", 4.0))
    third = _passage(0.5, _candidate("6 ประเทศ", -4.0))
    read = [first, second, third]
    assert choose(asked_for(question), read, CONFIG, question, listed=3).passage == 1
    decision = choose(asked_for(question), read, CONFIG, question, listed=1)
    assert decision.passage == 0, "with one passage listed, the answer is from that one"


def test_kind_penalties_do_not_make_the_reader_less_sure_that_something_answers():
    question = "ASIA Direct Cable รองรับการใช้งานได้กี่ Tbps"
    wrong_kind = _passage(1.0, _candidate("6 ประเทศ", -5.0), _candidate("ระบบเคเบิลใต้น้ำ", -5.2))
    decision = choose(asked_for(question), [wrong_kind], CONFIG, question)
    assert decision.margin == -5.0 and decision.kind == "sentence", "the reader's best margin, kinds aside"
