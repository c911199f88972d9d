"""Chunking keeps exact offsets and never cuts inside a Thai word or character cluster."""

from __future__ import annotations

from itertools import accumulate

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pythainlp.tokenize import tcc

from index.build.chunking import ChunkerConfig, chunk_text, split_sentences
from corpus.text import normalize_text
from tests.fakes import FakeEmbedder
from tests.helpers import chunker_config

count = FakeEmbedder().count_tokens

THAI_WORDS = [
    "กระทรวง",
    "ดิจิทัล",
    "เพื่อ",
    "เศรษฐกิจ",
    "และ",
    "สังคม",
    "คณะรัฐมนตรี",
    "อาเซียน",
    "การประชุม",
    "น้ำ",
    "ใจ",
    "กำลัง",
    "ที่",
    "ได้",
    "ไม่",
    "เป็น",
    "ความร่วมมือ",
    "ประเทศไทย",
    "ทุจริต",
    "ครั้งที่",
    "๒๕๖๔",
    "2564",
    "ดศ.",
    "ครม.",
    "(ดศ.)",
    "พ.ศ.",
    "ฯ",
    "ๆ",
]
ENGLISH_WORDS = ["ASEAN", "Digital", "Ministers", "Meeting", "ICT", "Award", "2021.", "the", "of", "e-Government"]
THAI_CHARS = [chr(c) for c in range(0x0E01, 0x0E5C) if chr(c).isprintable()]
SPACES = [" ", " ", "  ", "\n", "\n\n", "\u00a0", "\t", ". ", "! ", "? "]

token = st.one_of(
    st.sampled_from(THAI_WORDS),
    st.sampled_from(ENGLISH_WORDS),
    st.text(alphabet=THAI_CHARS, min_size=1, max_size=12),  # arbitrary (even ill-formed) Thai
    st.text(alphabet="abcxyzABC0123456789-/.,()", min_size=1, max_size=8),
)
documents = st.lists(st.tuples(token, st.sampled_from(SPACES + [""] * 6)), max_size=120).map(
    lambda parts: normalize_text("".join(w + s for w, s in parts))
)
configs = st.sampled_from(
    [
        ChunkerConfig(chunk_tokens=32, overlap_tokens=8),
        ChunkerConfig(chunk_tokens=64, overlap_tokens=0),
        ChunkerConfig(chunk_tokens=200, overlap_tokens=40),
    ]
)


def cluster_boundaries(text: str) -> set[int]:
    clusters = tcc.segment(text)
    assert "".join(clusters) == text
    return {0, *accumulate(len(c) for c in clusters)}


def check_chunks(text: str, config: ChunkerConfig) -> None:
    chunks = chunk_text(text, count, config)
    boundaries = cluster_boundaries(text)
    covered = [False] * len(text)
    for chunk in chunks:
        piece = text[chunk.char_start : chunk.char_end]
        assert piece and piece == piece.strip(), "a chunk is non-empty and trimmed"
        assert chunk.char_start in boundaries and chunk.char_end in boundaries, (
            f"cut inside a character cluster: {text[max(0, chunk.char_start - 3) : chunk.char_end + 3]!r}"
        )
        single_cluster = chunk.char_end - chunk.char_start == len(tcc.segment(piece)[0])
        assert chunk.n_tokens <= config.chunk_tokens or single_cluster
        for i in range(chunk.char_start, chunk.char_end):
            covered[i] = True
    assert all(covered[i] or text[i].isspace() for i in range(len(text))), "no text is dropped"
    starts = [c.char_start for c in chunks]
    ends = [c.char_end for c in chunks]
    assert starts == sorted(set(starts)) and ends == sorted(set(ends)), "chunks advance"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=documents, config=configs)
def test_chunks_are_exact_slices_cut_only_between_clusters(text, config):
    check_chunks(text, config)


def test_bundled_corpus_chunks_are_exact_slices(bundled_documents):
    for doc in bundled_documents:
        for config in (
            ChunkerConfig(chunk_tokens=200, overlap_tokens=40),
            ChunkerConfig(chunk_tokens=48, overlap_tokens=8),
        ):
            check_chunks(doc.text, config)


def test_chunks_overlap_by_whole_sentences_within_the_overlap_budget(bundled_documents):
    doc = next(d for d in bundled_documents if d.doc_id == "adgmin-2-results-2022")
    config = ChunkerConfig(chunk_tokens=120, overlap_tokens=30)
    chunks = chunk_text(doc.text, count, config)
    sentence_starts = {a for a, _ in split_sentences(doc.text)}
    overlapping = 0
    for prev, nxt in zip(chunks, chunks[1:]):
        if nxt.char_start < prev.char_end:
            overlapping += 1
            assert nxt.char_start in sentence_starts, "the overlap is whole sentences"
            assert count([doc.text[nxt.char_start : prev.char_end]])[0] <= config.overlap_tokens + 2
    assert overlapping >= len(chunks) // 3, "most cuts carry some context over"


def test_zero_overlap_gives_disjoint_chunks(bundled_documents):
    doc = bundled_documents[0]
    chunks = chunk_text(doc.text, count, ChunkerConfig(chunk_tokens=100, overlap_tokens=0))
    assert all(a.char_end <= b.char_start for a, b in zip(chunks, chunks[1:]))


def test_an_overlong_thai_sentence_is_cut_at_word_boundaries():
    sentence = "กระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคมร่วมมือกับประเทศสมาชิกอาเซียน" * 6  # no spaces at all
    chunks = chunk_text(sentence, count, ChunkerConfig(chunk_tokens=20, overlap_tokens=0))
    assert len(chunks) > 1
    words = {"กระทรวง", "ดิจิทัล", "เพื่อ", "เศรษฐกิจ", "และ", "สังคม", "ร่วมมือ", "กับ", "ประเทศ", "สมาชิก", "อาเซียน"}
    for chunk in chunks[:-1]:
        assert any(sentence[: chunk.char_end].endswith(w) for w in words), sentence[
            chunk.char_end - 10 : chunk.char_end + 5
        ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A dot after an abbreviation is not a sentence end.
        (
            "ตามที่กระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม (ดศ.) เสนอผลการประชุม",
            ["ตามที่กระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม (ดศ.) เสนอผลการประชุม"],
        ),
        # A list marker belongs to its item.
        ("1. ชื่อ ที่อยู่ และหมายเลขโทรศัพท์\n2. ชื่อหรือตำแหน่ง", ["1. ชื่อ ที่อยู่ และหมายเลขโทรศัพท์", "2. ชื่อหรือตำแหน่ง"]),
        # A line break always ends a sentence.
        ("หัวข้อ\nเนื้อหา", ["หัวข้อ", "เนื้อหา"]),
        ("", []),
        ("   \n  ", []),
    ],
)
def test_sentence_splitting(text, expected):
    assert [text[a:b] for a, b in split_sentences(text)] == expected


def test_english_sentences_split_at_full_stops():
    text = "The meeting was held online. Thailand won four awards! Who chaired it?"
    assert len(split_sentences(text)) == 3


def test_empty_text_has_no_chunks():
    assert chunk_text("", count, chunker_config()) == []
    assert chunk_text(" \n\n ", count, chunker_config()) == []


# Unbroken text (issue 26: 3 MB of Thai with no space took 15 minutes to chunk and stalled every
# question 4.6 s a MB, in the sentence model holding the GIL) --------------------------------------


def unbroken_thai(n: int) -> str:
    """``n`` characters of the bundled documents' Thai with every space, line break and non-Thai
    character taken out: real words, no sentence end anywhere."""
    from pathlib import Path

    import corpus

    text = "".join(p.read_text("utf-8") for p in sorted((Path(corpus.__file__).parent / "documents").glob("*.txt")))
    thai = "".join(c for c in normalize_text(text) if "\u0e01" <= c <= "\u0e5b")
    return (thai * (n // len(thai) + 1))[:n]


def test_the_segmenters_never_read_more_than_a_bounded_run_of_unbroken_thai(monkeypatch):
    import index.build.chunking as chunking

    read: list[int] = []
    for name in ("sent_tokenize", "word_tokenize"):
        real = getattr(chunking, name)
        monkeypatch.setattr(chunking, name, lambda text, _real=real, **kw: read.append(len(text)) or _real(text, **kw))
    text = unbroken_thai(30_000)
    config = ChunkerConfig(chunk_tokens=200, overlap_tokens=40)
    chunks = chunk_text(text, FakeEmbedder().count_tokens, config)
    assert read and max(read) <= config.max_run, f"a segmenter read {max(read):,} characters at once"
    assert sum(read) < 4 * len(text), "each stretch is read a bounded number of times"
    assert chunks[0].char_start == 0 and chunks[-1].char_end == len(text)
    assert all(b.char_start <= a.char_end for a, b in zip(chunks, chunks[1:])), "the chunks leave nothing out"


def test_unbroken_thai_becomes_bounded_sentences_that_tile_it_on_cluster_boundaries():
    text = unbroken_thai(10_000)
    sentences = split_sentences(text, max_run=1_000)
    assert len(sentences) >= 10 and all(b - a <= 1_000 for a, b in sentences)
    assert sentences[0][0] == 0 and sentences[-1][1] == len(text)
    assert all(a[1] == b[0] for a, b in zip(sentences, sentences[1:])), "no gaps, no overlaps"
    boundaries = set(accumulate(len(c) for c in tcc.segment(text)))
    assert all(b in boundaries for _, b in sentences), "never inside a character cluster"


def test_lines_within_the_bound_are_split_as_they_always_were():
    line = " ".join(["ประชุมผู้นำ ACMECS ครั้งที่ ๘ จัดที่กรุงเทพ", "ที่ประชุมเห็นชอบแผนงานใหม่"] * 40)
    assert len(line) < 4_000
    assert split_sentences(line) == split_sentences(line, max_run=10**9)
