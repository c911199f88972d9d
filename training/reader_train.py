"""``khamtop model train-reader``: the reader's weights from a dataset's ``train`` split.

Everything that decides the result is an argument with a default and is recorded beside the
weights (``reader.json``): seed, epochs, steps, learning rate, the data's hash and the library
versions. The same command on the same data and versions gives the same weights on CPU (torch
is deterministic there); on a GPU the figures move in the last digits.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import random
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from eval.datasets import load_dataset
from index.atomic import staged_dir
from index.reader.features import ReaderTokenizer
from index.reader.model import build_model, frozen_names, state_of, tensors_sha256
from index.reader.weights import DELTA_FILE, LICENSE_FILE, RECORD_FILE, WEIGHTS_FORMAT
from training.reader_data import RowMaker, Row, data_sha256

log = logging.getLogger(__name__)

IAPP_LICENSE = """The reader's weights are trained on the iApp Wiki QA dataset (train split):
https://github.com/iapp-technology/iapp-wiki-qa-dataset

MIT License

Copyright (c) 2021 iApp Technology Co., Ltd.

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT
OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""


@dataclass(frozen=True)
class TrainConfig:
    layers: int = 6  # the converted encoder's first layers the reader keeps
    frozen_layers: int = 1  # of those, left as converted (with the embeddings)
    max_length: int = 160  # tokens a row holds: question, context and three special tokens
    max_question_tokens: int = 40
    epochs: int = 2
    batch_size: int = 16
    learning_rate: float = 1e-4
    warmup_share: float = 0.05
    weight_decay: float = 0.01
    seed: int = 0
    limit: int | None = None  # train on the first N questions only (tests, smoke runs)
    threads: int = 2


def _versions() -> dict[str, str]:
    names = ("torch", "transformers", "tokenizers", "numpy", "pythainlp", "safetensors")
    return {n: metadata.version(n) for n in names} | {"python": platform.python_version()}


def _batch(rows: list[Row]):
    import torch

    length = max(len(r.input_ids) for r in rows)
    ids = torch.full((len(rows), length), 1, dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    allowed = torch.zeros((len(rows), length), dtype=torch.bool)
    for i, r in enumerate(rows):
        ids[i, : len(r.input_ids)] = torch.from_numpy(r.input_ids)
        mask[i, : len(r.input_ids)] = 1
        allowed[i, 0] = True
        allowed[i, r.context_start : r.context_start + r.context_tokens] = True
    starts = torch.tensor([r.start for r in rows])
    ends = torch.tensor([r.end for r in rows])
    return ids, mask, allowed, starts, ends


def train_reader(dataset: Path, encoder_dir: Path, out: Path, config: TrainConfig, progress=print) -> dict:
    """Train, then write ``out`` (all-or-nothing): the changed weights, the record, the licence."""
    import torch
    from safetensors.numpy import save_file

    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = random.Random(config.seed)
    train = load_dataset(dataset).of_split("train")
    if config.limit is not None:
        train.questions = train.questions[: config.limit]
    tokenizer = ReaderTokenizer(encoder_dir / "tokenizer.json", config.max_length, config.max_question_tokens)
    started = time.perf_counter()
    maker = RowMaker(train, tokenizer)
    progress(f"{len(maker.questions)} training questions; rows made in {time.perf_counter() - started:.0f} s")

    model = build_model(encoder_dir, config.layers)
    frozen = set(frozen_names(model, config.frozen_layers))
    trainable = []
    for name, p in model.named_parameters():
        p.requires_grad = name not in frozen
        if p.requires_grad:
            trainable.append((name, p))
    decay = [p for n, p in trainable if p.ndim > 1]
    no_decay = [p for n, p in trainable if p.ndim <= 1]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.learning_rate,
    )
    epochs = [maker.rows(random.Random(config.seed * 1000 + e)) for e in range(config.epochs)]
    steps = sum(math.ceil(len(rows) / config.batch_size) for rows in epochs)
    warmup = max(1, int(steps * config.warmup_share))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup)))
    )
    progress(f"{sum(map(len, epochs))} rows, {steps} steps of {config.batch_size}")
    losses: list[float] = []
    step = 0
    model.train()
    for rows in epochs:
        rng.shuffle(rows)
        for i in range(0, len(rows), config.batch_size):
            ids, mask, allowed, starts, ends = _batch(rows[i : i + config.batch_size])
            start_logits, end_logits = model(ids, mask)
            floor = torch.finfo(start_logits.dtype).min
            start_logits = start_logits.masked_fill(~allowed, floor)
            end_logits = end_logits.masked_fill(~allowed, floor)
            loss = (
                torch.nn.functional.cross_entropy(start_logits, starts)
                + torch.nn.functional.cross_entropy(end_logits, ends)
            ) / 2
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for _, p in trainable], 1.0)
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            step += 1
            if step % 50 == 0 or step == steps:
                elapsed = time.perf_counter() - started
                progress(f"step {step}/{steps}: loss {np.mean(losses[-50:]):.3f} ({elapsed / 60:.1f} min)")

    names = [n for n, _ in trainable]
    delta = state_of(model, names)
    record = {
        "format": WEIGHTS_FORMAT,
        "config": asdict(config),
        "steps": steps,
        "rows": sum(map(len, epochs)),
        "questions": len(maker.questions),
        "data": {"folder": dataset.name, "split": "train", "sha256": data_sha256(dataset)},
        "encoder": json.loads((encoder_dir / "khamtop_conversion.json").read_text("utf-8")),
        "frozen_sha256": tensors_sha256(state_of(model, sorted(frozen))),
        "delta_sha256": tensors_sha256(delta),
        "loss_per_50_steps": [round(float(np.mean(losses[i : i + 50])), 4) for i in range(0, len(losses), 50)],
        "train_seconds": round(time.perf_counter() - started, 1),
        "versions": _versions(),
    }
    with staged_dir(out) as tmp:
        save_file(delta, str(tmp / DELTA_FILE))
        (tmp / RECORD_FILE).write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", "utf-8")
        (tmp / LICENSE_FILE).write_text(IAPP_LICENSE, "utf-8")
    return record
