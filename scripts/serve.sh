#!/usr/bin/env bash
# Set up (if needed) and run the service on http://127.0.0.1:8000 over the bundled corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${KHAMTOP_VENV:-.venv}/bin/khamtop" serve "$@"
