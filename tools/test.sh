#!/usr/bin/env bash
# The README's test command: set up .venv on a fresh machine, then run the whole suite.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/tools/setup_env.sh"
cd "$repo"
exec .venv/bin/python -m pytest "$@"
