"""Questions in the government register, generated from thaigov-v2 news items.

No Thai government question set with marked answers is within reach, so one is made. Thai forms
a question in place: the answer phrase of a sentence is replaced by a question word (กี่ / เท่าไร /
เมื่อไร / ใคร / ที่ไหน / หน่วยงานใด) and the sentence becomes a question. Dates, numbers with their
units, money, people with their titles, agencies and places are where government questions ask,
so those are the phrases replaced.

So that a reader cannot answer by copying the question's words back, each question is varied:
words are dropped, the question word is moved to the end (as Thai speakers ask), equivalent names
are swapped (``corpus/abbreviations.tsv``), and digits and years are written in the other script
and era. A question whose answer still appears in it is dropped.

The output is two dataset folders, ``train/`` and ``valid/``, in the format of
``../shared/datasets`` (``contexts.jsonl``: the items cut into passages at line breaks;
``retrieval.jsonl``: the questions, each with its answer span in its passage), so that
``khamtop eval --dataset`` and ``khamtop model train-reader`` read it as they read iApp. Items
are split by date: ``valid`` (for choosing) is the items from ``VALID_FROM`` on, ``train`` those
before ``TRAIN_BEFORE``; the month between is left out so that a story told on both sides of the
line is not in both.

Never generated from: the bundled documents (thaigov-v2 has had the items that copy them removed)
or thaigov-faq's source items (a set for choosing and reporting only).

    python -m training.thaigov_questions --out data/thaigov-gen [--train-items 6000] [--valid-items 400]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from corpus.text import normalize_text
from index.folder.keyword import match_form

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
THAIGOV = SHARED / "thaigov-v2" / "thaigov.jsonl.xz"
FAQ = SHARED / "thaigov-faq" / "faq.jsonl"
ABBREVIATIONS = Path(__file__).resolve().parents[1] / "corpus" / "abbreviations.tsv"
VALID_FROM = "2025-05-01"
TRAIN_BEFORE = "2025-04-01"
PASSAGE_CHARS = 900  # an item is cut at line breaks into passages of about this size
QUESTIONS_PER_ITEM = 4
MIN_LINE_CHARS = 60

_D = "[0-9๐-๙]"
_MONTHS = (
    "มกราคม|กุมภาพันธ์|มีนาคม|เมษายน|พฤษภาคม|มิถุนายน|กรกฎาคม|สิงหาคม|กันยายน|ตุลาคม|พฤศจิกายน|ธันวาคม"
    r"|ม\.ค\.|ก\.พ\.|มี\.ค\.|เม\.ย\.|พ\.ค\.|มิ\.ย\.|ก\.ค\.|ส\.ค\.|ก\.ย\.|ต\.ค\.|พ\.ย\.|ธ\.ค\."
)
_COUNT_UNITS = (
    "คน|ราย|แห่ง|ครั้ง|ประเทศ|จังหวัด|โครงการ|หน่วยงาน|สถานี|กิโลเมตร|ตัน|ไร่|ชั่วโมง|ลำ|คัน|เครื่อง|ชุด|ฉบับ|เรื่อง"
    "|มาตรการ|ครัวเรือน|หมู่บ้าน|โรงเรียน|ตำแหน่ง|อำเภอ|ด้าน|ประการ|ข้อ|เมกะวัตต์|ลูกบาศก์เมตร|ล้านคน|ล้านตัน|ล้านลิตร"
    "|ล้านโดส|โดส|เตียง|ท่าน|องค์กร|บริษัท|ปี|เดือน|วัน"
)
_MONEY_UNITS = "ล้านล้านบาท|ล้านบาท|พันล้านบาท|แสนบาท|หมื่นบาท|บาท|ล้านดอลลาร์สหรัฐ|ล้านดอลลาร์|ดอลลาร์สหรัฐ|ดอลลาร์"
_NUMBER = rf"{_D}[0-9๐-๙,\.]*"

# (kind, pattern, the answer's group, question words to choose from). The answer is the group;
# what the question word replaces is the whole match.
PATTERNS: list[tuple[str, re.Pattern, int, tuple[str, ...]]] = [
    (
        "date",
        re.compile(rf"(?:เมื่อ)?(วันที่\s*{_D}{{1,2}}(?:\s*-\s*{_D}{{1,2}})?\s*(?:{_MONTHS})\s*(?:พ\.ศ\.\s*)?{_D}{{2,4}})"),
        1,
        ("เมื่อไร", "เมื่อวันที่เท่าไร", "วันไหน", "เมื่อใด"),
    ),
    (
        "date",
        re.compile(rf"({_D}{{1,2}}\s*(?:{_MONTHS})\s*(?:พ\.ศ\.\s*)?{_D}{{2,4}})"),
        1,
        ("เมื่อไร", "วันที่เท่าไร", "เมื่อใด"),
    ),
    ("date", re.compile(rf"(?<=ใน)(ปี\s*(?:พ\.ศ\.\s*)?{_D}{{4}})"), 1, ("ปีใด", "ปีไหน", "ปีอะไร")),
    ("money", re.compile(rf"({_NUMBER}\s*(?:{_MONEY_UNITS}))"), 1, ("เท่าไร", "กี่บาท", "เท่าไหร่", "จำนวนเท่าใด")),
    ("number", re.compile(rf"(ร้อยละ\s*{_NUMBER})"), 1, ("ร้อยละเท่าไร", "ร้อยละเท่าใด")),
    ("number", re.compile(rf"({_NUMBER}\s*(?:เปอร์เซ็นต์|%))"), 1, ("กี่เปอร์เซ็นต์", "เท่าไร")),
    ("number", re.compile(rf"({_NUMBER}\s*({_COUNT_UNITS}))(?![ก-๙])"), 1, ("กี่{unit}", "กี่{unit}", "กี่ {unit}")),
    (
        "person",
        re.compile(
            r"(?<![ก-๙])((?:นางสาว|นาง|นาย(?!ก(?:รัฐมนตรี|ฯ|เทศมนตรี))|พลเอก|พล\.อ\.|พลตำรวจเอก|พล\.ต\.อ\.|ดร\.)"
            r"\s?[ก-๙]{2,}\s+[ก-๙]{2,20})(?=[\s(,]|$)"
        ),
        1,
        ("ใคร", "ผู้ใด", "ท่านใด"),
    ),
    (
        "agency",
        re.compile(
            r"(?<![ก-๙])((?:กระทรวง|กรม(?!ธรรม์)|สำนักงาน|สำนัก|องค์การ|การไฟฟ้า|ธนาคาร)[ก-๙]{4,40}(?:\s?\([ก-๙\.]{2,12}\))?)(?=[\s,]|$)"
        ),
        1,
        ("หน่วยงานใด", "หน่วยงานไหน", "ใคร"),
    ),
    (
        "place",
        re.compile(r"(?<![ก-๙])ณ\s([^\s()]{3,}(?:\s(?:จ\.|จังหวัด|กรุง|อ\.|อำเภอ|ทำเนียบ)[^\s()]+)?)"),
        1,
        ("ที่ไหน", "ที่ใด"),
    ),
    ("place", re.compile(r"((?:จังหวัด|จ\.)[ก-๙]{3,})"), 1, ("จังหวัดใด", "จังหวัดไหน", "ที่ไหน")),
]


@dataclass(frozen=True)
class Item:
    id: str
    date: str
    text: str


def read_items(path: Path = THAIGOV, faq: Path = FAQ) -> Iterator[Item]:
    """thaigov-v2's items as stored (not yet normalised), without thaigov-faq's source items and
    undated rows."""
    excluded = set()
    if faq.is_file():
        for line in faq.read_text("utf-8").splitlines():
            source = json.loads(line)["source_file"]
            excluded.add(source.removeprefix("data/").removesuffix(".txt"))
    with lzma.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if not row.get("date") or row["id"] in excluded:
                continue
            yield Item(row["id"], row["date"], row["text"])


def passages(item: Item) -> list[tuple[int, str]]:
    """The item cut at line breaks into passages of about ``PASSAGE_CHARS``: (offset, text)."""
    out, start, end = [], 0, 0
    text = item.text
    for line in re.finditer(r"[^\n]*\n?", text):
        if not line.group():
            break
        if end - start + len(line.group()) > PASSAGE_CHARS and end > start:
            out.append((start, text[start:end]))
            start = end
        end = line.end()
    if end > start:
        out.append((start, text[start:end]))
    return [(s, t) for s, t in out if len(t.strip()) >= MIN_LINE_CHARS]


def _equivalents(path: Path = ABBREVIATIONS) -> list[list[str]]:
    groups = []
    for line in path.read_text("utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            groups.append([f.strip() for f in line.split("\t") if f.strip()])
    return groups


_THAI_DIGITS = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")
_ARABIC_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")


class Varier:
    """Makes a question less of a copy of its sentence."""

    def __init__(self, rng: random.Random) -> None:
        from pythainlp.tokenize import word_tokenize

        self.rng = rng
        self.tokenize = word_tokenize
        self.groups = [g for g in _equivalents() if len(g) >= 2]

    def drop_words(self, text: str, share: float) -> str:
        words = self.tokenize(text, engine="newmm", keep_whitespace=True)
        kept = [w for w in words if w.isspace() or self.rng.random() >= share]
        return re.sub(r"\s+", " ", "".join(kept)).strip()

    def swap_names(self, text: str) -> str:
        """One name for another of its group; the longest name found wins ("นายกรัฐมนตรี" is not
        a mention of "รัฐมนตรี")."""
        present = [(f, g) for g in self.groups for f in g if f in text]
        whole = [(f, g) for f, g in present if not any(f != o and f in o for o, _ in present)]
        if not whole:
            return text
        form, group = self.rng.choice(sorted(whole))
        return text.replace(form, self.rng.choice([f for f in group if f != form]), 1)

    def digits(self, text: str) -> str:
        if re.search("[๐-๙]", text):
            return text.translate(_ARABIC_DIGITS)
        return text.translate(_THAI_DIGITS) if self.rng.random() < 0.3 else text

    def era(self, text: str) -> str:
        def other(m: re.Match) -> str:
            year = int(m.group().translate(_ARABIC_DIGITS))
            if 2500 <= year <= 2600:
                return f"ค.ศ. {year - 543}"
            return m.group()

        return re.sub(r"(?<![0-9๐-๙])[0-9๐-๙]{4}(?![0-9๐-๙])", other, text)


def _clause(line: str, start: int, end: int, rng: random.Random, tokenize) -> tuple[str, str]:
    """Words before and after the answer, cut at spaces (or, in a run without one, at a word):
    what the question keeps of its sentence."""
    left_chars, right_chars = rng.randint(30, 110), rng.randint(0, 60)
    left = line[max(0, start - left_chars) : start]
    if start - left_chars > 0:
        left = left[left.index(" ") + 1 :] if " " in left else "".join(tokenize(left, engine="newmm")[1:])
    right = line[end : end + right_chars]
    if end + right_chars < len(line):
        right = right[: right.rindex(" ")] if " " in right else "".join(tokenize(right, engine="newmm")[:-1])
    return left.strip(), right.strip()


def questions_of(item: Item, varier: Varier, rng: random.Random) -> Iterator[dict]:
    """Up to ``QUESTIONS_PER_ITEM`` questions about the item, each with its passage and answer."""
    found = []
    for p, (_, text) in enumerate(passages(item)):
        # The first lines (day, "พิมพ์", the headline twice) say nothing a question would ask.
        for line in re.finditer(r"[^\n]+", text):
            if len(line.group()) < MIN_LINE_CHARS:
                continue
            for kind, pattern, group, words in PATTERNS:
                for m in pattern.finditer(line.group()):
                    found.append((p, text, line.start(), line.group(), kind, m, group, words))
    rng.shuffle(found)
    taken_kinds: dict[str, int] = {}
    made = 0
    for p, text, line_start, line, kind, m, group, words in found:
        if made >= QUESTIONS_PER_ITEM or taken_kinds.get(kind, 0) >= 2:
            continue
        answer = m.group(group).strip()
        a_start = line_start + m.start(group) + (len(m.group(group)) - len(m.group(group).lstrip()))
        if text.count(answer) != 1 or len(answer) < 2:
            continue  # an answer said twice in the passage has no one place to point at
        left, right = _clause(line, m.start(), m.end(), rng, varier.tokenize)
        word = rng.choice(words)
        if "{unit}" in word:
            word = word.format(unit=m.group(2))
        if len(left) + len(right) < 20:
            continue
        # Half the time the question word comes last, as Thai speakers ask.
        question = f"{left} {right} {word}" if rng.random() < 0.5 else f"{left} {word} {right}"
        if rng.random() < 0.7:
            share = rng.uniform(0.1, 0.3)
            question = f" {word} ".join(varier.drop_words(part, share) for part in question.split(word, 1))
        if rng.random() < 0.5:
            question = varier.swap_names(question)
        question = varier.era(question) if rng.random() < 0.3 else question
        question = varier.digits(question) if rng.random() < 0.5 else question
        question = re.sub(r"\s+", " ", question).strip()
        if match_form(answer) in match_form(question) or len(question) < 15:
            continue
        made += 1
        taken_kinds[kind] = taken_kinds.get(kind, 0) + 1
        yield {
            "passage": p,
            "question": question,
            "kind": kind,
            "answer": answer,
            "start": a_start,
        }


def generate(out: Path, train_items: int, valid_items: int, seed: int = 0) -> dict:
    """Write the dataset folder; returns its record (counts, hashes, settings)."""
    rng = random.Random(seed)
    varier = Varier(random.Random(seed + 1))
    train, valid = [], []
    for item in read_items():
        if item.date >= VALID_FROM:
            valid.append(item)
        elif item.date < TRAIN_BEFORE:
            train.append(item)
    chosen = [("train", i) for i in rng.sample(train, min(train_items, len(train)))]
    chosen += [("valid", i) for i in rng.sample(valid, min(valid_items, len(valid)))]
    # Normalised as the service stores a document: the answers' offsets are into that text.
    chosen = [(split, Item(i.id, i.date, normalize_text(i.text))) for split, i in chosen]
    counts: dict[str, int] = {}
    for split in ("train", "valid"):
        folder = out / split
        folder.mkdir(parents=True, exist_ok=True)
        with (
            (folder / "contexts.jsonl").open("w", encoding="utf-8") as contexts,
            (folder / "retrieval.jsonl").open("w", encoding="utf-8") as retrieval,
        ):
            for item in (i for s, i in chosen if s == split):
                cut = passages(item)
                for p, (_, text) in enumerate(cut):
                    row = {"id": f"{item.id}#{p}", "title": item.id, "text": text}
                    contexts.write(json.dumps(row, ensure_ascii=False) + "\n")
                for n, q in enumerate(questions_of(item, varier, rng)):
                    context_id = f"{item.id}#{q['passage']}"
                    end = q["start"] + len(q["answer"])
                    assert cut[q["passage"]][1][q["start"] : end] == q["answer"]
                    row = {
                        "id": f"{item.id}/{n}",
                        "question": q["question"],
                        "gold_context_ids": [context_id],
                        "answers": [q["answer"]],
                        "answer_spans": [
                            {"context_id": context_id, "start": q["start"], "end": end, "text": q["answer"]}
                        ],
                        "split": split,
                        "kind": q["kind"],
                    }
                    retrieval.write(json.dumps(row, ensure_ascii=False) + "\n")
                    counts[f"{split}/{q['kind']}"] = counts.get(f"{split}/{q['kind']}", 0) + 1
    record = {
        "generator": "training.thaigov_questions",
        "seed": seed,
        "train_items": train_items,
        "valid_items": valid_items,
        "valid_from": VALID_FROM,
        "train_before": TRAIN_BEFORE,
        "source_sha256": hashlib.sha256(THAIGOV.read_bytes()).hexdigest(),
        "counts": dict(sorted(counts.items())),
        "sha256": {
            f"{split}/{name}": hashlib.sha256((out / split / name).read_bytes()).hexdigest()
            for split in ("train", "valid")
            for name in ("contexts.jsonl", "retrieval.jsonl")
        },
    }
    (out / "generated.json").write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", "utf-8")
    return record


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("data/thaigov-gen"))
    p.add_argument("--train-items", type=int, default=6000)
    p.add_argument("--valid-items", type=int, default=400)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    record = generate(args.out, args.train_items, args.valid_items, args.seed)
    print(json.dumps(record, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
