"""newmm (PyThaiNLP, Python) against nlpo3 (its Rust port): speed, and do they cut Thai the same?

    python -m benchmarks.segmenters [--dataset ../shared/datasets/iapp-wiki-qa-dev]

Segments the bundled corpus and the dataset's passages with both engines and prints characters
per second, the share of texts tokenised identically, and the word boundaries where they differ,
overall and between two Thai characters (where a difference could move a chunk boundary).
"""

from __future__ import annotations

import json
import re
import time

from pythainlp.tokenize import word_tokenize

from benchmarks.common import IAPP, parser, write_result
from corpus.reader import read_folder
from service.settings import BUNDLED_CORPUS

THAI = re.compile("[\u0e00-\u0e7f]")


def _boundaries(words: list[str]) -> set[int]:
    out, pos = set(), 0
    for word in words:
        pos += len(word)
        out.add(pos)
    return out


def compare(texts: list[str]) -> dict:
    report: dict = {"texts": len(texts), "characters": sum(map(len, texts))}
    segs = {}
    for engine in ("newmm", "nlpo3"):
        word_tokenize("ทดสอบ", engine=engine)  # load the dictionary outside the timing
        started = time.perf_counter()
        segs[engine] = [word_tokenize(t, engine=engine, keep_whitespace=True) for t in texts]
        report[f"{engine}_chars_per_s"] = round(report["characters"] / (time.perf_counter() - started))
    report["identical_texts"] = sum(a == b for a, b in zip(segs["newmm"], segs["nlpo3"]))
    differ = inside_thai = total = 0
    for a, b, text in zip(segs["newmm"], segs["nlpo3"], texts):
        ba, bb = _boundaries(a), _boundaries(b)
        total += len(ba)
        for p in ba ^ bb:
            differ += 1
            inside_thai += 0 < p < len(text) and bool(THAI.match(text[p - 1]) and THAI.match(text[p]))
    report.update({"newmm_boundaries": total, "differing": differ, "differing_between_thai_letters": inside_thai})
    return report


def main() -> None:
    arguments = parser(__doc__, "segmenters-latest.json", dataset=True)
    arguments.set_defaults(dataset=IAPP)
    args = arguments.parse_args()
    documents, _ = read_folder(BUNDLED_CORPUS)
    texts = [d.text for d in documents]
    contexts = args.dataset / "contexts.jsonl"
    if contexts.is_file():
        texts += [json.loads(line)["text"] for line in contexts.open(encoding="utf-8")]
    report = compare(texts)
    print(json.dumps(report, indent=2))
    write_result(args.out, report)


if __name__ == "__main__":
    main()
