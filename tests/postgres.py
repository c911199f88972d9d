"""A throw-away PostgreSQL server for the tests: Debian's binaries, a data folder in /tmp, loopback
only. PostgreSQL refuses to run as root, so under root it runs as the ``postgres`` user that
Debian's package makes."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from eval.live import free_port

USER = "khamtop"


def _binaries() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(versions[-1]).parent if versions else None


def _unavailable(reason: str):
    if os.environ.get("KHAMTOP_REQUIRE_POSTGRES"):
        pytest.fail(f"PostgreSQL is required here (KHAMTOP_REQUIRE_POSTGRES) but {reason}")
    pytest.skip(f"{reason}: install Debian's postgresql package to run the PostgreSQL tests")


@contextmanager
def running_postgres() -> Iterator[str]:
    """The base URL (``postgresql://USER@127.0.0.1:PORT``) of a server running until the block ends."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed")
    binaries = _binaries()
    if binaries is None:
        _unavailable("PostgreSQL's server binaries are not installed")
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="khamtop-pg-", dir="/tmp"))
    if os.geteuid() == 0:
        try:
            shutil.chown(folder, "postgres", "postgres")
        except (LookupError, OSError):
            _unavailable("there is no 'postgres' user to run the server as (PostgreSQL refuses root)")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", free_port()

    def run(*command: str) -> None:
        done = subprocess.run([*as_user, *command], capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip() or done.stdout.strip()}")

    try:
        run(str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", USER, "-E", "UTF8", "--no-sync")
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off"
        run(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-o", options, "-w", "start")
        try:
            yield f"postgresql://{USER}@127.0.0.1:{port}"
        finally:
            run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
