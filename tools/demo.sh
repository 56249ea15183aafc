#!/usr/bin/env bash
# The README's main command: set up .venv, then run the whole job on the synthetic world
# (generate data, train briefly, evaluate, export fp32 + INT8, run the video tool).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/tools/setup_env.sh"
cd "$repo"
exec .venv/bin/perception demo "$@"
