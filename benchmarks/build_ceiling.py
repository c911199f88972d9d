"""Where an index build's time goes, and the most it could do: the encoder alone on its texts.

    python -m benchmarks.build_ceiling [--dataset ../shared/datasets/iapp-wiki-qa-dev] [--passages 300]

Splits and chunks the documents as ``khamtop index build`` does, then times each stage on its
own: the sentence split, the chunking, encoding the passages, encoding the sentences. The
encoder's two shares bound any build on this machine from above: a build also writes BM25, the
vector index and the files, so it cannot go faster than ``passages / (passages' + sentences'
encoding)`` however the rest is done. Without ``--dataset``, the bundled corpus.
"""

from __future__ import annotations

import time

from benchmarks.common import parser, write_result


def main() -> None:
    from eval.bench import workload
    from index.build.chunking import split_sentences
    from index.encoders.factory import load_embedder
    from index.build.embed import embed_texts, chunk_documents, indexed_text, split_documents
    from service.settings import Settings

    arguments = parser(__doc__, "build-ceiling-latest.json", dataset=True)
    arguments.add_argument("--passages", type=int, default=None, help="only the first N of --dataset")
    args = arguments.parse_args()

    settings = Settings()
    embedder = load_embedder(settings.encoder_config())
    load = workload(settings.corpus_dir, args.dataset, args.passages)
    documents = sorted(load.documents, key=lambda d: d.doc_id)
    config = settings.chunker_config()
    seconds: dict[str, float] = {}

    started = time.perf_counter()
    spans = {d.doc_id: split_sentences(d.text, config.sentence_engine) for d in documents}
    seconds["sentence split"] = time.perf_counter() - started
    started = time.perf_counter()
    chunks = chunk_documents(documents, embedder, config, sentences=spans)
    seconds["chunking"] = time.perf_counter() - started

    titles = {d.doc_id: d.title for d in documents}
    texts = {d.doc_id: d.text for d in documents}
    passages = [indexed_text(titles[c.doc_id], c.text) for c in chunks]
    sentences = split_documents(documents, spans)
    sentence_texts = [texts[s.doc_id][s.char_start : s.char_end] for s in sentences]

    def tokens(items: list[str]) -> int:  # what the encoder sees: prompt and <s> </s> included
        distinct = list(dict.fromkeys(items))
        return sum(embedder.count_tokens([settings.passage_prompt + t for t in distinct])) + 2 * len(distinct)

    embedder.embed_passages(passages[:8])  # warm-up
    started = time.perf_counter()
    embed_texts(embedder, passages, "passages", False)
    seconds["encoding passages"] = time.perf_counter() - started
    started = time.perf_counter()
    embed_texts(embedder, sentence_texts, "sentences", False)
    seconds["encoding sentences"] = time.perf_counter() - started

    n = len(chunks)
    encoding = seconds["encoding passages"] + seconds["encoding sentences"]
    report = {
        "workload": load.name,
        "backend": settings.embedding_backend,
        "passages": n,
        "sentences": len(sentences),
        "tokens_per_passage": tokens(passages) / n,
        "sentence_tokens_per_passage": tokens(sentence_texts) / n,
        "seconds": seconds,
        "ceiling_passages_per_s": n / encoding,
        "passages_only_per_s": n / seconds["encoding passages"],
    }
    per_passage = report["sentence_tokens_per_passage"]
    print(f"{load.name}: {n} passages of {report['tokens_per_passage']:.0f} tokens (title, prompt and")
    print(f"  <s></s> included), {len(sentences)} sentences: {per_passage:.0f} more tokens a passage")
    for stage, s in seconds.items():
        print(f"  {stage:20s} {s:6.1f} s")
    print(f"encoder alone, passages and sentences: {report['ceiling_passages_per_s']:.1f} passages/s (the ceiling)")
    print(f"encoder alone, passages only:          {report['passages_only_per_s']:.1f} passages/s")
    write_result(args.out, report)


if __name__ == "__main__":
    main()
