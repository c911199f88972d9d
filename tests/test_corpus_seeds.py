"""The seed pages become the bundled corpus: cleaned without rewriting, with metadata."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scripts.import_seeds import (
    DEFAULT_OUT_DIR,
    DEFAULT_SEEDS_DIR,
    SEED_METADATA,
    clean_web_text,
    import_seeds,
    parse_thai_date,
)

SEEDS_DIR = DEFAULT_SEEDS_DIR.resolve()
DOCS_DIR = DEFAULT_OUT_DIR
THAIGOV_URL = "https://www.thaigov.go.th/news/contents/details/38530"

needs_seeds = pytest.mark.skipif(
    not SEEDS_DIR.is_dir(),
    reason=f"seed pages not available at {SEEDS_DIR} (../shared/seeds from the repo root)",
)
SEED_NAMES = sorted(SEED_METADATA)


def seed_text(name: str) -> str:
    return (SEEDS_DIR / name).read_text(encoding="utf-8")


def committed_text(name: str) -> str:
    return (DOCS_DIR / f"{SEED_METADATA[name].doc_id}.txt").read_text(encoding="utf-8")


# What removing only markup may take away around a kept line.
_MARKUP_BEFORE = re.compile(r"(?:\s|\||!\[\]\([^)\s]*\))*")
_MARKUP_AFTER = re.compile(r"[\s|]*")


def derives_from(line: str, source_line: str) -> bool:
    """``line`` is ``source_line`` verbatim, or with only table/image markup
    (and whitespace next to it) removed from its ends."""
    if source_line.rstrip() == line:
        return True
    start = source_line.find(line)
    while start != -1:
        if _MARKUP_BEFORE.fullmatch(source_line[:start]) and _MARKUP_AFTER.fullmatch(source_line[start + len(line) :]):
            return True
        start = source_line.find(line, start + 1)
    return False


def without_markup(source_line: str) -> str:
    return re.sub(r"!\[\]\([^)\s]*\)\s*", "", source_line).strip(" \t\u00a0|")


# ---------------------------------------------------------------------------
# The committed corpus files
# ---------------------------------------------------------------------------


@needs_seeds
def test_committed_documents_equal_a_fresh_import_of_the_seeds(tmp_path: Path) -> None:
    written = import_seeds(SEEDS_DIR, tmp_path)
    assert len(written) == 2 * len(SEED_METADATA)
    for path in written:
        committed = DOCS_DIR / path.name
        assert committed.is_file(), f"{committed} is not committed; run python scripts/import_seeds.py"
        assert committed.read_bytes() == path.read_bytes(), f"{committed} is stale; run python scripts/import_seeds.py"


@needs_seeds
def test_import_is_deterministic_and_well_formed(tmp_path: Path) -> None:
    first = import_seeds(SEEDS_DIR, tmp_path / "a")
    second = import_seeds(SEEDS_DIR, tmp_path / "b")
    assert [p.name for p in first] == [p.name for p in second]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes()
    for path in first:
        raw = path.read_bytes()
        assert raw.endswith(b"\n") and not raw.endswith(b"\n\n")
        assert b"\r" not in raw
        if path.suffix == ".json":
            data = json.loads(raw.decode("utf-8"))
            assert raw.decode("utf-8") == (json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n")
            assert "\\u0e" not in raw.decode("utf-8")  # Thai written as Thai


@needs_seeds
def test_a_seed_without_metadata_is_refused(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for name in SEED_NAMES:
        (seeds / name).write_text(seed_text(name), encoding="utf-8")
    (seeds / "005_unknown.txt").write_text("ข่าวใหม่\n", encoding="utf-8")
    with pytest.raises(ValueError, match="005_unknown.txt"):
        import_seeds(seeds, tmp_path / "out")


# ---------------------------------------------------------------------------
# Cleaning never rewrites text (real seeds)
# ---------------------------------------------------------------------------


@needs_seeds
@pytest.mark.parametrize("name", SEED_NAMES)
def test_every_kept_line_is_the_seed_line_or_it_without_markup(name: str) -> None:
    source_lines = seed_text(name).split("\n")
    for line in clean_web_text(seed_text(name)).split("\n"):
        if line:
            assert any(derives_from(line, s) for s in source_lines), line


@needs_seeds
@pytest.mark.parametrize("name", SEED_NAMES)
def test_kept_lines_stay_in_seed_order(name: str) -> None:
    source_lines = seed_text(name).split("\n")
    body = [ln for ln in clean_web_text(seed_text(name)).split("\n")[1:] if ln]
    pos = 0
    for line in body:
        found = next(
            (i for i in range(pos, len(source_lines)) if derives_from(line, source_lines[i])),
            None,
        )
        assert found is not None, f"out of order or not from the seed: {line!r}"
        pos = found + 1


@needs_seeds
@pytest.mark.parametrize("name", SEED_NAMES)
def test_no_seed_text_is_lost(name: str) -> None:
    cleaned_lines = clean_web_text(seed_text(name)).split("\n")
    kept = set(cleaned_lines)
    title = cleaned_lines[0]
    source_lines = [s.rstrip() for s in seed_text(name).split("\n")]
    for n, s in enumerate(source_lines):
        text = without_markup(s)
        if not text or re.fullmatch(r"[\s|:*_=~\-]*", s):
            continue  # blank, NBSP-only, table debris or separator
        if re.fullmatch(r"- (?:Details|Category: .*|Published: .*|Hits: \d+)", s):
            continue  # Joomla header block
        if text == title or text.endswith("-" + title):
            continue  # title repeated, or site-breadcrumb-title
        if n == len(source_lines) - 1 and re.fullmatch(r"[A-Z]\d{4}", s):
            continue  # page code
        assert text in kept, f"seed line {n + 1} lost: {s[:80]!r}"


@needs_seeds
def test_cleaning_shrinks_each_seed_only_by_boilerplate() -> None:
    # Thai letters go only with repeated titles, the breadcrumb and the header block.
    thai = re.compile(r"[\u0e00-\u0e7f]")
    for name in SEED_NAMES:
        raw, cleaned = seed_text(name), clean_web_text(seed_text(name))
        title = cleaned.split("\n")[0]
        repeats = sum(without_markup(ln) == title or ln.endswith("-" + title) for ln in raw.split("\n")) - 1
        lost = len(thai.findall(raw)) - len(thai.findall(cleaned))
        breadcrumb = len(thai.findall("รัฐบาลไทย-ข่าวทำเนียบรัฐบาล-")) if name.startswith("004") else 0
        header = sum(len(thai.findall(ln)) for ln in raw.split("\n") if re.match(r"- Category: ", ln))
        assert lost == repeats * len(thai.findall(title)) + breadcrumb + header, name


# ---------------------------------------------------------------------------
# Boilerplate is gone (real seeds)
# ---------------------------------------------------------------------------


@needs_seeds
@pytest.mark.parametrize("name", SEED_NAMES)
def test_boilerplate_is_gone_from_the_real_seeds(name: str) -> None:
    cleaned = clean_web_text(seed_text(name))
    lines = cleaned.split("\n")
    for header in ("- Details", "- Category:", "- Published:", "- Hits:"):
        assert not any(ln.startswith(header) for ln in lines)
    assert "![]" not in cleaned
    assert "\u00a0" not in cleaned  # the seeds' only NBSPs are NBSP-only lines
    assert "รัฐบาลไทย-ข่าวทำเนียบรัฐบาล-" not in cleaned
    assert lines[-1] != "A4442" and "A4442" not in cleaned
    for ln in lines:
        assert ln == ln.rstrip()
        assert not ln.endswith("|") and not ln.startswith("|")
        assert not re.fullmatch(r"[\s|:*_=~\-]+", ln), ln
    assert lines[0] and lines[-1]
    assert "\n\n\n" not in cleaned


@needs_seeds
def test_table_rows_of_the_cabinet_resolution_become_paragraphs() -> None:
    cleaned = clean_web_text(seed_text("000_2c03a6852bbdb834.txt"))
    assert "\n\n1. พิธีเปิดการประชุมฯ\nรัฐมนตรีว่าการกระทรวงคมนาคมขนส่ง" in cleaned
    assert "ประเด็น\nผลการประชุมฯ\n\nการประชุมรัฐมนตรีอาเซียนด้านดิจิทัล ครั้งที่ 2 (วันที่ 27 มกราคม 2565)\n\n" in cleaned


@needs_seeds
def test_inner_table_pipes_between_cells_are_kept() -> None:
    lines = clean_web_text(seed_text("003_0fd817796ed63376.txt")).split("\n")
    assert 'วิสัยทัศน์ | "กระทรวงดิจิทัลฯ ใสสะอาด ปราศจากทุจริต"' in lines
    assert "เป้าประสงค์ | 1. เพื่อสร้างจิตสำนึกและปลูกฝังความซื่อสัตย์สุจริต" in lines
    assert "2. สร้างกลไกป้องกันและปราบปรามการทุจริต" in lines  # "| |" cell ends gone
    assert "นางสาวสุกันยาณี ยะวิญชาญ" in lines  # image markup gone
    # Repeated sub-headings that are not the title stay.
    assert lines.count("สถานะปัจจุบัน") == 3


@pytest.mark.parametrize("name", SEED_NAMES)
def test_title_line_appears_once_at_the_top(name: str) -> None:
    meta = SEED_METADATA[name]
    lines = committed_text(name).rstrip("\n").split("\n")
    first = lines[0]
    assert lines.count(first) == 1
    if meta.title_in_text:
        assert first == meta.title or first == "เรื่อง " + meta.title
        assert sum(meta.title in ln for ln in lines) == 1


# ---------------------------------------------------------------------------
# Cleaning rules on small hand-written inputs
# ---------------------------------------------------------------------------

TITLE = "ผลการประชุมรัฐมนตรีอาเซียนด้านดิจิทัล ครั้งที่ 2"


def test_joomla_header_block_and_repeated_title_are_removed() -> None:
    raw = "\n".join(
        [
            TITLE,
            "- Details",
            "- Category: มติ ครม.",
            "- Published: Tuesday, 12 April 2022 22:49",
            "- Hits: 3148",
            TITLE,
            "คณะรัฐมนตรีมีมติรับทราบ",
        ]
    )
    assert clean_web_text(raw) == f"{TITLE}\nคณะรัฐมนตรีมีมติรับทราบ"


def test_a_list_item_that_looks_like_a_header_line_alone_is_kept() -> None:
    raw = "หัวข้อ\n- Category: ข่าว\nเนื้อหา"
    assert clean_web_text(raw) == raw


def test_title_repeated_among_nbsp_only_lines_collapses_to_one_title() -> None:
    t = "ดีอีใช้เวที “ASEAN Digital Ministers’ Retreat” หารือ 5 ความท้าทาย"
    raw = (
        f"{t}\n\n{t}\n\n\u00a0\n\n\u00a0\n\n{t}\n\n\u00a0\n \t\nกระทรวงดิจิทัลฯ เป็นเจ้าภาพ\n\n\n\u00a0\n\n"
        "“เวทีนี้” ดร.พิเชฐฯ กล่าว\u00a0"
    )
    assert clean_web_text(raw) == f"{t}\n\nกระทรวงดิจิทัลฯ เป็นเจ้าภาพ\n\n“เวทีนี้” ดร.พิเชฐฯ กล่าว"


def test_site_breadcrumb_title_line_gives_way_to_the_bare_title() -> None:
    t = "ผู้ช่วยรัฐมนตรีฯ ดีอีเอส ร่วมเวทีรัฐมนตรีอาเซียนด้านดิจิทัล ครั้งที่ ๑"
    raw = f"รัฐบาลไทย-ข่าวทำเนียบรัฐบาล-{t}\n\n\nวันศุกร์ที่ 22 มกราคม 2564\n{t}\n{t}\nเมื่อวันพฤหัสบดีที่ ๒๒ มกราคม ๒๕๖๔"
    assert clean_web_text(raw) == f"{t}\n\nวันศุกร์ที่ 22 มกราคม 2564\nเมื่อวันพฤหัสบดีที่ ๒๒ มกราคม ๒๕๖๔"


def test_a_dash_in_a_first_line_is_not_a_breadcrumb_without_the_bare_title() -> None:
    raw = "ความร่วมมืออาเซียน-จีน ค.ศ. 2020\nจีน ค.ศ. 2021\nเนื้อหา"
    assert clean_web_text(raw) == raw


def test_markdown_table_debris_is_removed_and_row_ends_become_paragraph_breaks() -> None:
    raw = "\n".join(
        [
            "![]() |",
            "กระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม |",
            "ผู้ตรวจราชการกระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม | ||",
            "---|---|---|",
            "![]() นางสาวชมภารี ชมภูรัตน์ |",
            "ประเด็น |",
            "ผลการประชุมฯ |",
            "|",
            "1. พิธีเปิดการประชุมฯ |",
            "||",
            "เป้าประสงค์ | 1. เพื่อสร้างจิตสำนึก |",
            "---|---|",
            "2. สร้างกลไกป้องกัน | |",
            'วิสัยทัศน์ | | "ใสสะอาด" |',
        ]
    )
    assert clean_web_text(raw) == "\n".join(
        [
            "กระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม",
            "ผู้ตรวจราชการกระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม",
            "นางสาวชมภารี ชมภูรัตน์",
            "ประเด็น",
            "ผลการประชุมฯ",
            "",
            "1. พิธีเปิดการประชุมฯ",
            "",
            "เป้าประสงค์ | 1. เพื่อสร้างจิตสำนึก",
            "2. สร้างกลไกป้องกัน",
            'วิสัยทัศน์ | "ใสสะอาด"',
        ]
    )


def test_separator_lines_become_a_paragraph_break() -> None:
    raw = "ข่าว\nย่อหน้าหนึ่ง\n__________________________\n* 5 ฉบับ ได้แก่\n****\n\n---\nที่มา : ทำเนียบรัฐบาล"
    assert clean_web_text(raw) == "ข่าว\nย่อหน้าหนึ่ง\n\n* 5 ฉบับ ได้แก่\n\nที่มา : ทำเนียบรัฐบาล"


def test_only_a_trailing_page_code_is_removed() -> None:
    assert clean_web_text("ข่าว\nโทร. 0 2288-4396\nA4442\n\n") == "ข่าว\nโทร. 0 2288-4396"
    assert clean_web_text("ข่าว\nA4442\nเนื้อหา") == "ข่าว\nA4442\nเนื้อหา"


def test_kept_text_is_untouched_typos_digits_quotes_and_unnormalised_thai() -> None:
    # ความซื่อสัต์สุจริต / ทุจิต are typos in the seed; "กํา" is written with
    # NIKHAHIT + SARA AA (not SARA AM); NBSP inside a line is text.
    line = 'พันธกิจ | "การป้องกันและปราบปรามการทุจิต ความซื่อสัต์สุจริต" ๒๕๖๔ “ก\u0e4d\u0e32” a\u00a0b'
    assert clean_web_text(f"หัวข้อ\n{line} |") == f"หัวข้อ\n{line}"


def test_crlf_and_empty_input() -> None:
    assert clean_web_text("หัวข้อ\r\nเนื้อหา |\r\n") == "หัวข้อ\nเนื้อหา"
    assert clean_web_text("") == ""
    assert clean_web_text("\u00a0\n|\n---|\n") == ""


_FRAGMENTS = st.sampled_from(
    [
        "ข่าว",
        "ดิจิทัล",
        "อาเซียน-จีน",
        "๒๕๖๔",
        "2565",
        " ",
        "  ",
        "\u00a0",
        "|",
        " |",
        "||",
        "---",
        "-",
        "*",
        "_",
        "![]()",
        "![]() ",
        "- Details",
        "- Hits: 3",
        "A4442",
        "“",
        "”",
        "ข่าวทำเนียบ-",
    ]
)
_LINES = st.lists(st.lists(_FRAGMENTS, max_size=5).map("".join), max_size=14)


@settings(max_examples=300, database=None, deadline=None)
@given(_LINES)
def test_cleaned_text_is_well_formed_and_every_line_comes_from_the_input(lines: list[str]) -> None:
    raw = "\n".join(lines)
    out = clean_web_text(raw)
    if not out:
        return
    out_lines = out.split("\n")
    assert out_lines[0] and out_lines[-1]
    assert "\n\n\n" not in out
    norm = lambda s: re.sub(r"[\s|]", "", re.sub(r"!\[\]\([^)\s]*\)", "", s))  # noqa: E731
    sources = {norm(s) for s in lines}
    for ln in out_lines:
        assert ln == ln.rstrip()
        if ln:
            assert not re.fullmatch(r"[\s|]+", ln)
            assert norm(ln) in sources, ln


# ---------------------------------------------------------------------------
# Metadata
# ---------------------------------------------------------------------------


def test_every_document_has_a_slug_a_thai_title_and_language_th() -> None:
    assert len(SEED_METADATA) == 5
    ids = [m.doc_id for m in SEED_METADATA.values()]
    assert len(set(ids)) == len(ids)
    for name, meta in SEED_METADATA.items():
        assert meta.seed == name
        assert re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", meta.doc_id)
        assert meta.language == "th"
        assert meta.title.strip() == meta.title and re.search(r"[\u0e00-\u0e7f]", meta.title)


@needs_seeds
@pytest.mark.parametrize("name", SEED_NAMES)
def test_titles_taken_from_the_text_are_verbatim(name: str) -> None:
    meta = SEED_METADATA[name]
    if meta.title_in_text:
        assert meta.title in seed_text(name).split("\n")[0]


def test_the_one_source_url_belongs_to_the_government_house_news_item() -> None:
    with_url = {m.doc_id: m.source_url for m in SEED_METADATA.values() if m.source_url}
    assert with_url == {"adgmin-1-dialogue-partners-2021": THAIGOV_URL}
    assert SEED_METADATA["004_9e0bf91469dd7831.txt"].source_url == THAIGOV_URL


@needs_seeds
def test_source_urls_are_only_the_ones_the_seeds_name() -> None:
    for name, meta in SEED_METADATA.items():
        urls = re.findall(r"https?://\S+", seed_text(name))
        assert urls == ([meta.source_url] if meta.source_url else [])


@pytest.mark.parametrize("name", SEED_NAMES)
def test_dates_are_iso_dates_or_null_with_a_note(name: str) -> None:
    meta = SEED_METADATA[name]
    if meta.date is None:
        assert meta.date_note and "no" in meta.date_note.lower()
    else:
        assert dt.date.fromisoformat(meta.date).isoformat() == meta.date
        assert meta.date_note and meta.date_evidence
        assert parse_thai_date(meta.date_evidence) == meta.date


@needs_seeds
@pytest.mark.parametrize("name", SEED_NAMES)
def test_dates_are_read_from_words_the_seed_and_the_stored_text_contain(name: str) -> None:
    meta = SEED_METADATA[name]
    if meta.date_evidence:
        assert meta.date_evidence in seed_text(name)
        assert meta.date_evidence in committed_text(name)


def test_expected_dates() -> None:
    dates = {m.doc_id: m.date for m in SEED_METADATA.values()}
    assert dates == {
        "adgmin-2-results-2022": "2022-04-12",
        "asean-china-digital-economy-year-2020": "2020-08-13",
        "asean-digital-ministers-retreat-2019": None,
        "mdes-anti-corruption-digital-hub-foreign-affairs": None,
        "adgmin-1-dialogue-partners-2021": "2021-01-22",
    }


@pytest.mark.parametrize("name", SEED_NAMES)
def test_sidecar_holds_the_metadata(name: str) -> None:
    meta = SEED_METADATA[name]
    data = json.loads((DOCS_DIR / f"{meta.doc_id}.json").read_text(encoding="utf-8"))
    assert set(data) == {"title", "source_url", "date", "language", "seed", "date_note"}
    assert data["title"] == meta.title
    assert data["source_url"] == meta.source_url
    assert data["date"] == meta.date
    assert data["language"] == "th"
    assert data["seed"] == name


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("ที่ประชุมคณะรัฐมนตรี 12 เมษายน 2565", "2022-04-12"),
        ("เมื่อวันพฤหัสบดีที่ ๒๒ มกราคม ๒๕๖๔", "2021-01-22"),
        ("วันที่ 13 สิงหาคม 2563", "2020-08-13"),
        ("๑ ก.ย. พ.ศ. ๒๕๖๓", "2020-09-01"),
        ("5 ธันวาคม 2019", "2019-12-05"),
    ],
)
def test_thai_dates_convert_buddhist_era_and_thai_digits(text: str, iso: str) -> None:
    assert parse_thai_date(text) == iso


def test_text_without_a_thai_date_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_thai_date("ปี 2565")
