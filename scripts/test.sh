#!/usr/bin/env bash
# Set up a fresh machine and run the test suite: the README's test command, called by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

# Headless Chromium renders the evidence sheet in tests/report (Debian's package; as root only).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: chromium could not be installed; the browser test will be skipped" >&2
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install -q --upgrade pip
# The CPU build of torch first (a bare requirement could pull a multi-GB CUDA build).
python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[test]"
ruff check .
ruff format --check .
# The SLURM cluster tests (about 5 minutes, most of it SLURM holding a requeued job for 2 minutes)
# are left out of the suite and run by .ci/run after it; `bash scripts/test.sh -m slurm` runs them.
python -m pytest -q -m "not slurm" "$@"
