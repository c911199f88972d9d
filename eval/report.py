"""Presenting an evaluation: a terminal table, a JSON file, and a self-contained HTML report."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

from corpus.document import Document
from eval.runner import DEPTH, K_VALUES, EvalResult, QuestionResult

HEADLINE = [f"hit@{k}" for k in K_VALUES] + ["mrr@10", "ndcg@10", "evidence_recall@5", "evidence_recall@10"]


def _fmt(value: float) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def print_summary(result: EvalResult, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    s = result.summary
    table = Table(
        title=f"{result.name} ({result.index['mode']}): {s['answerable']} answerable, {s['unanswerable']} unanswerable"
    )
    for name in HEADLINE:
        table.add_column(name.replace("evidence_recall", "ev.rec"), justify="right")
    table.add_row(*(_fmt(s[name]) for name in HEADLINE))
    console.print(table)
    console.print(
        "right document (any passage of it, as passage-level benchmarks count): "
        f"hit@1 {_fmt(s['document_hit@1'])}  hit@5 {_fmt(s['document_hit@5'])}  hit@10 {_fmt(s['document_hit@10'])}"
    )
    console.print(
        f"latency p50 {s['latency_ms']['p50']:.1f} ms, p95 {s['latency_ms']['p95']:.1f} ms (in process); "
        f"{s['uncoverable']} answerable questions have evidence no chunk covers whole"
    )
    read = "the reader's words" if result.index.get("read") else "the best sentence"
    console.print(
        f"answer ({read}): exact match {_fmt(s['answer_exact_match'])}, character F1 {_fmt(s['answer_f1'])}, "
        f"matches the evidence {_fmt(s['answer_matches_evidence'])}, median {s['answer_median_chars']:.0f} characters"
    )
    console.print(
        f"answer contains the evidence: {_fmt(s['answer_contains_evidence'])} "
        f"(overlaps it: {_fmt(s['answer_overlaps_evidence'])}; inside it: {_fmt(s['evidence_contains_answer'])})"
    )
    ladder = s.get("ladder")
    if ladder:
        a, u, acc = ladder["answerable_shares"], ladder["unanswerable_shares"], ladder["accuracy"]
        console.print(
            f"the ladder: the answer shown matches the evidence for {_fmt(ladder['answer_shown_matches'])} of "
            f"answerable questions; answerable shown as words {_fmt(a['words'])} (right {_fmt(acc['words'])}), "
            f"as a sentence {_fmt(a['sentence'])} (right {_fmt(acc['sentence'])}), none {_fmt(a['none'])}; "
            f"unanswerable: words {_fmt(u['words'])}, sentence {_fmt(u['sentence'])}, none {_fmt(u['none'])}"
        )
    na = s["no_answer"]
    console.print(
        f"flagged 'no answer' (threshold {result.index.get('answer_threshold')}): "
        f"unanswerable {_fmt(na['unanswerable_flagged'])}, answerable {_fmt(na['answerable_flagged'])}"
    )
    for kind in ("answerable", "unanswerable"):
        for label, d in (("top score", s["top_score"][kind]), ("answer confidence", na["confidence"][kind])):
            if d["n"]:
                console.print(
                    f"{label}, {kind}: min {d['min']:.3f}  p25 {d['p25']:.3f}  median {d['median']:.3f}  "
                    f"p75 {d['p75']:.3f}  max {d['max']:.3f}  (n={d['n']})"
                )
    if s["by_tag"]:
        tags = Table(title="by tag (answerable questions)")
        for col in ("tag", "n", "hit@1", "hit@5"):
            tags.add_column(col, justify="left" if col == "tag" else "right")
        for tag, row in s["by_tag"].items():
            tags.add_row(tag, str(row["n"]), _fmt(row["hit@1"]), _fmt(row["hit@5"]))
        console.print(tags)


def write_json(result: EvalResult, path: Path) -> None:
    path.write_text(json.dumps(result.to_json(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def _highlighted(doc: Document, start: int, end: int, spans: list[tuple[int, int]]) -> str:
    """The passage ``doc.text[start:end]`` as HTML, with evidence spans inside it in <mark>."""
    cuts = sorted((max(s, start), min(e, end)) for s, e in spans if s < end and e > start)
    out, pos = [], start
    for s, e in cuts:
        if s < pos:
            s = pos
        if s >= e:
            continue
        out.append(html.escape(doc.text[pos:s]))
        out.append(f"<mark>{html.escape(doc.text[s:e])}</mark>")
        pos = e
    out.append(html.escape(doc.text[pos:end]))
    return "".join(out)


def _curve_svg(curve: list[float]) -> str:
    """hit@k for k = 1..10 as an inline SVG line chart (no plotting library, no network)."""
    w, h, pad = 420, 220, 36
    xs = [pad + (w - 2 * pad) * i / (len(curve) - 1) for i in range(len(curve))]
    ys = [h - pad - (h - 2 * pad) * (0 if math.isnan(v) else v) for v in curve]
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
    grid = "".join(
        f'<line x1="{pad}" x2="{w - pad}" y1="{h - pad - (h - 2 * pad) * g:.1f}" y2="{h - pad - (h - 2 * pad) * g:.1f}" '
        f'class="grid"/><text x="{pad - 6}" y="{h - pad - (h - 2 * pad) * g + 4:.1f}" text-anchor="end">{g:.1f}</text>'
        for g in (0, 0.25, 0.5, 0.75, 1.0)
    )
    labels = "".join(
        f'<text x="{x:.1f}" y="{h - pad + 16}" text-anchor="middle">{i + 1}</text>' for i, x in enumerate(xs)
    )
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3"><title>hit@{i + 1} = {v:.3f}</title></circle>'
        for i, (x, y, v) in enumerate(zip(xs, ys, curve))
    )
    return (
        f'<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="hit at k, k from 1 to {DEPTH}">'
        f'{grid}{labels}<polyline points="{points}" class="curve"/>{dots}'
        f'<text x="{w / 2}" y="{h - 4}" text-anchor="middle">k</text></svg>'
    )


def _status(r: QuestionResult) -> tuple[str, str]:
    if not r.answerable:
        return "info", f"unanswerable, top score {r.top_score:.3f}"
    if r.first_relevant_rank == 1:
        return "pass", "rank 1"
    if r.first_relevant_rank:
        return "near", f"rank {r.first_relevant_rank}"
    return "fail", "not in top 10" + ("" if r.coverable else " (no chunk covers the evidence)")


CSS = """
body{font-family:"Noto Sans Thai","Sarabun","Leelawadee UI",Tahoma,system-ui,sans-serif;line-height:1.7;margin:2rem;color:#1b1b1b}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;padding:.4rem .5rem;vertical-align:top;text-align:left}
.summary td,.summary th{text-align:right}.pass{background:#e7f6e7}.near{background:#fff6d6}.fail{background:#fde2e1}
.info{background:#eef2f8}mark{background:#ffd54a}.passage{margin:.2rem 0 .6rem;font-size:.92rem}
.rel{border-left:4px solid #2e7d32;padding-left:.4rem}.irr{border-left:4px solid #bbb;padding-left:.4rem}
.meta{color:#555;font-size:.8rem}.grid{stroke:#ddd}.curve{fill:none;stroke:#1565c0;stroke-width:2}
svg text{font-size:11px;fill:#444}circle{fill:#1565c0}
"""

SCRIPT = """
document.getElementById('only-failing').addEventListener('change', function (e) {
  document.querySelectorAll('tr.q').forEach(function (row) {
    row.hidden = e.target.checked && !(row.classList.contains('fail') || row.classList.contains('near'));
  });
});
"""


def write_html(result: EvalResult, documents: dict[str, Document], path: Path) -> None:
    s = result.summary
    head = "".join(f"<th>{html.escape(n)}</th>" for n in HEADLINE)
    cells = "".join(f"<td>{_fmt(s[n])}</td>" for n in HEADLINE)
    failing = [r for r in result.questions if r.answerable and not r.hit(1)]
    rows = []
    for r in result.questions:
        css, status = _status(r)
        spans_by_doc: dict[str, list[tuple[int, int]]] = {}
        for ev in r.evidence:
            spans_by_doc.setdefault(ev["doc_id"], []).extend(tuple(sp) for sp in ev["spans"])
        gold = (
            "".join(
                f'<div><span class="meta">{html.escape(ev["doc_id"])}</span><br>{html.escape(ev["text"]) or "(whole passage)"}</div>'
                for ev in r.evidence
            )
            or '<span class="meta">none: the corpus does not answer this</span>'
        )
        passages = []
        for p in r.passages[:3]:
            doc = documents[p.doc_id]
            body = _highlighted(doc, p.char_start, p.char_end, spans_by_doc.get(p.doc_id, []))
            passages.append(
                f'<div class="passage {"rel" if p.relevant else "irr"}"><span class="meta">#{p.rank} · '
                f"{html.escape(doc.title[:80])} · {html.escape(p.doc_id)} [{p.char_start}:{p.char_end}] · "
                f"score {p.score:.3f}</span><br>{body}</div>"
            )
        if r.answer:
            a = r.answer
            verdict = "holds the evidence" if r.answer_contains_evidence else "does not hold the evidence"
            verdict += f", F1 {r.answer_f1:.2f}" + (", exact" if r.answer_exact_match else "")
            shown = "withheld: no answer" if r.flagged_no_answer else "shown"
            doc = documents[a["doc_id"]]
            start, end = a.get("sentence_start", a["char_start"]), a.get("sentence_end", a["char_end"])
            evidence = spans_by_doc.get(a["doc_id"], [])
            # The answer's words in bold inside their sentence, the evidence marked.
            sentence = (
                _highlighted(doc, start, a["char_start"], evidence)
                + f"<strong>{_highlighted(doc, a['char_start'], a['char_end'], evidence)}</strong>"
                + _highlighted(doc, a["char_end"], end, evidence)
            )
            answer = (
                f'<div class="passage"><span class="meta">answer ({shown}, confidence {r.confidence:.3f}, '
                f"{verdict}) · {html.escape(a['doc_id'])} [{a['char_start']}:{a['char_end']}]</span><br>"
                f"{sentence}</div>"
            )
            passages.insert(0, answer)
        tags = ", ".join(r.tags)
        rows.append(
            f'<tr class="q {css}"><td>{html.escape(r.id)}<div class="meta">{html.escape(tags)}</div></td>'
            f"<td>{html.escape(r.question)}</td><td>{gold}</td><td>{''.join(passages)}</td>"
            f"<td>{html.escape(status)}</td></tr>"
        )
    page = f"""<!doctype html>
<html lang="th"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>khamtop evaluation: {html.escape(result.name)}</title><style>{CSS}</style></head><body>
<h1>Evaluation: {html.escape(result.name)}</h1>
<p>{s["questions"]} questions ({s["answerable"]} answerable, {s["unanswerable"]} unanswerable) against
{html.escape(result.index["path"])}, {html.escape(result.index["mode"])} search: model {html.escape(result.index["model"])}, {result.index["chunks"]} chunks
from {result.index["documents"]} documents. A passage is relevant when it comes from the evidence's document and
covers the evidence span.</p>
<table class="summary"><tr>{head}</tr><tr>{cells}</tr></table>
<p>Latency p50 {s["latency_ms"]["p50"]:.1f} ms, p95 {s["latency_ms"]["p95"]:.1f} ms (in process).
{len(failing)} answerable questions do not get a relevant passage first; {s["uncoverable"]} have evidence
that no chunk covers whole. The answer ({"the reader's words" if result.index.get("read") else "the best sentence"},
in bold inside its sentence below) matches the evidence for {_fmt(s["answer_matches_evidence"])} of answerable
questions (exact match {_fmt(s["answer_exact_match"])}, character F1 {_fmt(s["answer_f1"])}, median
{s["answer_median_chars"]:.0f} characters) and holds it for {_fmt(s["answer_contains_evidence"])}; "no answer" is said for {_fmt(s["no_answer"]["unanswerable_flagged"])} of unanswerable and
{_fmt(s["no_answer"]["answerable_flagged"])} of answerable questions.</p>
<h2>hit@k</h2>{_curve_svg(s["hit_curve"])}
<h2>Questions</h2>
<label><input type="checkbox" id="only-failing"> show only questions without a relevant passage first</label>
<table><tr><th>id</th><th>question</th><th>gold evidence</th><th>answer (bold, in its sentence) and top three passages (evidence highlighted)</th>
<th>result</th></tr>
{"".join(rows)}
</table><script>{SCRIPT}</script></body></html>
"""
    path.write_text(page, encoding="utf-8")
