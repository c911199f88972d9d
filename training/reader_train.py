"""``khamtop model train-reader``: the reader's weights from a dataset's ``train`` split.

Everything that decides the result is an argument with a default and is recorded beside the
weights (``reader.json``): seed, epochs, steps, learning rate, the data's hash and the library
versions. The same command on the same data and versions gives the same weights on CPU (torch
is deterministic there); on a GPU the figures move in the last digits.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import random
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from eval.datasets import load_dataset
from index.store.atomic import staged_dir
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


THAIGOV_NOTICE = """
The reader's weights are also trained on questions generated (training.thaigov_questions) from
thaigov-v2, news items of the Thai government's web site collected by the PyThaiNLP project
(PyThaiNLP/thaigov-v2-corpus): public domain under the Thai Copyright Act B.E. 2537, section 7.
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
    checkpoint_every: int = 200  # steps between checkpoints (a run stopped part-way resumes from the last)


@dataclass(frozen=True)
class Source:
    """A dataset folder to train on (its ``train`` split) and how many of its questions, drawn
    with the seed (None: all)."""

    folder: Path
    questions: int | None = None

    @classmethod
    def parse(cls, text: str) -> Source:
        """``PATH`` or ``PATH@N``."""
        path, _, count = text.rpartition("@") if "@" in text else (text, "", "")
        if count and not count.isdigit():
            raise ValueError(f"{text!r}: the number of questions after @ must be a whole number")
        return cls(Path(path), int(count) if count else None)


CHECKPOINT = "checkpoint.pt"


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


def _source_record(source: Source, questions: int) -> dict:
    record = {
        "folder": source.folder.name,
        "split": "train",
        "sha256": data_sha256(source.folder),
        "questions": questions,
        "sampled": source.questions,
    }
    generated = source.folder.parent / "generated.json"
    if generated.is_file():  # made by training.thaigov_questions: how, and from what
        record["generated"] = json.loads(generated.read_text("utf-8"))
    return record


def train_reader(
    sources: list[Source] | Path,
    encoder_dir: Path,
    out: Path,
    config: TrainConfig,
    progress=print,
    checkpoints: Path | None = None,
    resume: bool = False,
) -> dict:
    """Train, then write ``out`` (all-or-nothing): the changed weights, the record, the licence.
    ``checkpoints``: a folder where the run's state is saved every ``checkpoint_every`` steps;
    with ``resume``, a run of the same settings and data goes on from the state saved there."""
    import torch
    from safetensors.numpy import save_file

    if isinstance(sources, Path):
        sources = [Source(sources)]
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = random.Random(config.seed)
    tokenizer = ReaderTokenizer(encoder_dir / "tokenizer.json", config.max_length, config.max_question_tokens)
    started = time.perf_counter()
    makers, used = [], []
    for source in sources:
        train = load_dataset(source.folder).of_split("train")
        if source.questions is not None:
            train = train.sample(source.questions, config.seed)
        if config.limit is not None:
            train.questions = train.questions[: config.limit]
        maker = RowMaker(train, tokenizer)
        makers.append(maker)
        used.append(_source_record(source, len(maker.questions)))
    questions = sum(len(m.questions) for m in makers)
    progress(f"{questions} training questions; rows made in {time.perf_counter() - started:.0f} s")

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
    epochs = []
    for e in range(config.epochs):
        # The first source keeps the stream the shipped weights were trained with; the others get
        # streams of their own (seed * 1000 + e + m would give source 1's epoch 0 epoch 1's).
        rows = [
            r
            for m, maker in enumerate(makers)
            for r in maker.rows(random.Random(config.seed * 1000 + e if m == 0 else f"{config.seed}/{e}/{m}"))
        ]
        rng.shuffle(rows)
        epochs.append(rows)
    batches = [rows[i : i + config.batch_size] for rows in epochs for i in range(0, len(rows), config.batch_size)]
    steps = len(batches)
    warmup = max(1, int(steps * config.warmup_share))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup)))
    )
    progress(f"{sum(map(len, epochs))} rows, {steps} steps of {config.batch_size}")
    losses: list[float] = []
    step = 0
    identity = {
        "config": asdict(config),
        "data": [(u["sha256"], u["sampled"]) for u in used],
        "encoder": (encoder_dir / "khamtop_conversion.json").read_text("utf-8"),
        "steps": steps,
    }
    saved = checkpoints / CHECKPOINT if checkpoints is not None else None
    if resume and saved is not None and saved.is_file():
        state = torch.load(saved, weights_only=False)
        if state["identity"] != identity:
            raise ValueError(f"{saved} is the checkpoint of another run (other settings or data); remove it")
        model.load_state_dict(state["model"], strict=False)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        step, losses = state["step"], state["losses"]
        progress(f"resumed at step {step}/{steps} from {saved}")
    model.train()
    for batch in batches[step:]:
        ids, mask, allowed, starts, ends = _batch(batch)
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
        if saved is not None and (step % config.checkpoint_every == 0 or step == steps):
            saved.parent.mkdir(parents=True, exist_ok=True)
            state = {
                "identity": identity,
                "model": {n: p.detach().clone() for n, p in trainable},
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "step": step,
                "losses": losses,
            }
            torch.save(state, saved.with_suffix(".tmp"))
            saved.with_suffix(".tmp").replace(saved)  # a run killed while saving keeps the last whole one
            progress(f"checkpoint at step {step} in {saved}")

    names = [n for n, _ in trainable]
    delta = state_of(model, names)
    record = {
        "format": WEIGHTS_FORMAT,
        "config": asdict(config),
        "steps": steps,
        "rows": sum(map(len, epochs)),
        "questions": questions,
        "data": {
            "split": "train",
            "sha256": hashlib.sha256("".join(u["sha256"] for u in used).encode()).hexdigest(),
            "sources": used,
        },
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
        notice = IAPP_LICENSE + (THAIGOV_NOTICE if any("generated" in u for u in used) else "")
        (tmp / LICENSE_FILE).write_text(notice, "utf-8")
    return record
