#!/usr/bin/env bash
# Install everything the tests need, lint, then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --dev
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
