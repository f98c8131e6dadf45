#!/usr/bin/env bash
# The test command (quoted by the README; .ci/run calls it):
#   installs cuframes with its test extras into the current Python,
#   builds and runs the C++ unit tests (GoogleTest, ctest) in build/cpp-tests,
#   then runs pytest against the installed package.
# Extra arguments go to pytest. Environment: PYTHON (default python3), JOBS,
# CUFRAMES_SANITIZE (address|thread, for the C++ tests).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
JOBS=${JOBS:-$(nproc)}

echo "== pip install .[test]"
"$PYTHON" -m pip install ".[test]"

echo "== C++ unit tests (build/cpp-tests)"
if [ ! -f "${CUDA_HOME:-/usr/local/cuda}/include/cuda.h" ]; then
    # cuda.h (headers only) for this build, as pip's isolated build got it.
    "$PYTHON" -m pip install nvidia-cuda-runtime
fi
cmake -S . -B build/cpp-tests \
    -DCMAKE_BUILD_TYPE=Debug \
    -DCUFRAMES_BUILD_TESTS=ON \
    -DCUFRAMES_BUILD_EXAMPLES=ON \
    -DCUFRAMES_BUILD_PYTHON=OFF \
    -DCUFRAMES_SANITIZE="${CUFRAMES_SANITIZE:-OFF}" \
    -DPython_EXECUTABLE="$(command -v "$PYTHON")"
cmake --build build/cpp-tests -j "$JOBS"
ctest --test-dir build/cpp-tests --output-on-failure --timeout 120 -j "$JOBS"

echo "== pytest"
status=0
"$PYTHON" -m pytest "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "error: pytest collected no tests (exit 5). The test suite must run: check tests/ and" \
         "[tool.pytest.ini_options] testpaths in pyproject.toml." >&2
    exit 1
fi
exit "$status"
