"""The encoder through sentence-transformers and PyTorch: the reference that the ONNX backends
are held to, and what the ONNX export starts from."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from index.encoders.base import ModelLoadError


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
