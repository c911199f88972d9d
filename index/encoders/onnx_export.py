"""The encoder's ONNX export, made once, offline: fp32 (the same vectors as torch) and int8.

sentence-transformers' own ONNX path needs ``optimum-onnx``, which requires transformers < 4.58
while sentence-transformers 6 requires transformers >= 5
(docs/decisions/005-embedding-backend.md). So the export is
done here, once, offline, by ``khamtop model prepare``: ``torch.onnx.export`` of the transformer
(input ids and attention mask in, token states out), then ``quantize_dynamic`` for int8. Mean
pooling and normalisation, which sentence-transformers does after the transformer, are done here
in numpy. Queries then need neither torch nor sentence-transformers, only onnxruntime and the
model's fast tokenizer.

The export sits beside the model folder (``models/NAME.onnx/``) with ``export.json``, which
records what it was exported from; a changed model folder is exported again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from pathlib import Path

import numpy as np

from index.store.atomic import staged_dir
from index.encoders.base import OnnxExportError

log = logging.getLogger(__name__)

# 2: the int8 file keeps its word embedding table in float16 (half_embedding_table)
EXPORT_FORMAT = "khamtop-onnx/2"
EXPORT_FILE = "export.json"
FILES = {"onnx": "model.onnx", "onnx-int8": "model-int8.onnx"}
OPSET = 17


def export_dir(model_path: Path) -> Path:
    return model_path.parent / f"{model_path.name}.onnx"


def source_key(model_path: Path) -> str:
    """A cheap identity of a model folder: every file's name, size and modification time."""
    h = hashlib.sha256()
    for p in sorted(q for q in model_path.rglob("*") if q.is_file()):
        stat = p.stat()
        h.update(f"{p.relative_to(model_path).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]


def _pooling_is_mean(model_path: Path) -> bool:
    modules = json.loads((model_path / "modules.json").read_text("utf-8"))
    pooling = next((m for m in modules if m["type"].endswith("Pooling")), None)
    if pooling is None:
        return False
    config = json.loads((model_path / pooling["path"] / "config.json").read_text("utf-8"))
    others = [k for k, v in config.items() if k.startswith("pooling_mode_") and v and k != "pooling_mode_mean_tokens"]
    return bool(config.get("pooling_mode_mean_tokens")) and not others


def read_export(model_path: Path) -> dict | None:
    """The export's record if it is complete and was made from this model folder, else None."""
    folder = export_dir(model_path)
    try:
        record = json.loads((folder / EXPORT_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("format") != EXPORT_FORMAT or record.get("source_key") != source_key(model_path):
        return None
    if not all((folder / name).is_file() for name in FILES.values()):
        return None
    return record


def ensure_export(model_path: Path) -> dict:
    """Export ``model_path`` (a sentence-transformers folder) to ONNX fp32 and int8 unless done.

    Loads torch once (about 30 s on two cores, all of it here); written all-or-nothing.
    """
    model_path = Path(model_path)
    record = read_export(model_path)
    if record is not None:
        return record
    if not (model_path / "modules.json").is_file():
        raise OnnxExportError(
            f"{model_path} is not a local sentence-transformers folder; the ONNX backends need one "
            "(or use KHAMTOP_EMBEDDING_BACKEND=torch)"
        )
    if not _pooling_is_mean(model_path):
        raise OnnxExportError(f"{model_path} does not use mean pooling; use KHAMTOP_EMBEDDING_BACKEND=torch")
    import torch

    from index.encoders.torch_encoder import SentenceTransformerEmbedder

    log.info("exporting %s to ONNX (once)", model_path)
    st = SentenceTransformerEmbedder("export", str(model_path), "", "")
    # The tracer's and the quantiser's advice (TracerWarnings, "consider pre-processing") is
    # about other models; the result is checked by the tests and the evaluation instead.
    root = logging.getLogger()
    level = root.level
    try:
        root.setLevel(logging.ERROR)
        with staged_dir(export_dir(model_path)) as tmp, warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            _export(st, tmp)
            record = {
                "format": EXPORT_FORMAT,
                "source_key": source_key(model_path),
                "fingerprint": st.fingerprint(),
                "dim": st.dim,
                "max_seq_length": int(st._model.max_seq_length),
                "opset": OPSET,
                "torch": torch.__version__.split("+")[0],
            }
            (tmp / EXPORT_FILE).write_text(json.dumps(record, indent=1) + "\n", "utf-8")
    finally:
        root.setLevel(level)
    return record


def _export(st, folder: Path) -> None:
    import torch

    class TokenStates(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    # eval(): a fresh wrapper is in training mode, and its dropout would be exported with it.
    wrapper = TokenStates(st._model[0].auto_model).eval()
    sample = st._model.tokenizer(["query: ตัวอย่าง sample"], return_tensors="pt")
    export_graph(wrapper, (sample["input_ids"], sample["attention_mask"]), folder / FILES["onnx"], ["token_states"])
    quantize_int8(folder / FILES["onnx"], folder / FILES["onnx-int8"])


def export_graph(module, inputs: tuple, path: Path, outputs: list[str]) -> None:
    """``module(input_ids, attention_mask)`` traced to ONNX at ``path``, batch and length dynamic
    in every input and output."""
    import torch

    dynamic = {name: {0: "batch", 1: "tokens"} for name in ["input_ids", "attention_mask", *outputs]}
    torch.onnx.export(
        module,
        inputs,
        str(path),
        input_names=["input_ids", "attention_mask"],
        output_names=outputs,
        dynamic_axes=dynamic,
        opset_version=OPSET,
        dynamo=False,
    )


def quantize_int8(fp32: Path, int8: Path, reduce_range: bool = False) -> None:
    """Per-channel int8 weights of the matrix products only, and the word embedding table in
    float16 (``half_embedding_table``). Quantising every op as well lowered the vectors'
    agreement with torch for little speed (docs/decisions/005-embedding-backend.md).

    ``reduce_range``: weights in 7 bits. On a CPU without VNNI, ONNX Runtime multiplies uint8
    activations by int8 weights in pairs summed into 16 bits, which saturate for large values;
    VNNI and AMX sum into 32 bits and do not. With 7-bit weights no pair can saturate, so the
    integer products are exact, and the same, on every x86 CPU (docs/decisions/019-answers.md)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        fp32,
        int8,
        weight_type=QuantType.QInt8,
        per_channel=True,
        reduce_range=reduce_range,
        op_types_to_quantize=["MatMul"],
    )
    half_embedding_table(int8)


def half_embedding_table(path: Path) -> None:
    """Store the word embedding table (250,037 x 384: almost all of the file) in float16, cast
    back to float32 after the lookup.

    The service holds this model all the time, and the table is most of its memory. In float16
    it is half that, and a looked-up row differs from float32 by under 0.05% (float16 keeps 11 bits),
    far below what int8 weights already change (tests/test_onnx_backend.py)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    initializers = {i.name: i for i in model.graph.initializer}
    nodes = []
    for original in model.graph.node:
        node = onnx.NodeProto()
        node.CopyFrom(original)  # copies: the graph's own list is emptied and refilled below
        nodes.append(node)
        table = initializers.get(node.input[0]) if node.op_type == "Gather" else None
        if table is None or table.data_type != TensorProto.FLOAT or table.dims[0] < 10_000:
            continue  # position and token-type tables are small: not worth a cast
        half = numpy_helper.from_array(numpy_helper.to_array(table).astype(np.float16), table.name + ".fp16")
        model.graph.initializer.remove(table)
        model.graph.initializer.append(half)
        node.input[0] = half.name
        looked_up = node.output[0]
        node.output[0] = looked_up + ".fp16"
        # Right after the lookup, so the nodes stay in ONNX's required (topological) order.
        nodes.append(helper.make_node("Cast", [node.output[0]], [looked_up], to=TensorProto.FLOAT))
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.save(model, str(path))
