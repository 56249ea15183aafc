#!/usr/bin/env bash
# Create .venv beside the repo and install the project with every extra: training, fleet, tests (idempotent).
# Sourced by tools/test.sh and tools/demo.sh; PYTHON may name the interpreter (default python3.11/python3).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
python_bin="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $python_bin"
  "$python_bin" -m venv .venv
fi
stamp=.venv/.perception-installed
# Reinstall only when the dependency list changed: a fresh machine pays once, reruns take a second.
if [ ! -f "$stamp" ] || ! cmp -s pyproject.toml "$stamp"; then
  echo "[setup] installing perception and its dependencies into .venv (first run: several minutes)"
  .venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
  # The base install is torch-free (vehicles); the demo and the suite need the training and fleet extras too.
  .venv/bin/python -m pip install --quiet -e ".[train,fleet,test]"
  cp pyproject.toml "$stamp"
fi
