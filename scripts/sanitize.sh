#!/usr/bin/env bash
# Runs the tests under a sanitizer:
#   bash scripts/sanitize.sh address            # ASan + UBSan
#   bash scripts/sanitize.sh thread             # TSan
#   bash scripts/sanitize.sh address -- tests/test_multiprocess.py -k death   # narrow pytest
#
# 1. C++: builds the GoogleTest suite and the C examples with
#    -DCUFRAMES_SANITIZE=<kind> in build/sanitize-<kind>, runs ctest, then has
#    the C examples exchange frames as two processes. Under ASan, leak
#    detection is on here.
# 2. Python: builds and installs the extension with the same sanitizer into
#    its own virtual environment, build/sanitize-<kind>-venv (scikit-build-core
#    build dir build/sanitize-<kind>-py; the developer's own install is left
#    alone), then runs pytest with the sanitizer runtime in LD_PRELOAD, so the
#    uninstrumented python and every child process the tests start (they
#    inherit the environment) load the runtime first. ASan runs with
#    detect_leaks=0 here (CPython keeps memory to the end on purpose) and
#    PYTHONMALLOC=malloc (so Python objects are ASan-checked heap blocks).
#    TSan reads the suppressions in scripts/tsan.supp.
# 3. Every sanitizer writes its reports to files under build/sanitize-<kind>-logs
#    (log_path), so a report in a child process, whose stderr a test may never
#    show, still fails the run: the files are printed and counted at the end.
#
# Prints a summary (ctest, C examples, pytest, number of sanitizer reports) and
# exits non-zero if any of them failed.
#
# Compiler (CC/CXX): both builds use the same one, and the runtime preloaded
# is that compiler's shared one.
# - address: clang by default (Debian: apt-get install clang libclang-rt-14-dev).
#   Its ASan runtime carries UBSan, so UBSan reports reach the log files too.
#   GCC works as well, but its UBSan is a separate runtime that ignores
#   log_path when ASan is loaded: its reports then reach only the stderr of
#   the process that had them (halt_on_error still makes that process fail).
# - thread: GCC by default. Clang 14's shared TSan runtime (the one a Python
#   process must preload) crashes at start on Debian 12.
#
# Environment: PYTHON (the interpreter that makes the venv, default python3),
# JOBS (default nproc), CC/CXX, CUFRAMES_SANITIZE_TIMEOUT (pytest's per-test
# limit, default 600 s; sanitizers make everything slower).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD

usage() { echo "usage: bash scripts/sanitize.sh address|thread [-- pytest args...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
KIND=$1
shift
case "$KIND" in address | thread) ;; *) usage ;; esac
if [ $# -gt 0 ]; then
    [ "$1" = "--" ] || usage
    shift
fi
PYTEST_ARGS=("$@")

PYTHON=${PYTHON:-python3}
JOBS=${JOBS:-$(nproc)}
if [ "$KIND" = address ]; then
    export CC=${CC:-clang} CXX=${CXX:-clang++}
else
    export CC=${CC:-gcc} CXX=${CXX:-g++}
fi
BUILD=build/sanitize-$KIND
PYBUILD=build/sanitize-$KIND-py
VENV=$ROOT/build/sanitize-$KIND-venv
LOGS=$ROOT/build/sanitize-$KIND-logs
started=$SECONDS

step() { echo; echo "==== sanitize $KIND: $*"; }
# lap VAR: sets VAR to the seconds since the previous lap (for the summary).
last_lap=$SECONDS
lap() { printf -v "$1" '%d s' $((SECONDS - last_lap)); last_lap=$SECONDS; }
setup_time="" ctest_time="" pybuild_time=""  # set by lap
die() { echo "sanitize.sh: $*" >&2; exit 1; }

if ! { command -v "$CC" >/dev/null && command -v "$CXX" >/dev/null; }; then
    die "no $CC/$CXX (Debian: apt-get install clang libclang-rt-14-dev, or set CC=gcc CXX=g++)"
fi
short=${KIND:0:1}san  # asan, tsan
if "$CC" -dM -E -x c /dev/null | grep -q __clang__; then
    clang=1
    RUNTIME=$("$CC" -print-file-name="libclang_rt.$short-$(uname -m).so")
    hint="apt-get install libclang-rt-N-dev, N the major version of clang"
else
    clang=0
    RUNTIME=$("$CC" -print-file-name="lib$short.so")
    hint="apt-get install libasan8 / libtsan2"
fi
# -print-file-name echoes the bare name when the library is not installed.
[ -f "$RUNTIME" ] || die "$CC has no ${RUNTIME##*/} (Debian: $hint)"
if [ "$clang" = 1 ]; then
    # Binaries built with clang's shared runtime name it without a path, and it
    # sits in clang's own folder. (Only then: a system folder here would let
    # LD_LIBRARY_PATH swap a pyenv python's libpython for the system's.)
    export LD_LIBRARY_PATH="${RUNTIME%/*}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

# A build folder configured with another compiler starts afresh.
stamp=build/sanitize-$KIND.compiler
if [ "$(cat "$stamp" 2>/dev/null)" != "$CC $CXX" ]; then
    rm -rf "$BUILD" "$PYBUILD"
    mkdir -p build
    echo "$CC $CXX" >"$stamp"
fi

rm -rf "$LOGS"
mkdir -p "$LOGS/ctest" "$LOGS/examples" "$LOGS/pytest"

# sanitizer_env PHASE LEAKS: the *SAN_OPTIONS for one phase (printed, for copy and paste).
sanitizer_env() {
    local dir=$LOGS/$1 leaks=$2
    if [ "$KIND" = address ]; then
        # abort_on_error: a report kills the process with SIGABRT, which no
        # exit-code convention of a test can mistake for success.
        export ASAN_OPTIONS="detect_leaks=$leaks:halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=1:check_initialization_order=1:log_path=$dir/asan"
        export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$dir/ubsan"
        echo "ASAN_OPTIONS=$ASAN_OPTIONS"
        echo "UBSAN_OPTIONS=$UBSAN_OPTIONS"
    else
        # halt_on_error=0: report every race of a run; TSan still exits 66 at the end.
        export TSAN_OPTIONS="halt_on_error=0:second_deadlock_stack=1:history_size=4:suppressions=$ROOT/scripts/tsan.supp:log_path=$dir/tsan"
        echo "TSAN_OPTIONS=$TSAN_OPTIONS"
    fi
}

# ---------------------------------------------------------------------------
step "virtual environment $VENV"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV" || die "cannot create $VENV"
fi
VPY=$VENV/bin/python
# The build requirements of pyproject.toml go into the venv itself: the
# extension is built without isolation, so rebuilds are incremental (an
# isolated build sees pybind11 at a new temporary path each time and
# recompiles everything). nvidia-cuda-runtime among them brings cuda.h for the
# CMake build of the C++ tests when there is no CUDA toolkit.
read -r -a BUILD_REQUIRES < <("$VPY" -c '
import re
text = open("pyproject.toml", encoding="utf-8").read()
try:
    import tomllib
    requires = tomllib.loads(text)["build-system"]["requires"]
except ImportError:  # Python < 3.11
    section = re.search(r"^\[build-system\](.*?)^\[", text, re.S | re.M).group(1)
    requires = re.findall(r"\"([^\"]+)\"", re.search(r"requires\s*=\s*\[(.*?)\]", section, re.S).group(1))
print(" ".join(requires))
')
[ "${#BUILD_REQUIRES[@]}" -gt 0 ] || die "cannot read [build-system] requires from pyproject.toml"
"$VPY" -m pip install -q --upgrade pip "${BUILD_REQUIRES[@]}" || die "cannot install ${BUILD_REQUIRES[*]}"
# What the backend asks for on top (cmake or ninja when the system has none that fits).
read -r -a BACKEND_REQUIRES < <("$VPY" -c '
from scikit_build_core.build import get_requires_for_build_wheel
print(" ".join(get_requires_for_build_wheel()))
')
if [ "${#BACKEND_REQUIRES[@]}" -gt 0 ]; then
    "$VPY" -m pip install -q "${BACKEND_REQUIRES[@]}" || die "cannot install ${BACKEND_REQUIRES[*]}"
fi

# ---------------------------------------------------------------------------
lap setup_time
step "C++ unit tests and C examples ($BUILD)"
ctest_status=1
examples_status=1
if cmake -S . -B "$BUILD" \
    -DCMAKE_BUILD_TYPE=Debug \
    -DCUFRAMES_BUILD_TESTS=ON \
    -DCUFRAMES_BUILD_EXAMPLES=ON \
    -DCUFRAMES_BUILD_PYTHON=OFF \
    -DCUFRAMES_SANITIZE="$KIND" \
    -DPython_EXECUTABLE="$VPY" &&
    cmake --build "$BUILD" -j "$JOBS"; then
    (
        sanitizer_env ctest 1
        ctest --test-dir "$BUILD" --output-on-failure --timeout 300 -j "$JOBS"
    ) 2>&1 | tee "$LOGS/ctest.out"
    ctest_status=${PIPESTATUS[0]}
    lap ctest_time

    step "C examples exchange frames (host backend)"
    (
        sanitizer_env examples 1
        export CUFRAMES_DIR
        CUFRAMES_DIR=$(mktemp -d /tmp/cf-san-XXXXXX)
        trap 'rm -rf "$CUFRAMES_DIR"' EXIT
        "$BUILD/examples/c/first_publisher" host 6000 sanitize >"$LOGS/examples/publisher.out" 2>&1 &
        pub=$!
        sub_rc=0
        timeout 120 "$BUILD/examples/c/first_subscriber" 30 sanitize >"$LOGS/examples/subscriber.out" 2>&1 || sub_rc=$?
        pub_rc=0
        # The publisher stops once its subscriber has left.
        for _ in $(seq 600); do kill -0 "$pub" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pub" 2>/dev/null && kill "$pub"
        wait "$pub" || pub_rc=$?
        frames=$(grep -c '^frame seq=.*pattern ok$' "$LOGS/examples/subscriber.out")
        echo "subscriber: exit $sub_rc, $frames/30 frames with the pattern intact; publisher: exit $pub_rc"
        if [ "$sub_rc" -ne 0 ] || [ "$pub_rc" -ne 0 ] || [ "$frames" -ne 30 ]; then
            cat "$LOGS/examples/publisher.out" "$LOGS/examples/subscriber.out"
            exit 1
        fi
    )
    examples_status=$?
    lap examples_time
else
    lap ctest_time
    echo "sanitize.sh: the C++ build failed" >&2
fi

# ---------------------------------------------------------------------------
step "Python extension with CUFRAMES_SANITIZE=$KIND into $VENV"
pytest_status=1
pytest_time="not run"
# RelWithDebInfo and no strip: optimised code as shipped, with line numbers in the reports.
if "$VPY" -m pip install --no-build-isolation ".[test]" \
    -Ccmake.define.CUFRAMES_SANITIZE="$KIND" \
    -Ccmake.build-type=RelWithDebInfo \
    -Cinstall.strip=false \
    -Cbuild-dir="$PYBUILD"; then
    lap pybuild_time
    step "pytest under $KIND (LD_PRELOAD=$RUNTIME:libstdc++.so.6)"
    (
        sanitizer_env pytest 0
        [ "$KIND" = address ] && export PYTHONMALLOC=malloc
        # Tests that measure memory or exhaust descriptors adapt to this.
        export CUFRAMES_SANITIZER="$KIND"
        # libstdc++ right after the runtime: python itself does not link it, and
        # ASan resolves its __cxa_throw interceptor when it starts, so without it
        # the first C++ exception dies in "CHECK failed: real___cxa_throw != 0".
        export LD_PRELOAD="$RUNTIME:libstdc++.so.6${LD_PRELOAD:+:$LD_PRELOAD}"
        # `import cuframes` finds the sanitized install: the package's sources sit
        # in python/, not on sys.path.
        "$VPY" -m pytest -o timeout="${CUFRAMES_SANITIZE_TIMEOUT:-600}" "${PYTEST_ARGS[@]}"
    ) 2>&1 | tee "$LOGS/pytest.out"
    pytest_status=${PIPESTATUS[0]}
    [ "$pytest_status" -eq 5 ] && echo "sanitize.sh: pytest collected no tests (exit 5)" >&2
    lap pytest_time
else
    lap pybuild_time
    echo "sanitize.sh: pip install of the sanitized extension failed" >&2
fi

# ---------------------------------------------------------------------------
step "sanitizer reports ($LOGS)"
reports=0
while IFS= read -r file; do
    reports=$((reports + 1))
    echo "---- $file"
    cat "$file"
done < <(find "$LOGS/ctest" "$LOGS/examples" "$LOGS/pytest" -type f \
    \( -name 'asan.*' -o -name 'ubsan.*' -o -name 'tsan.*' \) | sort)
[ "$reports" -eq 0 ] && echo "none"

verdict() { if [ "$1" -eq 0 ]; then echo "ok"; else echo "FAILED (exit $1)"; fi; }
ctest_line=$(grep -E '% tests passed.* out of [0-9]+' "$LOGS/ctest.out" 2>/dev/null | tail -1)
pytest_line=$(grep -E '^=+ .*(passed|failed|error|skipped|no tests ran).* in [0-9.]+s' "$LOGS/pytest.out" 2>/dev/null |
    tail -1 | sed -E 's/^=+ //; s/ =+$//')
echo
echo "==== sanitize $KIND: summary ($((SECONDS - started)) s in all)"
printf '%-26s %s\n' \
    "venv + build requirements" "$setup_time" \
    "C++ build + ctest" "$(verdict "$ctest_status")${ctest_line:+: $ctest_line} ($ctest_time)" \
    "C examples" "$(verdict "$examples_status") (${examples_time:-not run})" \
    "extension build" "$pybuild_time" \
    "pytest" "$(verdict "$pytest_status")${pytest_line:+: $pytest_line} ($pytest_time)" \
    "sanitizer reports" "$reports (files under $LOGS)"
if [ "$ctest_status" -ne 0 ] || [ "$examples_status" -ne 0 ] || [ "$pytest_status" -ne 0 ] || [ "$reports" -ne 0 ]; then
    exit 1
fi
