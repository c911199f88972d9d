"""Experiment (rejected): sentence vectors pooled from their passage's token states.

    python -m eval.pooled_sentences [--iapp]

A build encodes each passage and, separately, each of its sentences (about 6 per passage): most
of the build's time. Pooling each sentence's tokens out of its passage's encoding would need one
encoding per passage. This measures that on the gold set (and 1,000 iApp questions with
``--iapp``) against the stored, separately encoded sentence vectors, with the same index and
everything else equal. Result (2026-11-30, gold): hit@1 0.710 -> 0.636, MRR@10 0.809 -> 0.765,
so the build keeps encoding sentences on their own.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def pooled_sentence_vectors(index, embedder) -> np.ndarray:
    """Each sentence's mean token state within the passage(s) that hold it, averaged, normalised."""
    session, tokenizer = embedder._session("passage"), embedder._tokenizer
    sums = np.zeros((len(index.sentences), embedder.dim), np.float32)
    counts = np.zeros(len(index.sentences))
    chunks = sorted(index.chunks, key=lambda c: -len(c.text))
    for b in range(0, len(chunks), 16):
        rows = chunks[b : b + 16]
        titles = [index.documents[c.doc_id].title for c in rows]
        prefixes = [embedder.passage_prompt + (f"{t}\n" if t else "") for t in titles]
        encodings = tokenizer.encode_batch([p + c.text for p, c in zip(prefixes, rows)])
        width = max(len(x.ids) for x in encodings)
        ids = np.full((len(rows), width), embedder._pad_id, np.int64)
        mask = np.zeros_like(ids)
        for r, x in enumerate(encodings):
            ids[r, : len(x.ids)], mask[r, : len(x.ids)] = x.ids, 1
        (states,) = session.run(None, {"input_ids": ids, "attention_mask": mask})
        for r, (c, x, prefix) in enumerate(zip(rows, encodings, prefixes)):
            offsets = np.array(x.offsets)
            real = offsets[:, 1] > offsets[:, 0]
            for sid in index.chunk_sentences[c.id]:
                s = index.sentences[sid]
                start = max(s.char_start, c.char_start) - c.char_start + len(prefix)
                end = min(s.char_end, c.char_end) - c.char_start + len(prefix)
                inside = real & (offsets[:, 0] < end) & (offsets[:, 1] > start)
                if inside.any():
                    sums[sid] += states[r, : len(x.ids)][inside].mean(0)
                    counts[sid] += 1
    found = counts > 0
    sums[found] /= counts[found, None]
    sums[~found] = index.sentence_vectors[~found]
    return sums / np.linalg.norm(sums, axis=1, keepdims=True)


def main() -> None:
    from corpus.reader import read_folder
    from eval.datasets import GOLD, load_dataset, load_gold
    from eval.modes_table import IAPP
    from eval.pipeline import index_for
    from eval.runner import run
    from index.encoders.factory import load_embedder
    from index.search import Retriever
    from service.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iapp", action="store_true", help="also 1,000 iApp questions (builds its index)")
    args = parser.parse_args()
    settings = Settings()
    if settings.embedding_backend == "torch":
        raise SystemExit("this experiment needs an ONNX backend (KHAMTOP_EMBEDDING_BACKEND)")
    embedder = load_embedder(settings.encoder_config())
    documents, _ = read_folder(settings.corpus_dir)
    sets = [("gold", load_gold(GOLD, documents), documents)]
    if args.iapp:
        iapp = load_dataset(IAPP)
        sets.append(("iapp", iapp.sample(1000, 0), iapp.documents))
    cache = settings.home / "data" / "eval-cache" / "onnx"
    for name, questions, docs in sets:
        index = index_for(settings, embedder, docs, Path(cache) / name, progress=True)
        for label in ("separate (stored)", "pooled from the passage"):
            if label.startswith("pooled"):
                started = time.perf_counter()
                index.sentence_vectors = pooled_sentence_vectors(index, embedder)
                print(f"pooled {len(index.sentences)} sentences in {time.perf_counter() - started:.1f} s")
            s = run(questions, Retriever.from_settings(settings, embedder, index)).summary
            figures = {k: round(s[k], 3) for k in ("hit@1", "hit@5", "hit@10", "mrr@10", "answer_contains_evidence")}
            print(f"{name}, sentence vectors {label}: {json.dumps(figures)}", flush=True)


if __name__ == "__main__":
    main()
