"""What many tests share: configurations built from the settings' defaults (so no test repeats a
default), and waiting for a service to load. Fixtures live in conftest.py; plain functions here."""

from __future__ import annotations

import dataclasses
import importlib
import os
import time
from pathlib import Path

import pytest

from index.build.chunking import ChunkerConfig
from index.search.results import SearchConfig
from index.search.retriever import Retriever
from index.build.write import IndexConfig
from service.settings import Settings


def index_config(chunk_tokens: int | None = None, overlap_tokens: int | None = None, **overrides) -> IndexConfig:
    """The settings' index configuration, with other chunk sizes or ``exact_up_to`` if given."""
    config = Settings().index_config()
    chunker = config.chunker
    if chunk_tokens is not None or overlap_tokens is not None:
        chunker = ChunkerConfig(
            chunk_tokens=chunk_tokens if chunk_tokens is not None else chunker.chunk_tokens,
            overlap_tokens=overlap_tokens if overlap_tokens is not None else chunker.overlap_tokens,
        )
    return dataclasses.replace(config, chunker=chunker, **overrides)


def chunker_config(**overrides) -> ChunkerConfig:
    return dataclasses.replace(Settings().chunker_config(), **overrides)


def search_config(**overrides) -> SearchConfig:
    return dataclasses.replace(Settings().search_config(), **overrides)


def make_retriever(embedder, index, **overrides) -> Retriever:
    """A retriever with the settings' search configuration, changed by ``overrides``."""
    return Retriever(embedder, index, search_config(**overrides))


def wait_ready(client, timeout: float = 30.0):
    """Poll /readyz until the background loader has finished (either way)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get("/readyz")
        if response.status_code == 200 or "not ready" in response.text:
            return response
        time.sleep(0.02)
    raise AssertionError("service did not finish loading")


def scale_extra(module: str, package: str):
    """``module``, from the scale extra; without it, the calling test module is skipped (or, where
    KHAMTOP_REQUIRE_SCALE is set, as in CI, fails)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        if os.environ.get("KHAMTOP_REQUIRE_SCALE"):
            raise
        pytest.skip(f"{package} is not installed: pip install -e '.[scale]'", allow_module_level=True)


# qdrant-client's local mode searches by brute force and has no payload indexes, and says so.
LOCAL_MODE_WARNINGS = [
    pytest.mark.filterwarnings("ignore:Local mode performs exact:UserWarning"),
    pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning"),
]


def live_manifest(home: Path) -> dict:
    """The manifest of the live version at ``home`` (a ledger's too: index.backends.qdrant.ledger)."""
    from index.store.manifest import read_manifest
    from index.folder.load import resolve

    return read_manifest(resolve(home))
