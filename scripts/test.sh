#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite, including the tests on the real model.
# Fast suite only: scripts/test.sh -m "not slow"
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${KHAMTOP_VENV:-.venv}/bin/python" -m pytest "$@"
