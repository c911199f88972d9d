#!/usr/bin/env bash
# Set everything up, idempotently: virtual environment, packages, the offline model, and the
# index of the bundled corpus. Safe to run again; it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${KHAMTOP_VENV:-.venv}"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "error: khamtop needs Python 3.11 or newer (found $("$PYTHON" --version 2>&1)); set PYTHON=python3.11" >&2; exit 2; }

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating virtual environment in $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --quiet --disable-pip-version-check)

# Re-install only when the declared dependencies change.
# KHAMTOP_EXTRAS: the optional parts to install; "test,scale" adds Ray and Qdrant (docs/scale-out.md).
EXTRAS="${KHAMTOP_EXTRAS:-test}"
stamp="$VENV/.khamtop-installed"
want="$( (cat pyproject.toml; echo "$EXTRAS") | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  # torch first, CPU build: otherwise pip resolves the multi-GB CUDA build from PyPI.
  if ! "$VENV/bin/python" -c 'import torch, sys; sys.exit(torch.__version__.split("+")[0] != "2.13.0")' 2>/dev/null; then
    echo "==> installing torch 2.13.0 (CPU)"
    if "$VENV/bin/python" -c 'import urllib.request as u; u.urlopen("https://download.pytorch.org/whl/cpu/", timeout=3)' 2>/dev/null; then
      "${PIP[@]}" install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
    else
      "${PIP[@]}" install torch==2.13.0
    fi
  fi
  echo "==> installing khamtop and its dependencies"
  "${PIP[@]}" install -e ".[$EXTRAS]"
  echo "$want" > "$stamp"
fi

# Model conversion (offline, a few seconds) and the bundled index, each only if missing.
"$VENV/bin/khamtop" model prepare
"$VENV/bin/khamtop" index build --if-missing
