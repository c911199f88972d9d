"""Bring the seed web pages into the bundled corpus, cleaned, with metadata.

The five seeds are Thai government web pages (Ministry of Digital Economy and
Society, cabinet resolutions, Government House news) saved as text.  They carry
web boilerplate: the title repeated two or three times, a Joomla header block,
markdown-table debris from converted HTML tables, separator lines, NBSP-only
lines and a page code.

Cleaning never rewrites text.  Answers cite offsets into the stored text, so
every kept line is either a source line verbatim (trailing whitespace removed)
or a source line with only table/image markup removed.  There is no Unicode
normalisation, no punctuation change and no typo fixing here.

Run ``python scripts/import_seeds.py [SEEDS_DIR] [OUT_DIR]`` from the checkout to (re)write
``corpus/documents/<doc_id>.txt`` and ``<doc_id>.json`` for every seed (by default from
``../shared/seeds``). A script, not part of the installed ``corpus`` package.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "SEED_METADATA",
    "SeedMeta",
    "clean_web_text",
    "import_seeds",
    "parse_thai_date",
    "DEFAULT_SEEDS_DIR",
    "DEFAULT_OUT_DIR",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SEEDS_DIR = REPO_ROOT / ".." / "shared" / "seeds"
DEFAULT_OUT_DIR = REPO_ROOT / "corpus" / "documents"


# --------------------------------------------------------------------------
# Cleaning
# --------------------------------------------------------------------------

# One line of the Joomla article header: "- Details", "- Category: ...", ...
_HEADER_LINE_RE = re.compile(
    r"- (?:Details|(?:Parent Category|Category|Published|Created|Last Updated|"
    r"Written by|Hits):.*)"
)
# A markdown-table delimiter row: "---|", "---|---|", "|:---|---:|".
_TABLE_DELIMITER_RE = re.compile(r"[\s|:]*-[\s|:\-]*")
# A row terminator / empty row left by a converted table: "|", "||", "| |".
_PIPES_ONLY_RE = re.compile(r"[\s|]*\|[\s|]*")
# A line made only of separator characters: "****", "____", "---", "= = =".
_SEPARATOR_RE = re.compile(r"\s*(?:[*_=~\-]\s*){3,}")
# Markdown image with empty alt text, plus the spaces after it.
_IMAGE_RE = re.compile(r"!\[\]\([^)\s]*\)[ \t]*")
# Table markup at the ends of a row, and empty cells inside it.
_LEADING_PIPES_RE = re.compile(r"^\s*\|(?:\s*\|)*\s*")
_TRAILING_PIPES_RE = re.compile(r"\s*\|(?:\s*\|)*\s*$")
_EMPTY_INNER_CELLS_RE = re.compile(r"\|(?:\s*\|)+")
# A bare page code closing the page, e.g. "A4442".
_PAGE_CODE_RE = re.compile(r"[A-Z]{1,2}\d{3,6}")
# Longest prefix accepted as "site name-breadcrumb-" before a title.
_MAX_BREADCRUMB_PREFIX = 80


def _strip_markup(line: str) -> str:
    """Remove image markup and table pipes from one line; keep the text as is.

    Pipes between two non-empty cells are structure and stay (with the
    spacing the source has); pipes at the ends of the row and empty cells
    go.
    """
    line = _IMAGE_RE.sub("", line)
    if "|" in line:
        line = _LEADING_PIPES_RE.sub("", line)
        line = _TRAILING_PIPES_RE.sub("", line)
        line = _EMPTY_INNER_CELLS_RE.sub("|", line)
    return line.rstrip()


def _find_breadcrumb_title(first: str, later: set[str]) -> str | None:
    """If ``first`` is "site-breadcrumb-<title>" and the bare title occurs
    later as a line of its own, return that bare title."""
    for i, ch in enumerate(first):
        if ch != "-" or i == 0 or i > _MAX_BREADCRUMB_PREFIX:
            continue
        suffix = first[i + 1 :].strip()
        if suffix and suffix in later:
            return suffix
    return None


def clean_web_text(raw: str) -> str:
    """Remove web boilerplate from a saved page without rewriting its text.

    Rules, in order:

    * lines are split on LF (CRLF/CR normalised) and trailing whitespace
      (NBSP included) is stripped; whitespace-only lines become blank;
    * a Joomla header block (2+ consecutive lines like ``- Details``,
      ``- Category: ...``, ``- Published: ...``, ``- Hits: ...``) is dropped;
    * markdown-table delimiter rows (``---|``, ``---|---|``) are dropped;
      pipe-only lines (``|``, ``||``), which end a table row, become a
      paragraph break;
    * lines made only of separator characters (``****``, ``____``, ``---``)
      become a paragraph break;
    * in other lines, empty-alt image markup ``![](...)``, leading/trailing
      pipes and empty cells are removed; a pipe between two non-empty cells
      is kept; a line left empty becomes a paragraph break;
    * the title is the first non-blank line.  When it is a
      "site name-breadcrumb-title" line and the bare title occurs later as a
      line, the title line is kept as the bare title (the breadcrumb prefix
      is site chrome).  Every later line identical to the title is dropped;
    * a bare page code (``A4442``) as the last line is dropped;
    * runs of blank lines collapse to one blank line; no leading or trailing
      blank lines.  The result has no final newline.
    """
    lines = [ln.rstrip() for ln in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")]

    # 1. Joomla header block: a run of 2+ header lines.
    drop = [False] * len(lines)
    i = 0
    while i < len(lines):
        j = i
        while j < len(lines) and _HEADER_LINE_RE.fullmatch(lines[j]):
            j += 1
        if j - i >= 2:
            for k in range(i, j):
                drop[k] = True
        i = max(j, i + 1)

    # 2. Line by line: None marks a paragraph break.
    kept: list[str | None] = []
    for line, dropped in zip(lines, drop):
        if dropped:
            continue
        if not line:
            kept.append(None)
        elif "|" in line and _TABLE_DELIMITER_RE.fullmatch(line):
            continue
        elif _PIPES_ONLY_RE.fullmatch(line) or _SEPARATOR_RE.fullmatch(line):
            kept.append(None)
        else:
            text = _strip_markup(line)
            kept.append(text if text else None)

    # 3. Title: first non-blank line; breadcrumb form; drop later repeats.
    first = next((n for n, t in enumerate(kept) if t is not None), None)
    if first is not None:
        title = kept[first]
        assert title is not None
        later = {t for t in kept[first + 1 :] if t is not None}
        bare = _find_breadcrumb_title(title, later)
        if bare is not None:
            title = bare
            kept[first] = bare
        kept = kept[: first + 1] + [t for t in kept[first + 1 :] if t != title]

    # 4. Trailing page code.
    while kept and kept[-1] is None:
        kept.pop()
    if kept and kept[-1] is not None and _PAGE_CODE_RE.fullmatch(kept[-1]):
        kept.pop()

    # 5. Collapse blank runs; no leading/trailing blank lines.
    out: list[str] = []
    for t in kept:
        if t is None:
            if out and out[-1] != "":
                out.append("")
        else:
            out.append(t)
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out)


# --------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------

_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
_THAI_MONTHS = {
    "มกราคม": 1,
    "ม.ค.": 1,
    "กุมภาพันธ์": 2,
    "ก.พ.": 2,
    "มีนาคม": 3,
    "มี.ค.": 3,
    "เมษายน": 4,
    "เม.ย.": 4,
    "พฤษภาคม": 5,
    "พ.ค.": 5,
    "มิถุนายน": 6,
    "มิ.ย.": 6,
    "กรกฎาคม": 7,
    "ก.ค.": 7,
    "สิงหาคม": 8,
    "ส.ค.": 8,
    "กันยายน": 9,
    "ก.ย.": 9,
    "ตุลาคม": 10,
    "ต.ค.": 10,
    "พฤศจิกายน": 11,
    "พ.ย.": 11,
    "ธันวาคม": 12,
    "ธ.ค.": 12,
}
_THAI_DATE_RE = re.compile(
    r"(\d{1,2})\s*("
    + "|".join(re.escape(m) for m in sorted(_THAI_MONTHS, key=len, reverse=True))
    + r")\s*(?:พ\.ศ\.\s*)?(\d{4})"
)


def parse_thai_date(text: str) -> str:
    """ISO date of the first "<day> <Thai month> <year>" in ``text``.

    Thai digits are read as digits; a year above 2400 is a Buddhist Era year
    (BE = CE + 543).  Raises ValueError when there is no such date.
    """
    m = _THAI_DATE_RE.search(text.translate(_THAI_DIGITS))
    if m is None:
        raise ValueError(f"no Thai date in {text!r}")
    day, month, year = int(m.group(1)), _THAI_MONTHS[m.group(2)], int(m.group(3))
    if year > 2400:
        year -= 543
    return _dt.date(year, month, day).isoformat()


# --------------------------------------------------------------------------
# Metadata
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedMeta:
    seed: str
    doc_id: str
    title: str
    source_url: str | None
    date: str | None
    date_note: str | None
    # The words of the seed the date is read from (None where there is none).
    date_evidence: str | None = None
    # Whether the seed has a title line (False: the title is descriptive).
    title_in_text: bool = True
    language: str = "th"

    def sidecar(self) -> dict[str, str | None]:
        d: dict[str, str | None] = {
            "title": self.title,
            "source_url": self.source_url,
            "date": self.date,
            "language": self.language,
            "seed": self.seed,
        }
        if self.date_note:
            d["date_note"] = self.date_note
        return d


_SEEDS = [
    SeedMeta(
        seed="000_2c03a6852bbdb834.txt",
        doc_id="adgmin-2-results-2022",
        title="ผลการประชุมรัฐมนตรีอาเซียนด้านดิจิทัล ครั้งที่ 2 และการประชุมอื่นที่เกี่ยวข้อง",
        source_url=None,
        date="2022-04-12",
        date_evidence="12 เมษายน 2565",
        date_note=(
            "Cabinet meeting date at the foot of the text: 'ที่ประชุมคณะรัฐมนตรี ... "
            "12 เมษายน 2565' (BE 2565 = 2022); the page header (removed as "
            "boilerplate) agrees: 'Published: Tuesday, 12 April 2022 22:49'. The "
            "meeting reported on was held 27-28 January 2022."
        ),
    ),
    SeedMeta(
        seed="001_9ab96f89d9261bd1.txt",
        doc_id="asean-china-digital-economy-year-2020",
        title=(
            "รายงานผลการเข้าร่วมงานเฉลิมฉลองปีแห่งความเป็นหุ้นส่วนความร่วมมือด้านเศรษฐกิจดิจิทัล"
            "อาเซียน-จีน ค.ศ. 2020 (The Opening Ceremony for ASEAN-China Year of Digital "
            "Economy Cooperation) ด้วยระบบวีดิทัศน์ทางไกล (Video Conference)"
        ),
        source_url=None,
        date="2020-08-13",
        date_evidence="13 สิงหาคม 2563",
        date_note=(
            "Cabinet meeting date in the closing source line: 'ที่มา: ที่ประชุมคณะรัฐมนตรี "
            "... วันที่ 13 สิงหาคม 2563' (BE 2563 = 2020). The event reported on was "
            "held 12 June 2020."
        ),
    ),
    SeedMeta(
        seed="002_824832ed8bf37bac.txt",
        doc_id="asean-digital-ministers-retreat-2019",
        title="ดีอีใช้เวที “ASEAN Digital Ministers’ Retreat” หารือ 5 ความท้าทาย ดันอาเซียนสู่เศรษฐกิจดิจิทัล",
        source_url=None,
        date=None,
        date_note=(
            "The text gives no publication date. It reports the ASEAN Digital "
            "Ministers' Retreat held 28-29 March 2019 ('ระหว่างวันที่ 28 – 29 มีนาคม "
            "2562'), so it was written on or after 2019-03-29."
        ),
    ),
    SeedMeta(
        seed="003_0fd817796ed63376.txt",
        doc_id="mdes-anti-corruption-digital-hub-foreign-affairs",
        title=(
            "ข้อมูลกระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม: การตรวจราชการ "
            "ศูนย์ปฏิบัติการต่อต้านการทุจริต โครงการ ASEAN Digital Hub "
            "และภารกิจด้านการต่างประเทศ"
        ),
        title_in_text=False,
        source_url=None,
        date=None,
        date_note=(
            "A ministry page assembled from several sections; the text gives no "
            "date for the page as a whole. Its sections carry their own dates: the "
            "latest dated facts are 'ข้อมูล ณ เดือนพฤษภาคม ๒๕๖๔' (May 2021), and the "
            "foreign-affairs section is material for the ministry's annual report "
            "๒๕๖๕ (2022)."
        ),
    ),
    SeedMeta(
        seed="004_9e0bf91469dd7831.txt",
        doc_id="adgmin-1-dialogue-partners-2021",
        title=(
            "ผู้ช่วยรัฐมนตรีฯ ดีอีเอส ร่วมเวทีรัฐมนตรีอาเซียนด้านดิจิทัล ครั้งที่ ๑ กับคู่เจรจา หนุนความร่วมมือพัฒนาด้านดิจิทัลในภูมิภาคอาเซียนต่อเนื่อง"
        ),
        source_url="https://www.thaigov.go.th/news/contents/details/38530",
        date="2021-01-22",
        date_evidence="วันศุกร์ที่ 22 มกราคม 2564",
        date_note=(
            "Dateline of the news item: 'วันศุกร์ที่ 22 มกราคม 2564' (Friday, BE 2564 = "
            "2021). The body dates the meeting 'วันพฤหัสบดีที่ ๒๒ มกราคม ๒๕๖๔', but "
            "22 January 2021 was a Friday; the dateline is used."
        ),
    ),
]

SEED_METADATA: dict[str, SeedMeta] = {m.seed: m for m in _SEEDS}


# --------------------------------------------------------------------------
# Import
# --------------------------------------------------------------------------


def import_seeds(seeds_dir: Path, out_dir: Path) -> list[Path]:
    """Write ``<doc_id>.txt`` (cleaned text) and ``<doc_id>.json`` (metadata)
    for every seed in ``seeds_dir``; return the written paths, sorted.

    Every ``*.txt`` in ``seeds_dir`` must have an entry in SEED_METADATA and
    every entry must have its file: a seed without metadata is an error, not
    something to skip.
    """
    seeds_dir, out_dir = Path(seeds_dir), Path(out_dir)
    present = {p.name for p in seeds_dir.glob("*.txt")}
    unknown = sorted(present - SEED_METADATA.keys())
    missing = sorted(SEED_METADATA.keys() - present)
    if unknown:
        raise ValueError(f"seeds without metadata in scripts/import_seeds.py's SEED_METADATA: {unknown}")
    if missing:
        raise FileNotFoundError(f"seeds missing from {seeds_dir}: {missing}")

    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name in sorted(SEED_METADATA):
        meta = SEED_METADATA[name]
        raw = (seeds_dir / name).read_text(encoding="utf-8")
        text_path = out_dir / f"{meta.doc_id}.txt"
        json_path = out_dir / f"{meta.doc_id}.json"
        text_path.write_text(clean_web_text(raw) + "\n", encoding="utf-8", newline="\n")
        json_path.write_text(
            json.dumps(meta.sidecar(), ensure_ascii=False, indent=2, sort_keys=True) + "\n",
            encoding="utf-8",
            newline="\n",
        )
        written += [text_path, json_path]
    return sorted(written)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 2 or any(a in ("-h", "--help") for a in args):
        print("usage: python scripts/import_seeds.py [SEEDS_DIR] [OUT_DIR]", file=sys.stderr)
        return 2
    seeds_dir = Path(args[0]) if args else DEFAULT_SEEDS_DIR
    out_dir = Path(args[1]) if len(args) > 1 else DEFAULT_OUT_DIR
    for path in import_seeds(seeds_dir, out_dir):
        print(f"wrote {path} ({len(path.read_text(encoding='utf-8'))} chars)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
