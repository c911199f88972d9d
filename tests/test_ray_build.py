"""The index build on a Ray cluster (``khamtop index build --ray``, index/build/ray.py): the same
index as the local build, to the byte.

The cluster, a head and a second node, runs in a network namespace of its own with only a
loopback interface, so nothing Ray does can leave the machine; that needs root and ``ip``
(iproute2), and Ray (the scale extra). Without them these tests skip, or fail where
KHAMTOP_REQUIRE_SCALE is set (CI).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from index.build.embed import embed_texts
from index.store.manifest import MANIFEST_FILE
from index.folder.load import resolve
from index.build.ray import BATCH, assemble, batch_plan
from khamtop.cli import app
from service.settings import BUNDLED_CORPUS
from tests.fakes import FakeEmbedder

BIN = Path(sys.executable).parent
# Changed in the update test: a small document, so that the other four are the ones reused.
CHANGED = "adgmin-1-dialogue-partners-2021"


def _unavailable(reason: str):
    if os.environ.get("KHAMTOP_REQUIRE_SCALE"):
        pytest.fail(f"{reason} (KHAMTOP_REQUIRE_SCALE is set)")
    pytest.skip(reason)


def _need_ray() -> None:
    if importlib.util.find_spec("ray") is None:
        _unavailable("Ray is not installed: pip install -e '.[scale]'")


def _need_cluster() -> None:
    _need_ray()
    if os.geteuid() != 0:
        _unavailable("the Ray cluster runs in a network namespace of its own, which needs root")
    if shutil.which("ip") is None:
        _unavailable("no `ip` (iproute2) to make the Ray cluster's network namespace")


class RecordingEmbedder(FakeEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []

    def embed_passages(self, texts, progress: bool = False):
        self.batches.append(list(texts))
        return super().embed_passages(texts)


def test_the_cluster_is_given_embed_texts_own_batches_and_their_vectors_go_back_in_its_order():
    # The int8 encoder's vectors depend on their batch, so the cluster must encode exactly the
    # batches embed_texts does: over two batches' worth of texts, repeats included.
    texts = [f"ข้อความ {i % 300} " + "ก" * (i * 7 % 50) for i in range(700)]
    local = RecordingEmbedder()
    want = embed_texts(local, texts, "embedding test", progress=False)

    distinct, batches = batch_plan(texts)
    assert len(batches) > 1 and all(len(b) <= BATCH for b in batches)
    assert [[distinct[i] for i in batch] for batch in batches] == local.batches
    remote = FakeEmbedder()
    encoded = [remote.embed_passages([distinct[i] for i in batch]) for batch in batches]
    got = assemble(texts, distinct, batches, encoded, remote.dim)
    assert got.dtype == want.dtype and np.array_equal(got, want)


def test_a_build_on_ray_without_ray_installed_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    result = CliRunner().invoke(app, ["index", "build", "--ray", "127.0.0.1:6379"])
    assert result.exit_code == 2, result.output
    assert "Ray is not installed" in result.output and "pip install -e '.[scale]'" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", [["index", "build"], ["eval"]], ids=["index-build", "eval"])
def test_a_build_on_ray_at_an_address_where_nothing_listens_fails_at_once_with_one_line(command):
    _need_ray()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once it is closed
    started = time.monotonic()
    result = CliRunner().invoke(app, [*command, "--ray", f"127.0.0.1:{port}"])
    assert result.exit_code == 2, result.output
    assert f"cannot reach the Ray cluster at 127.0.0.1:{port}" in result.output
    assert "Traceback" not in result.output
    assert time.monotonic() - started < 30  # not Ray's ten minutes of retries


@dataclass
class Cluster:
    netns: str
    address: str
    env: dict[str, str]
    cpus: int


def _in_netns(netns: str, *args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", netns, *map(str, args)], **kwargs)


def _alive_nodes(cluster_netns: str, address: str, env) -> int:
    status = _in_netns(
        cluster_netns, BIN / "ray", "status", f"--address={address}", env=env, capture_output=True, text=True
    )
    active = status.stdout.partition("Active:")[2].partition("Pending:")[0]
    return len(re.findall(r"^\s*\d+ node_", active, re.MULTILINE))


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"  # a zombie has exited already


def _stop(netns: str) -> None:
    # What `ray stop --force` does (SIGKILL: the GCS and raylets take their time over a
    # SIGTERM), but only to the processes in this namespace: `ray stop` finds Ray's processes
    # by name, so it would stop every Ray on the machine.
    listed = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True)
    pids = [int(p) for p in listed.stdout.split()]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(map(_running, pids)) and time.monotonic() < deadline:
        time.sleep(0.1)
    subprocess.run(["ip", "netns", "del", netns], capture_output=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, real_model_dir):
    """A head (4 CPUs) and a worker node (2 CPUs) in a loopback-only network namespace."""
    _need_cluster()
    netns = f"khamtop-ray-{os.getpid()}"
    # Short: Ray's unix sockets live under it, and a socket's path is limited to 107 bytes.
    temp = Path(f"/tmp/kr{os.getpid()}")
    # The namespace is new and empty: any port is free in it.
    port = 6380
    address = f"127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KHAMTOP_", "RAY_"))}
    env |= {
        "KHAMTOP_HOME": str(tmp_path_factory.mktemp("ray-home")),
        "KHAMTOP_MODELS_DIR": str(real_model_dir.parent),
        "KHAMTOP_READER": "false",
        "RAY_USAGE_STATS_ENABLED": "0",
        # The keyword index's vocabulary is numbered in set order, so by string hashes: two
        # local builds differ there unless the hash seed is pinned (the Ray build writes it
        # in the driver, like the local one).
        "PYTHONHASHSEED": "0",
    }
    made = subprocess.run(["ip", "netns", "add", netns], capture_output=True, text=True)
    if made.returncode != 0:
        _unavailable(f"cannot make a network namespace: {made.stderr.strip()}")
    common = ["--node-ip-address=127.0.0.1", "--disable-usage-stats", f"--temp-dir={temp}"]
    try:
        _in_netns(netns, "ip", "link", "set", "lo", "up", check=True)
        for args in (
            ["--head", f"--port={port}", "--num-cpus=4", "--include-dashboard=false"],
            [f"--address={address}", "--num-cpus=2"],
        ):
            started = _in_netns(netns, BIN / "ray", "start", *args, *common, env=env, capture_output=True, text=True)
            assert started.returncode == 0, started.stdout + started.stderr
        deadline = time.monotonic() + 60
        while _alive_nodes(netns, address, env) < 2:
            assert time.monotonic() < deadline, "the worker node did not join the head"
            time.sleep(1)
        yield Cluster(netns, address, env, cpus=6)
    finally:
        _stop(netns)
        shutil.rmtree(temp, ignore_errors=True)


def khamtop(cluster: Cluster, *args, netns: bool = True) -> str:
    command = [BIN / "khamtop", *args]
    if netns:
        done = _in_netns(cluster.netns, *command, env=cluster.env, capture_output=True, text=True, timeout=600)
    else:
        done = subprocess.run(command, env=cluster.env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def contents(home: Path, ignore: tuple[str, ...] = ("created_at",)) -> dict:
    """The live version: every file's sha256, and its manifest without ``ignore`` (the file
    checksums it lists are compared too)."""
    folder = resolve(home)
    files = {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST_FILE
    }
    manifest = json.loads((folder / MANIFEST_FILE).read_text("utf-8"))
    return {"files": files, "manifest": {k: v for k, v in manifest.items() if k not in ignore}}


@pytest.fixture(scope="module")
def local_index(cluster, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local") / "index"
    khamtop(cluster, "index", "build", BUNDLED_CORPUS, "--out", out, netns=False)
    return out


@pytest.fixture(scope="module")
def ray_index(cluster, tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("ray") / "index"
    printed = khamtop(cluster, "index", "build", BUNDLED_CORPUS, "--ray", cluster.address, "--out", out)
    return out, printed


@pytest.mark.slow
def test_the_ray_build_writes_the_local_builds_index_byte_for_byte(ray_index, local_index):
    out, printed = ray_index
    assert "with 1 actor: encoded 5 documents" in printed and "passages/s" in printed, printed
    assert contents(out) == contents(local_index)


@pytest.mark.slow
def test_an_evaluation_that_builds_its_index_on_ray_gets_the_local_builds_index(cluster, local_index, tmp_path):
    out = tmp_path / "index"
    args = ["eval", "--index", out, "--ray", cluster.address, "--no-read", "--limit", 5, "--no-html"]
    printed = khamtop(cluster, *args, "--out", tmp_path / "eval")
    assert "hit@1" in printed, printed
    assert contents(out) == contents(local_index)


@pytest.mark.slow
def test_the_ray_build_with_two_actors_writes_the_same_index(cluster, local_index, tmp_path):
    out = tmp_path / "index"
    printed = khamtop(
        cluster, "index", "build", BUNDLED_CORPUS, "--ray", cluster.address, "--ray-actors", 2, "--out", out
    )
    assert "with 2 actors: encoded 5 documents" in printed, printed
    assert contents(out) == contents(local_index)


@pytest.mark.slow
def test_a_second_ray_build_encodes_only_the_changed_document_and_equals_the_local_update(
    cluster, ray_index, local_index, tmp_path
):
    corpus = tmp_path / "corpus"
    shutil.copytree(BUNDLED_CORPUS, corpus)
    changed = corpus / f"{CHANGED}.txt"
    changed.write_text(changed.read_text("utf-8") + "\nการประชุมครั้งนี้มีผู้แทนจากทุกประเทศสมาชิกเข้าร่วม\n", "utf-8")
    out = tmp_path / "ray"
    shutil.copytree(ray_index[0], out)

    printed = khamtop(cluster, "index", "build", corpus, "--ray", cluster.address, "--out", out)
    assert "encoded 1 documents" in printed and "reused 4 unchanged from version 1" in printed, printed

    # Locally, keeping the unchanged documents' vectors is `index add`. (A local build from
    # scratch encodes them again, beside the changed one: the int8 encoder's vectors depend on
    # their batch, so theirs would differ in the last bits.)
    local = tmp_path / "local"
    shutil.copytree(local_index, local)
    khamtop(cluster, "index", "add", changed, "--index", local, netns=False)
    assert contents(out, ignore=("created_at", "change")) == contents(local, ignore=("created_at", "change"))
    assert json.loads((resolve(out) / MANIFEST_FILE).read_text("utf-8"))["change"]["kind"] == "build"


@pytest.mark.slow
def test_a_ray_build_with_as_many_actors_as_the_cluster_has_cpus_is_refused(cluster, tmp_path):
    # Actors holding every CPU leave the pipeline none: it would wait for ever.
    done = _in_netns(
        cluster.netns,
        BIN / "khamtop",
        "index",
        "build",
        BUNDLED_CORPUS,
        "--ray",
        cluster.address,
        "--ray-actors",
        cluster.cpus,
        "--out",
        tmp_path / "index",
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"has {cluster.cpus} CPUs: --ray-actors must be below that" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "index").exists()


@pytest.mark.slow
def test_a_ray_build_for_a_qdrant_server_copies_the_unchanged_documents_points_and_encodes_the_rest(cluster, tmp_path):
    """With KHAMTOP_BACKEND=qdrant (qdrant-client's local mode as the server), the second build
    encodes only the changed document: the others' vectors are copied from the live collection."""
    import warnings

    from index.backends.qdrant.ledger import Ledger

    # Updates would go in place up to the whole collection: a build still writes a new one.
    env = {
        **cluster.env,
        "KHAMTOP_BACKEND": "qdrant",
        "KHAMTOP_QDRANT_URL": str(tmp_path / "qdrant"),
        "KHAMTOP_QDRANT_REWRITE_AFTER": "1",
    }
    qdrant = Cluster(cluster.netns, cluster.address, env, cluster.cpus)
    out = tmp_path / "index"
    printed = khamtop(qdrant, "index", "build", BUNDLED_CORPUS, "--ray", cluster.address, "--out", out)
    assert "encoded 5 documents" in printed, printed
    first = Ledger.load(resolve(out))
    first_collection = json.loads((resolve(out) / MANIFEST_FILE).read_text("utf-8"))["engine"]["collection"]
    corpus = tmp_path / "corpus"
    shutil.copytree(BUNDLED_CORPUS, corpus)
    changed = corpus / f"{CHANGED}.txt"
    changed.write_text(changed.read_text("utf-8") + "\nการประชุมครั้งนี้มีผู้แทนจากทุกประเทศสมาชิกเข้าร่วม\n", "utf-8")
    printed = khamtop(qdrant, "index", "build", corpus, "--ray", cluster.address, "--out", out)
    assert "encoded 1 documents" in printed and "reused 4 unchanged from version 1" in printed, printed

    from qdrant_client import QdrantClient

    manifest = json.loads((resolve(out) / MANIFEST_FILE).read_text("utf-8"))
    second = Ledger.load(resolve(out))
    collection = manifest["engine"]["collection"]
    assert collection != first_collection and manifest["change"]["kind"] == "build"
    kept = [p for doc_id in second.entries if doc_id != CHANGED for p in second.entries[doc_id].points]
    assert kept == [p for doc_id in first.entries if doc_id != CHANGED for p in first.entries[doc_id].points]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # local mode's own advice
        client = QdrantClient(path=str(tmp_path / "qdrant"))
        try:
            before = {r.id: r.vector["passage"] for r in client.retrieve(first_collection, kept, with_vectors=True)}
            after = {r.id: r.vector["passage"] for r in client.retrieve(collection, kept, with_vectors=True)}
            assert after == before and len(after) == len(kept), "the unchanged documents' vectors, copied"
            assert client.count(collection, exact=True).count == second.passages
        finally:
            client.close()
