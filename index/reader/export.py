"""The reader's ONNX files, made once by ``khamtop model prepare`` from the shipped weights and
the converted encoder (``index.reader.weights.assemble``): fp32, and int8 (per-channel weights of
the matrix products in 7 bits, and a float16 word table). Written all-or-nothing to
``models/khamtop-reader.onnx/`` with ``export.json``, which names the weights and encoder it was
made from; either changing exports it again.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

from index.store.atomic import staged_dir
from index.encoders.onnx_export import export_graph, quantize_int8, source_key
from index.reader.weights import read_record

log = logging.getLogger(__name__)

# /2: int8 weights in 7 bits, so that every x86 CPU computes the same integer products
# (``index.encoders.onnx_export.quantize_int8``).
EXPORT_FORMAT = "khamtop-reader-onnx/2"
EXPORT_FILE = "export.json"
FILES = {"fp32": "reader.onnx", "int8": "reader-int8.onnx"}
FOLDER_NAME = "khamtop-reader.onnx"


def _identity(weights: Path, encoder_dir: Path) -> dict:
    record = read_record(weights)
    return {"delta_sha256": record["delta_sha256"], "encoder_key": source_key(encoder_dir)}


def read_export(folder: Path, weights: Path, encoder_dir: Path) -> dict | None:
    """The export's record if it is complete and made from these weights and this encoder."""
    try:
        record = json.loads((folder / EXPORT_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("format") != EXPORT_FORMAT or record.get("source") != _identity(weights, encoder_dir):
        return None
    if not all((folder / name).is_file() for name in FILES.values()):
        return None
    return record


def ensure_reader_export(weights: Path, encoder_dir: Path, folder: Path) -> dict:
    """Export the reader unless ``folder`` already holds this export; about 20 s on two cores."""
    record = read_export(folder, weights, encoder_dir)
    if record is not None:
        return record
    import torch

    from index.reader.weights import assemble

    model, trained = assemble(weights, encoder_dir)
    config = trained["config"]
    log.info("exporting the reader to ONNX (once)")
    sample_ids = torch.tensor([[0, 1000, 2, 2000, 3000, 2]])
    root = logging.getLogger()
    level = root.level
    try:
        root.setLevel(logging.ERROR)
        with staged_dir(folder) as tmp, warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the tracer's advice is about other models
            inputs = (sample_ids, torch.ones_like(sample_ids))
            export_graph(model, inputs, tmp / FILES["fp32"], ["start_logits", "end_logits"])
            quantize_int8(tmp / FILES["fp32"], tmp / FILES["int8"], reduce_range=True)
            record = {
                "format": EXPORT_FORMAT,
                "source": _identity(weights, encoder_dir),
                "max_length": config["max_length"],
                "max_question_tokens": config["max_question_tokens"],
                "layers": config["layers"],
                "torch": torch.__version__.split("+")[0],
            }
            (tmp / EXPORT_FILE).write_text(json.dumps(record, indent=1) + "\n", "utf-8")
    finally:
        root.setLevel(level)
    return record
