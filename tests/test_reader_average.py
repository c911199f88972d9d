"""``khamtop model average-readers`` (training.reader_average): one reader from two trained from
the same encoder, weight by weight; readers that cannot be averaged are refused by name."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
from typer.testing import CliRunner

from index.reader.model import tensors_sha256
from index.reader.weights import DELTA_FILE, RECORD_FILE, WEIGHTS_FORMAT, ReaderWeightsError
from khamtop.cli import app
from training.reader_average import average_readers

CONFIG = {"layers": 6, "frozen_layers": 1, "max_length": 160, "max_question_tokens": 40, "epochs": 2}


def reader(folder, values: dict[str, np.ndarray], frozen="f" * 64, data="d", **config):
    folder.mkdir()
    save_file(values, str(folder / DELTA_FILE))
    record = {
        "format": WEIGHTS_FORMAT,
        "config": {**CONFIG, **config},
        "data": {"split": "train", "sha256": data, "sources": [{"folder": folder.name, "sha256": data}]},
        "encoder": {"model": "e5"},
        "frozen_sha256": frozen,
        "delta_sha256": tensors_sha256(values),
    }
    (folder / RECORD_FILE).write_text(json.dumps(record), "utf-8")
    return folder


def test_the_average_is_each_weight_blended_and_records_both_readers(tmp_path):
    a = reader(tmp_path / "iapp", {"w": np.array([1.0, 2.0], np.float32), "b": np.array([0.0], np.float32)}, data="a")
    b = reader(tmp_path / "gen", {"w": np.array([3.0, 6.0], np.float32), "b": np.array([10.0], np.float32)}, data="b")
    record = average_readers(a, b, 0.25, tmp_path / "out")
    got = load_file(str(tmp_path / "out" / DELTA_FILE))
    assert np.allclose(got["w"], [1.5, 3.0]) and np.allclose(got["b"], [2.5]) and got["w"].dtype == np.float32
    assert record["averaged"]["weight"] == 0.25
    assert (
        record["averaged"]["first"]["data"]["sha256"] == "a" and record["averaged"]["second"]["data"]["sha256"] == "b"
    )
    assert record["delta_sha256"] == tensors_sha256(got), "the shipped-weights loader checks this"
    assert [s["sha256"] for s in record["data"]["sources"]] == ["a", "b"]


def test_readers_of_other_encoders_shapes_or_damaged_weights_are_refused(tmp_path):
    w = {"w": np.ones(2, np.float32)}
    a = reader(tmp_path / "a", w)
    with pytest.raises(ReaderWeightsError, match="other encoders"):
        average_readers(a, reader(tmp_path / "b", w, frozen="0" * 64), 0.3, tmp_path / "o1")
    with pytest.raises(ReaderWeightsError, match="differ in layers"):
        average_readers(a, reader(tmp_path / "c", w, layers=12), 0.3, tmp_path / "o2")
    damaged = reader(tmp_path / "d", w)
    save_file({"w": np.zeros(2, np.float32)}, str(damaged / DELTA_FILE))
    with pytest.raises(ReaderWeightsError, match="does not match its checksum"):
        average_readers(a, damaged, 0.3, tmp_path / "o3")
    with pytest.raises(ReaderWeightsError, match="other parts"):
        average_readers(a, reader(tmp_path / "e", {"v": np.ones(2, np.float32)}), 0.3, tmp_path / "o4")
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 5)), "nothing is written when refused"


def test_the_command_refuses_to_overwrite_an_input_and_names_a_bad_weight(tmp_path):
    a = reader(tmp_path / "a", {"w": np.ones(2, np.float32)})
    b = reader(tmp_path / "b", {"w": np.ones(2, np.float32)})
    same = CliRunner().invoke(app, ["model", "average-readers", str(a), str(b), "--out", str(a)])
    assert same.exit_code != 0 and "is, or holds, the input" in same.output
    above = CliRunner().invoke(app, ["model", "average-readers", str(a), str(b), "--out", str(tmp_path)])
    assert above.exit_code != 0 and "is, or holds, the input" in above.output
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine", "utf-8")
    other = CliRunner().invoke(app, ["model", "average-readers", str(a), str(b), "--out", str(tmp_path / "notes")])
    assert other.exit_code != 0 and "not a reader's weights folder" in other.output
    assert (tmp_path / "notes" / "keep.txt").read_text("utf-8") == "mine", "nothing replaced"
    bad = CliRunner().invoke(app, ["model", "average-readers", str(a), str(b), "--weight", "1.5"])
    assert bad.exit_code != 0
    made = CliRunner().invoke(app, ["model", "average-readers", str(a), str(b), "--out", str(tmp_path / "o")])
    assert made.exit_code == 0, made.output
    assert (tmp_path / "o" / DELTA_FILE).is_file()


def test_the_shipped_reader_is_the_recorded_average():
    """weights/reader says what it was made from: two readers of one encoder, weight 0.3."""
    from index.reader.weights import SHIPPED, read_record

    record = read_record(SHIPPED)
    averaged = record["averaged"]
    assert averaged["weight"] == 0.3
    assert averaged["first"]["frozen_sha256"] == averaged["second"]["frozen_sha256"] == record["frozen_sha256"]
    folders = [s["folder"] for s in record["data"]["sources"]]
    assert "iapp-wiki-qa-dev" in folders and any("generated" in s for s in averaged["second"]["data"]["sources"])
