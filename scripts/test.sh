#!/usr/bin/env bash
# Set up a fresh machine and run the test suite: the README's test command, called by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install -q --upgrade pip
# The CPU build of torch first (a bare requirement could pull a multi-GB CUDA build).
python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[test]"
ruff check .
ruff format --check .
python -m pytest -q "$@"
