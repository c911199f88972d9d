"""Long pasted questions: the gold set's questions inside a long account of the asker's situation
(2,000-4,000 characters, as real Thai legal questions run), against the same questions alone.

    python -m benchmarks.long_questions [--out [FILE]]

The encoder reads a question's first 512 tokens and the keyword search all of it. The preamble
comes first and the question last (the encoder may not reach it), or the question first and the
account after. Prints hit@5 (the right passage among the first five) and latency for each, on the
bundled corpus's index (docs/decisions/016-long-questions.md).
"""

from __future__ import annotations

import statistics
import time

from benchmarks import common
from eval.datasets import GOLD, load_gold
from index.encoders.factory import load_embedder
from index.folder.load import load_index
from index.search.retriever import Retriever
from service.settings import Settings

# Written for this measurement (not from the documents): what a citizen or an official pastes
# before the question itself. None of it answers a gold question.
PREAMBLES = [
    "เรียนเจ้าหน้าที่ที่เกี่ยวข้อง ข้าพเจ้าเป็นข้าราชการในสำนักงานจังหวัดแห่งหนึ่ง ได้รับมอบหมายจากผู้บังคับบัญชาให้จัดทำรายงานสรุป"
    "ความร่วมมือระหว่างประเทศด้านเศรษฐกิจดิจิทัลเพื่อเสนอต่อที่ประชุมคณะกรรมการบริหารจังหวัดในเดือนหน้า ซึ่งจะต้องอ้างอิงเอกสาร"
    "ทางราชการที่เผยแพร่แล้วเท่านั้น และต้องระบุแหล่งที่มาให้ชัดเจนทุกข้อ เนื่องจากที่ผ่านมาเคยมีการทักท้วงว่าข้อมูลบางส่วนคลาดเคลื่อน ",
    "ทั้งนี้ ข้าพเจ้าได้ค้นหาข้อมูลจากเว็บไซต์ของหลายหน่วยงานแล้ว แต่พบว่าข้อมูลกระจัดกระจาย บางแห่งเป็นข่าวประชาสัมพันธ์ บางแห่งเป็น"
    "มติคณะรัฐมนตรี และบางแห่งเป็นเอกสารการประชุมที่ไม่ได้ระบุวันที่ไว้ชัดเจน จึงไม่แน่ใจว่าฉบับใดเป็นฉบับล่าสุดและถูกต้อง ข้าพเจ้า"
    "จึงขอความกรุณาช่วยตรวจสอบและตอบคำถามต่อไปนี้โดยอ้างอิงจากเอกสารของกระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคมโดยตรง ",
    "นอกจากนี้ หากเป็นไปได้ขอให้ระบุด้วยว่าข้อมูลดังกล่าวปรากฏอยู่ในเอกสารฉบับใด ส่วนใด เพื่อที่ข้าพเจ้าจะได้นำไปอ้างอิงในรายงานได้อย่าง"
    "ถูกต้อง และหากมีประเด็นที่เกี่ยวข้องซึ่งควรทราบเพิ่มเติม เช่น ผลการประชุม ข้อตกลงที่ได้รับการรับรอง หรือหน่วยงานที่รับผิดชอบ ก็ขอให้"
    "แจ้งไว้ด้วย ข้าพเจ้าขอขอบพระคุณเป็นอย่างสูงสำหรับความช่วยเหลือ และขออภัยที่คำถามค่อนข้างยาว เนื่องจากต้องการอธิบายบริบทให้ครบถ้วน ",
]


def long_version(question: str, length: int, first: bool = False) -> str:
    """``question`` after (or, ``first``, before) ``length`` characters of the preambles."""
    preamble = ""
    i = 0
    while len(preamble) < length:
        preamble += PREAMBLES[i % len(PREAMBLES)]
        i += 1
    if first:
        return f"{question} รายละเอียดเพิ่มเติม: {preamble[:length]}"
    return preamble[:length] + " คำถามคือ " + question


def main() -> None:
    args = common.parser(__doc__, "long-questions-latest.json").parse_args()
    settings = Settings()
    embedder = load_embedder(settings.encoder_config())
    index = load_index(settings.index_dir, embedder)
    retriever = Retriever(embedder, index, settings.search_config())
    eval_set = load_gold(GOLD, list(index.documents.values()))
    questions = [q for q in eval_set.questions if q.answerable]
    retriever.search("warm-up", top_k=5)
    result = {}
    cases = (
        ("alone", 0, False),
        ("after 2,000 characters", 2_000, False),
        ("after 3,800 characters", 3_800, False),
        ("before 3,800 characters", 3_800, True),
    )
    for name, length, first in cases:
        hits, latencies = 0, []
        for q in questions:
            text = long_version(q.question, length, first) if length else q.question
            started = time.perf_counter()
            found = retriever.search(text, top_k=5).passages
            latencies.append((time.perf_counter() - started) * 1000)
            hits += any(
                p.passage.doc_id == e.doc_id
                and any(p.passage.char_start <= s and t <= p.passage.char_end for s, t in e.spans)
                for p in found
                for e in q.evidence
            )
        latencies.sort()
        result[name] = {
            "questions": len(questions),
            "characters_p50": statistics.median(
                len(long_version(q.question, length)) if length else len(q.question) for q in questions
            ),
            "hit@5": hits / len(questions),
            "latency_ms_p50": latencies[len(latencies) // 2],
            "latency_ms_p95": latencies[int(len(latencies) * 0.95)],
        }
        row = result[name]
        print(
            f"{name:>24}: {row['questions']} q, {row['characters_p50']:,.0f} chars p50, hit@5 {row['hit@5']:.3f}, "
            f"{row['latency_ms_p50']:.1f} / {row['latency_ms_p95']:.1f} ms p50 / p95"
        )
    common.write_result(args.out, result)


if __name__ == "__main__":
    main()
