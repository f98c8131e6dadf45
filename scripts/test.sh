#!/usr/bin/env bash
# The test command (quoted by the README; .ci/run calls it), complete on a fresh
# Debian or Ubuntu machine:
#   installs the system packages that are missing (scripts/setup-debian.sh:
#   apt-get, through sudo when not root; elsewhere it says what to install),
#   installs cuframes with its test extras into PYTHON: the active virtual
#   environment, else .venv (created here: Debian's python3 is externally managed),
#   builds and runs the C++ unit tests (GoogleTest, ctest) in build/cpp-tests,
#   then runs pytest against the installed package.
# Extra arguments go to pytest. Environment: PYTHON (an interpreter to install
# into instead), JOBS, CUFRAMES_SANITIZE (address|thread, for the C++ tests),
# CUFRAMES_TEST_CPP=0 (skip the C++ tests: the Python suite only), CUFRAMES_TEST_GST=0
# (neither build the GStreamer plugin nor run its tests), CUFRAMES_TEST_INSTALL=0 (test the
# cuframes already installed in PYTHON, e.g. a wheel, instead of building this checkout:
# .ci/run tests its wheel so).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== system packages (scripts/setup-debian.sh)"
bash scripts/setup-debian.sh

if [ -z "${PYTHON:-}" ]; then
    if [ -n "${VIRTUAL_ENV:-}" ]; then
        PYTHON=$VIRTUAL_ENV/bin/python
    else
        if [ ! -x .venv/bin/python ]; then
            echo "== python3 -m venv .venv"
            python3 -m venv .venv
        fi
        PYTHON=$PWD/.venv/bin/python
    fi
fi
JOBS=${JOBS:-$(nproc)}
echo "== $("$PYTHON" --version) ($(command -v "$PYTHON"))"

if [ "${CUFRAMES_TEST_INSTALL:-1}" = 0 ]; then
    echo "== pip install: skipped (CUFRAMES_TEST_INSTALL=0)"
    "$PYTHON" -m pip show cuframes | grep -E '^(Version|Location):' ||
        { echo "error: CUFRAMES_TEST_INSTALL=0 but $PYTHON has no cuframes installed" >&2; exit 1; }
else
    echo "== pip install .[test]"
    "$PYTHON" -m pip install ".[test]"
fi

need_cuda_header() {
    if [ ! -f "${CUDA_HOME:-/usr/local/cuda}/include/cuda.h" ]; then
        # cuda.h (headers only) for the CMake builds here, as pip's isolated build got it.
        "$PYTHON" -m pip install nvidia-cuda-runtime
    fi
}

if [ "${CUFRAMES_TEST_CPP:-1}" = 0 ]; then
    echo "== C++ unit tests: skipped (CUFRAMES_TEST_CPP=0)"
else
    echo "== C++ unit tests (build/cpp-tests)"
    need_cuda_header
    cmake -S . -B build/cpp-tests \
        -DCMAKE_BUILD_TYPE=Debug \
        -DCUFRAMES_BUILD_TESTS=ON \
        -DCUFRAMES_BUILD_EXAMPLES=ON \
        -DCUFRAMES_BUILD_PYTHON=OFF \
        -DCUFRAMES_SANITIZE="${CUFRAMES_SANITIZE:-OFF}" \
        -DPython_EXECUTABLE="$(command -v "$PYTHON")"
    cmake --build build/cpp-tests -j "$JOBS"
    ctest --test-dir build/cpp-tests --output-on-failure --timeout 120 -j "$JOBS"
fi

# The GStreamer plugin for tests/test_gstreamer.py (which skips, saying why, without it).
if [ "${CUFRAMES_TEST_GST:-1}" = 0 ]; then
    echo "== GStreamer plugin: skipped (CUFRAMES_TEST_GST=0)"
elif pkg-config --exists gstreamer-1.0 gstreamer-base-1.0 gstreamer-video-1.0 2>/dev/null; then
    echo "== GStreamer plugin (scripts/build-gst.sh, build/gst)"
    need_cuda_header
    CUFRAMES_GST_PLUGIN_PATH=$(PYTHON=$PYTHON JOBS=$JOBS bash scripts/build-gst.sh | tail -1)
    export CUFRAMES_GST_PLUGIN_PATH
else
    echo "== GStreamer plugin: not built (no GStreamer development files; scripts/setup-debian.sh installs them)"
fi

# tests/test_bench_peers.py compiles the benchmark's legacy-IPC probe against cuda.h too.
need_cuda_header

echo "== pytest"
status=0
"$PYTHON" -m pytest "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "error: pytest collected no tests (exit 5). The test suite must run: check tests/ and" \
         "[tool.pytest.ini_options] testpaths in pyproject.toml." >&2
    exit 1
fi
exit "$status"
