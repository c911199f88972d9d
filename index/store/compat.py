"""Whether an index version can be served by this code with this model and these settings: the
one check that the set-up (rebuild when needed) and the loader (refuse) both use."""

from __future__ import annotations

from dataclasses import dataclass

from corpus.text import NORMALIZER_VERSION
from index.build.chunking import ChunkerConfig
from index.encoders.base import Embedder, EncoderConfig, precision_of
from index.store.manifest import FORMAT


@dataclass(frozen=True)
class Wanted:
    """What the reader of an index needs of it; a field left None is not checked."""

    model_id: str
    query_prompt: str
    passage_prompt: str
    # The loaded model's weights: known to the loader; the set-up does not load the model.
    fingerprint: str | None = None
    # The encoder backend: its stored vectors' precision (int8 or fp32) must match the index's.
    backend: str | None = None
    # The chunker's settings: a change means other passages, so a rebuild.
    chunker: ChunkerConfig | None = None

    @classmethod
    def of_embedder(cls, embedder: Embedder) -> Wanted:
        return cls(
            embedder.model_id, embedder.query_prompt, embedder.passage_prompt, embedder.fingerprint(), embedder.backend
        )

    @classmethod
    def of_config(cls, encoder: EncoderConfig, chunker: ChunkerConfig) -> Wanted:
        return cls(encoder.model, encoder.query_prompt, encoder.passage_prompt, None, encoder.backend, chunker)


def mismatch(manifest: dict, wanted: Wanted | None) -> str | None:
    """Why the index version with ``manifest`` cannot serve ``wanted`` (None: it can). Without
    ``wanted``, only the format is checked."""
    if manifest.get("format") != FORMAT:
        return f"it has format {manifest.get('format')!r}, this version reads {FORMAT!r}"
    if wanted is None:
        return None
    model = manifest.get("model") if isinstance(manifest.get("model"), dict) else {}
    chunker = manifest.get("chunker") if isinstance(manifest.get("chunker"), dict) else {}
    built = model.get("id"), model.get("fingerprint")
    if built[0] != wanted.model_id or (wanted.fingerprint is not None and built[1] != wanted.fingerprint):
        weights = f" (weights {built[1]})" if wanted.fingerprint is not None else ""
        theirs = f" (weights {wanted.fingerprint})" if wanted.fingerprint is not None else ""
        return f"it was built with model {built[0]!r}{weights}, but the service uses {wanted.model_id!r}{theirs}"
    if (model.get("query_prompt"), model.get("passage_prompt")) != (wanted.query_prompt, wanted.passage_prompt):
        return (
            f"it was built with prompts {model.get('query_prompt')!r}/{model.get('passage_prompt')!r}, "
            f"the service uses {wanted.query_prompt!r}/{wanted.passage_prompt!r}"
        )
    if wanted.backend is not None and model.get("precision", "fp32") != precision_of(wanted.backend):
        return (
            f"its vectors are {model.get('precision', 'fp32')} and the {wanted.backend} backend "
            f"makes {precision_of(wanted.backend)} ones"
        )
    if wanted.chunker is not None:
        if (chunker.get("chunk_tokens"), chunker.get("overlap_tokens")) != (
            wanted.chunker.chunk_tokens,
            wanted.chunker.overlap_tokens,
        ):
            return "it was built with other chunk settings"
        if chunker.get("normalizer") != NORMALIZER_VERSION:
            return f"its text was normalised by {chunker.get('normalizer')!r}, this version uses {NORMALIZER_VERSION!r}"
    return None
