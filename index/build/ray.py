"""The index build on a Ray cluster (``khamtop index build DIR --ray ADDRESS``): documents split
and chunked by Ray Data, their passages and sentences encoded by a fixed pool of actors, each
loading the model once. The result is the local build's, bit for bit: the int8 encoder's vectors
depend on the other texts in their batch (the activations' scale is the batch's), so the actors
are given the very batches ``index.build.embed.embed_texts`` makes, one Ray row per batch, and the
vectors are put back in its order.

Ray is an optional extra (``pip install -e '.[scale]'``): it is imported inside functions only.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from corpus.document import Document
from index.build.chunking import ChunkerConfig, chunk_text, split_sentences
from index.build.embed import DocumentParts, group_parts, indexed_text, split_documents
from index.encoders.base import Embedder, EncoderConfig
from index.folder.spans import Passage
from index.build.write import IndexConfig, build_reusing

# embed_texts' batch: the batches are the vectors' context, so they must be the same
# (tests/test_ray_build.py checks the plan against embed_texts itself).
BATCH = 256
INSTALL = "pip install -e '.[scale]'"


class RayBuildError(RuntimeError):
    """Ray is not installed, the cluster cannot be reached or is too small, or the build failed on it."""


@dataclass
class RayBuild:
    manifest: dict
    encoded: list[str]  # documents sent to the cluster
    reused: list[str]  # unchanged documents whose parts came from the live version
    passages: int  # passages encoded on the cluster
    base: int | None  # that version
    reuse_note: str | None  # why nothing could be reused, when that is so


def batch_plan(texts: Sequence[str]) -> tuple[list[str], list[list[int]]]:
    """What ``embed_texts`` encodes: each distinct text once, in batches of ``BATCH`` rows of
    ``distinct`` in order of length."""
    distinct = list(dict.fromkeys(texts))
    order = sorted(range(len(distinct)), key=lambda i: len(distinct[i]))
    return distinct, [order[start : start + BATCH] for start in range(0, len(order), BATCH)]


def assemble(texts: Sequence[str], distinct: list[str], batches: list[list[int]], encoded, dim: int) -> np.ndarray:
    """``embed_texts``' result from each batch's vectors (``encoded``, in the plan's order)."""
    found = np.empty((len(distinct), dim), dtype=np.float32)
    for idx, vectors in zip(batches, encoded, strict=True):
        found[idx] = vectors
    row = {text: i for i, text in enumerate(distinct)}
    return found[[row[t] for t in texts]] if texts else found


def check_ray(address: str) -> None:
    """Ray is installed and something answers at ``address``: said at once, before any work."""
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise RayBuildError(f"Ray is not installed ({exc}); {INSTALL}") from exc
    refused = _unreachable(address)
    if refused is not None:
        raise RayBuildError(f"cannot reach the Ray cluster at {address}: {refused}")


class ChunkActor:
    """Splits and chunks one document per call: chunk sizes are counted in the model's tokens,
    so each actor loads the model's tokenizer (with the model: the factory loads both)."""

    def __init__(self, encoder_config: EncoderConfig, chunker_config: ChunkerConfig):
        from index.encoders.factory import load_embedder

        self.embedder = load_embedder(encoder_config)
        self.config = chunker_config

    def __call__(self, batch: dict) -> dict:
        plans = []
        for text in batch["text"]:
            # As embed_documents: each document split once, for its chunks and its sentences.
            spans = split_sentences(text, self.config.sentence_engine, self.config.max_run)
            chunks = chunk_text(text, self.embedder.count_tokens, self.config, spans)
            plans.append(
                json.dumps({"sentences": spans, "chunks": [[c.char_start, c.char_end, c.n_tokens] for c in chunks]})
            )
        return {"doc_id": np.asarray(batch["doc_id"], dtype=object), "plan": np.array(plans, dtype=object)}


class EncodeActor:
    """Encodes one of ``embed_texts``' batches per call, with the model loaded once per actor."""

    def __init__(self, encoder_config: EncoderConfig):
        from index.encoders.factory import load_embedder

        self.embedder = load_embedder(encoder_config)

    def __call__(self, batch: dict) -> dict:
        # Raw float32 bytes: what comes back is exactly what was computed, whatever the batch's size.
        vectors = [
            np.asarray(self.embedder.embed_passages(json.loads(texts)), dtype=np.float32).tobytes()
            for texts in batch["texts"]
        ]
        n = len(vectors)
        return {
            "batch": np.asarray(batch["batch"]),
            "vectors": np.array(vectors, dtype=object),
            "dim": np.full(n, self.embedder.dim),
            "fingerprint": np.array([self.embedder.fingerprint()] * n, dtype=object),
        }


def _connect(address: str, actors: int):
    """``ray`` connected to the cluster at ``address``, checked to have room for ``actors``."""
    check_ray(address)
    import ray

    try:
        ray.init(
            address=address,
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=False,  # the workers' INFO lines; their errors come back as exceptions
        )
    except Exception as exc:  # ConnectionError, or a bad address's ValueError: the cluster is not there
        raise RayBuildError(f"cannot reach the Ray cluster at {address}: {_first_line(exc)}") from exc
    cpus = int(ray.cluster_resources().get("CPU", 0))
    # Each actor takes one logical CPU, and the Ray Data pipeline needs at least one more to
    # feed them: actors holding every CPU can leave it waiting for ever.
    if actors >= cpus:
        ray.shutdown()
        raise RayBuildError(
            f"the Ray cluster at {address} has {cpus} CPUs: --ray-actors must be below that "
            f"(each actor takes one, and the pipeline needs one more); start its nodes with more --num-cpus"
        )
    return ray


def _unreachable(address: str) -> str | None:
    """Why nothing answers at ``address`` (host:port), if so: ray.init retries an address where
    nothing listens for about ten minutes before it gives up. Other forms (ray://, auto) are
    left to Ray."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "/" in address:
        return None
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def embed_documents_ray(
    documents: Sequence[Document],
    encoder_config: EncoderConfig,
    chunker_config: ChunkerConfig,
    address: str,
    actors: int = 1,
    progress: bool = False,
    fingerprint: str | None = None,
) -> dict[str, DocumentParts]:
    """``index.build.embed.embed_documents`` on the Ray cluster at ``address``: the same parts, to the
    bit. ``fingerprint``: the weights the caller expects; an actor that loaded others fails the
    build (a node with another conversion of the model)."""
    documents = sorted(documents, key=lambda d: d.doc_id)
    # The actors run in other processes, perhaps on other machines: a relative models folder
    # would be read from their working directory.
    encoder_config = replace(encoder_config, models_dir=Path(encoder_config.models_dir).resolve())
    ray = _connect(address, actors)
    try:
        from ray.exceptions import RayError

        ray.data.DataContext.get_current().enable_progress_bars = progress
        # Ray Data logs each dataset's plan and start at INFO, and its progress too where stderr
        # is not a terminal: a build's own output is its result line.
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        try:
            return _embed(ray, documents, encoder_config, chunker_config, actors, fingerprint)
        except RayError as exc:
            raise RayBuildError(f"the build failed on the Ray cluster at {address}: {_first_line(exc)}") from exc
    finally:
        ray.shutdown()


def _embed(ray, documents, encoder_config, chunker_config, actors, fingerprint) -> dict[str, DocumentParts]:
    pool = ray.data.ActorPoolStrategy(size=actors)
    rows = [{"doc_id": d.doc_id, "text": d.text} for d in documents]
    planned = (
        ray.data.from_items(rows, override_num_blocks=len(rows))
        .map_batches(
            ChunkActor,
            fn_constructor_args=(encoder_config, chunker_config),
            batch_size=1,
            compute=pool,
            num_cpus=1,
            batch_format="numpy",
        )
        .take_all()
    )
    plans = {row["doc_id"]: json.loads(row["plan"]) for row in planned}
    spans = {doc_id: [tuple(s) for s in plan["sentences"]] for doc_id, plan in plans.items()}

    # From here on as embed_documents, with the cluster's spans and the batches encoded there.
    chunks: list[Passage] = []
    for doc in documents:
        for start, end, n_tokens in plans[doc.doc_id]["chunks"]:
            chunks.append(Passage(len(chunks), doc.doc_id, start, end, n_tokens, doc.text[start:end]))
    titles = {d.doc_id: d.title for d in documents}
    texts = {d.doc_id: d.text for d in documents}
    sentences = split_documents(documents, spans)
    passage_texts = [indexed_text(titles[c.doc_id], c.text) for c in chunks]
    sentence_texts = [texts[s.doc_id][s.char_start : s.char_end] for s in sentences]

    plan = {kind: batch_plan(t) for kind, t in (("passage", passage_texts), ("sentence", sentence_texts))}
    jobs = [(kind, [plan[kind][0][i] for i in batch]) for kind in ("passage", "sentence") for batch in plan[kind][1]]
    encoded = (
        ray.data.from_items(
            [{"batch": k, "texts": json.dumps(texts, ensure_ascii=False)} for k, (_, texts) in enumerate(jobs)],
            override_num_blocks=max(len(jobs), 1),
        )
        .map_batches(
            EncodeActor,
            fn_constructor_args=(encoder_config,),
            batch_size=1,
            compute=pool,
            num_cpus=1,
            batch_format="numpy",
        )
        .take_all()
    )
    results = sorted(encoded, key=lambda row: int(row["batch"]))
    if len(results) != len(jobs):
        raise RayBuildError(f"the cluster returned {len(results)} of {len(jobs)} batches")
    others = {row["fingerprint"] for row in results} - {fingerprint}
    if fingerprint is not None and others:
        raise RayBuildError(
            f"a Ray node encoded with other weights ({', '.join(sorted(others))}, expected {fingerprint}): "
            "every node must have the same prepared model (`khamtop model prepare`)"
        )
    dim = int(results[0]["dim"]) if results else 0
    vectors: dict[str, list[np.ndarray]] = {"passage": [], "sentence": []}
    for (kind, batch_texts), row in zip(jobs, results, strict=True):
        vectors[kind].append(np.frombuffer(row["vectors"], dtype=np.float32).reshape(len(batch_texts), dim))
    passage_vectors = assemble(passage_texts, *plan["passage"], vectors["passage"], dim)
    sentence_vectors = assemble(sentence_texts, *plan["sentence"], vectors["sentence"], dim)
    return group_parts(documents, chunks, passage_vectors, sentences, sentence_vectors)


def build_index_ray(
    documents: Sequence[Document],
    embedder: Embedder,
    encoder_config: EncoderConfig,
    config: IndexConfig,
    out_dir: Path,
    address: str,
    actors: int = 1,
    progress: bool = False,
) -> RayBuild:
    """``index.build.write.build_index`` with the embedding done on the Ray cluster at ``address``.
    Documents unchanged since the live version (same ``document_hash``) keep its vectors, as
    ``index add`` keeps them; only new and changed ones go to the cluster
    (index.build.write.build_reusing). ``embedder``: the same model, loaded here, for the
    manifest and to check what comes back."""
    passages = []

    def embed(fresh: list[Document]) -> dict[str, DocumentParts]:
        parts = embed_documents_ray(
            fresh, encoder_config, config.chunker, address, actors, progress, fingerprint=embedder.fingerprint()
        )
        passages.append(sum(len(p.chunks) for p in parts.values()))
        return parts

    manifest, encoded, base, note = build_reusing(documents, embedder, config, Path(out_dir), embed)
    kept = sorted({d.doc_id for d in documents} - set(encoded))
    return RayBuild(manifest, encoded, kept, sum(passages), base, note)
