"""The encoder's own ceiling: passages of exactly N tokens a second, ONNX fp32 and int8.

    python -m benchmarks.encoder_speed [--tokens 150] [--batch 32] [--seconds 8]

Batches of real token ids (windows of the bundled corpus's text) of one length, so nothing but
the transformer is timed: no tokenising, padding, pooling or writing. It bounds what any index
build can do on this machine (docs/decisions/012-build-throughput.md).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np

from benchmarks.common import parser, write_result


def main() -> None:
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from corpus.reader import read_folder
    from index.encoders.factory import resolve_model_path
    from index.encoders.onnx_export import FILES, ensure_export, export_dir
    from service.settings import Settings

    arguments = parser(__doc__, "encoder-speed-latest.json")
    arguments.add_argument("--tokens", type=int, default=150, help="each passage's length in tokens")
    arguments.add_argument("--batch", type=int, default=32, help="passages a call")
    arguments.add_argument("--seconds", type=float, default=8.0, help="how long each backend is timed")
    args = arguments.parse_args()

    settings = Settings()
    model = Path(resolve_model_path(settings.model, settings.models_dir))
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
    rates: dict[str, float] = {}
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
        rate = rates[backend] = done / (time.perf_counter() - started)
        print(f"{backend}: {rate:.1f} passages of {args.tokens} tokens/s ({rate * args.tokens:,.0f} tokens/s)")
    write_result(args.out, {"tokens": args.tokens, "batch": args.batch, "passages_per_s": rates})


if __name__ == "__main__":
    main()
