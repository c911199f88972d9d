"""The encoder's own ceiling: passages of exactly N tokens a second, ONNX fp32 and int8.

    python -m eval.encoder_speed [--tokens 150] [--batch 32] [--seconds 8]

Batches of real token ids (windows of the bundled corpus's text) of one length, so nothing but
the transformer is timed: no tokenising, padding, pooling or writing. It bounds what any index
build can do on this machine (docs/benchmarks.md, "Before and after").
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np


def main() -> None:
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from corpus.reader import read_folder
    from index.encoders.onnx_export import FILES, ensure_export, export_dir
    from service.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=150)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()

    settings = Settings()
    model = settings.models_dir / settings.model
    ensure_export(model)
    tokenizer = Tokenizer.from_file(str(model / "tokenizer.json"))
    documents, _ = read_folder(settings.corpus_dir)
    ids = tokenizer.encode("\n".join(d.text for d in documents), add_special_tokens=False).ids
    rng = random.Random(0)
    rows = []
    for _ in range(args.batch):
        start = rng.randrange(0, len(ids) - args.tokens)
        rows.append([0, *ids[start : start + args.tokens - 2], 2])  # <s> ... </s>
    feed = {"input_ids": np.array(rows, dtype=np.int64), "attention_mask": np.ones((args.batch, args.tokens), np.int64)}
    for backend in ("onnx", "onnx-int8"):
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(
            str(export_dir(model) / FILES[backend]), options, providers=["CPUExecutionProvider"]
        )
        session.run(None, feed)  # warm-up
        done, started = 0, time.perf_counter()
        while time.perf_counter() - started < args.seconds:
            session.run(None, feed)
            done += args.batch
        rate = done / (time.perf_counter() - started)
        print(f"{backend}: {rate:.1f} passages of {args.tokens} tokens/s ({rate * args.tokens:,.0f} tokens/s)")


if __name__ == "__main__":
    main()
