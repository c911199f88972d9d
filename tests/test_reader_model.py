"""The real reader: the training command (a tiny run), the shipped weights (checksums, assembly,
export) and their quality on questions they were not trained on.

Marked slow: they load the converted e5-small (the set-up converts it) and torch or the reader's
ONNX export. The README's test command and CI run them.
"""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from index.reader.weights import DELTA_FILE, LICENSE_FILE, RECORD_FILE, SHIPPED, ReaderWeightsError, assemble
from khamtop.cli import app
from tests.conftest import SHARED

IAPP = SHARED / "datasets" / "iapp-wiki-qa-dev"
needs_iapp = pytest.mark.skipif(not IAPP.is_dir(), reason=f"the iApp dataset is not at {IAPP}")
pytestmark = pytest.mark.slow


@needs_iapp
def test_the_training_command_reproduces_weights_with_their_record(tmp_path, real_model_dir, monkeypatch):
    monkeypatch.setenv("KHAMTOP_MODELS_DIR", str(real_model_dir.parent))
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        args = ["model", "train-reader", "--dataset", str(IAPP), "--out", str(out), "--limit", "6", "--epochs", "1"]
        result = CliRunner().invoke(app, [*args, "--layers", "2", "--frozen-layers", "1"])
        assert result.exit_code == 0, result.output
        runs.append(json.loads((out / RECORD_FILE).read_text("utf-8")))
        assert (out / LICENSE_FILE).read_text("utf-8").startswith("The reader's weights are trained on the iApp")
    first, second = runs
    # Seed, steps, the data's hash and the library versions are recorded; the same run gives the
    # same weights (CPU torch is deterministic).
    assert first["config"]["seed"] == 0 and first["steps"] >= 1 and len(first["data"]["sha256"]) == 64
    assert first["data"]["split"] == "train" and {"torch", "transformers", "python"} <= set(first["versions"])
    assert first["delta_sha256"] == second["delta_sha256"]
    model, record = assemble(tmp_path / "a", real_model_dir)
    assert record == first and len(model.bert.encoder.layer) == 2


def test_the_training_command_refuses_nothing_to_train(tmp_path):
    result = CliRunner().invoke(app, ["model", "train-reader", "--layers", "2", "--frozen-layers", "2"])
    assert result.exit_code == 2 and "nothing would train" in result.output


def test_damaged_weights_are_refused_before_anything_is_built(tmp_path, real_model_dir):
    copy = tmp_path / "reader"
    shutil.copytree(SHIPPED, copy)
    data = bytearray((copy / DELTA_FILE).read_bytes())
    data[-100] ^= 0xFF
    (copy / DELTA_FILE).write_bytes(bytes(data))
    with pytest.raises(ReaderWeightsError, match="does not match its checksum"):
        assemble(copy, real_model_dir)
    (copy / RECORD_FILE).write_text("{}", "utf-8")
    with pytest.raises(ReaderWeightsError, match="format"):
        assemble(copy, real_model_dir)


def test_the_shipped_weights_fit_the_converted_encoder_and_stay_small(real_model_dir):
    record = json.loads((SHIPPED / RECORD_FILE).read_text("utf-8"))
    assert (SHIPPED / DELTA_FILE).stat().st_size <= 50 * 1024 * 1024
    assert record["data"]["split"] == "train", "trained on the train split only"
    model, _ = assemble(SHIPPED, real_model_dir)  # checks both halves' hashes
    assert len(model.bert.encoder.layer) == record["config"]["layers"]
