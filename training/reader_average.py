"""``khamtop model average-readers``: one reader from two trained from the same encoder, weight by
weight (w × second + (1 − w) × first).

Two readers fine-tuned from the same start lie in one basin, so their average is a reader too, and
it keeps much of each one's gains while losing less of what the other knew (Wortsman et al., 2022,
"Robust fine-tuning of zero-shot models", WiSE-FT). Here it joins the reader trained on Wikipedia
questions with one trained on generated government questions as well: the second alone learned
the generator's templates (decision 022).

The result is reproducible from its two inputs, whose records are kept inside its own.
"""

from __future__ import annotations

import json
from pathlib import Path

from index.reader.weights import DELTA_FILE, LICENSE_FILE, RECORD_FILE, WEIGHTS_FORMAT, ReaderWeightsError, read_record
from index.store.atomic import staged_dir

# What must agree for two readers to be averaged: the same layers from the same encoder, the same
# rows' shape.
_SAME = ("layers", "frozen_layers", "max_length", "max_question_tokens")


def average_readers(first: Path, second: Path, weight: float, out: Path) -> dict:
    """Write ``out`` (all-or-nothing): ``weight`` × ``second`` + (1 − ``weight``) × ``first``."""
    from safetensors.numpy import load_file, save_file

    from index.reader.model import tensors_sha256

    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"the weight must be between 0 and 1, not {weight}")
    for given in (first, second):
        if out.resolve() == given.resolve() or out.resolve() in given.resolve().parents:
            raise ValueError(f"--out {out} is, or holds, the input {given}: write the average elsewhere")
    if out.exists() and not (out / RECORD_FILE).is_file():
        raise ValueError(f"{out} exists and is not a reader's weights folder: it would be replaced; choose another")
    records = [read_record(first), read_record(second)]
    for key in _SAME:
        if records[0]["config"][key] != records[1]["config"][key]:
            raise ReaderWeightsError(
                f"{first} and {second} differ in {key} ({records[0]['config'][key]} and "
                f"{records[1]['config'][key]}): only readers of one shape can be averaged"
            )
    if records[0]["frozen_sha256"] != records[1]["frozen_sha256"]:
        raise ReaderWeightsError(f"{first} and {second} were trained on other encoders (their frozen layers differ)")
    deltas = []
    for folder, record in zip((first, second), records):
        delta = load_file(str(folder / DELTA_FILE))
        if tensors_sha256(delta) != record["delta_sha256"]:
            raise ReaderWeightsError(f"{folder / DELTA_FILE} does not match its checksum in {RECORD_FILE}")
        deltas.append(delta)
    if set(deltas[0]) != set(deltas[1]):
        raise ReaderWeightsError(f"{first} and {second} trained other parts of the model")
    for name in deltas[0]:
        if deltas[0][name].shape != deltas[1][name].shape:
            raise ReaderWeightsError(f"{first} and {second} differ in the shape of {name}")
    averaged = {
        n: ((1.0 - weight) * deltas[0][n] + weight * deltas[1][n]).astype(deltas[0][n].dtype) for n in deltas[0]
    }
    record = {
        "format": WEIGHTS_FORMAT,
        "config": records[0]["config"],
        "averaged": {"weight": weight, "first": records[0], "second": records[1]},
        "data": {
            "split": "train",
            "sha256": records[0]["data"]["sha256"] + "+" + records[1]["data"]["sha256"],
            "sources": [s for r in records for s in r["data"].get("sources", [r["data"]])],
        },
        "encoder": records[0]["encoder"],
        "frozen_sha256": records[0]["frozen_sha256"],
        "delta_sha256": tensors_sha256(averaged),
        "versions": records[0].get("versions"),
    }
    with staged_dir(out) as tmp:
        save_file(averaged, str(tmp / DELTA_FILE))
        (tmp / RECORD_FILE).write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", "utf-8")
        # Every notice of either input, each once (a notice may hold another's).
        notices: list[str] = []
        for f in (first, second):
            text = (f / LICENSE_FILE).read_text("utf-8") if (f / LICENSE_FILE).is_file() else ""
            if text and not any(text in n for n in notices):
                notices = [n for n in notices if n not in text] + [text]
        (tmp / LICENSE_FILE).write_text("\n".join(notices), "utf-8")
    return record
