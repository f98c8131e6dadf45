#!/usr/bin/env bash
# The lint gate (.ci/run runs it; run it before you push):
#   1. ruff: lint and format check of every Python file (config: pyproject.toml);
#   2. mypy: the facade, python/cuframes, against the generated _core.pyi;
#   3. the stub: python/cuframes/_core.pyi regenerated from the built module must
#      equal the committed one (scripts/gen-stubs.sh --check);
#   4. shellcheck: scripts/*.sh, .ci/run and the example and bench shell scripts;
#   5. clang-format --dry-run --Werror on the C and C++ files (.clang-format);
#   6. the C++ include directions between the layers of cpp/src (scripts/check_layers.py).
# Every step runs; the exit status is non-zero when one failed, and the summary
# says which. ruff, mypy and pybind11-stubgen come from PyPI into $PYTHON's
# environment (pinned: a new release brings new rules); shellcheck and
# clang-format from the system (scripts/setup-debian.sh --ci). Steps 2 and 3 need
# cuframes installed in that environment (scripts/test.sh does it).
#
#   PYTHON=.venv/bin/python bash scripts/lint.sh
#   bash scripts/lint.sh --fix     # ruff's fixes and formatting first, then the checks
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
PYTHON=${PYTHON:-python3}
RUFF_VERSION=0.17.6
MYPY_VERSION=2.4.1
CLANG_FORMAT_MAJOR=14

FIX=0
case "${1:-}" in
    "") ;;
    --fix) FIX=1 ;;
    *) echo "usage: bash scripts/lint.sh [--fix]" >&2; exit 2 ;;
esac

# pip_tool PACKAGE VERSION: installs PACKAGE==VERSION into $PYTHON's environment unless there.
pip_tool() {
    local found
    found=$("$PYTHON" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null)
    if [ "$found" != "$2" ]; then
        "$PYTHON" -m pip install -q "$1==$2" || return 1
    fi
}

FAILED=()
RESULTS=()
# step NAME COMMAND...: runs one check and records its verdict.
step() {
    local name=$1
    shift
    echo "== lint: $name"
    if "$@"; then
        RESULTS+=("ok      $name")
    else
        RESULTS+=("FAILED  $name")
        FAILED+=("$name")
    fi
}

python_files_format() {
    if [ "$FIX" -eq 1 ]; then
        "$PYTHON" -m ruff check --fix . && "$PYTHON" -m ruff format .
    fi
    "$PYTHON" -m ruff check . && "$PYTHON" -m ruff format --check .
}

cuframes_installed() {
    (cd / && "$PYTHON" -c "import cuframes._core") 2>/dev/null && return 0
    echo "lint: cuframes is not installed for $PYTHON: run scripts/test.sh (or pip install .) first" >&2
    return 1
}

typecheck() { cuframes_installed && "$PYTHON" -m mypy; }

stub_matches() { cuframes_installed && PYTHON=$PYTHON bash scripts/gen-stubs.sh --check; }

shell_scripts() {
    command -v shellcheck >/dev/null ||
        { echo "lint: no shellcheck (apt-get install shellcheck, or scripts/setup-debian.sh --ci)" >&2; return 1; }
    local scripts=(scripts/*.sh .ci/run)
    mapfile -t -O "${#scripts[@]}" scripts < <(find examples bench -name '*.sh' | sort)
    shellcheck "${scripts[@]}"
}

cpp_format() {
    command -v clang-format >/dev/null ||
        { echo "lint: no clang-format (apt-get install clang-format)" >&2; return 1; }
    # Pinned like ruff: another major version lays the same code out differently.
    local version
    version=$(clang-format --version)
    case "$version" in
        *"version $CLANG_FORMAT_MAJOR."*) ;;
        *) echo "lint: clang-format $CLANG_FORMAT_MAJOR (Debian 12's) is the reference; found: $version" >&2; return 1 ;;
    esac
    # Every C and C++ file of ours: not the vendored dlpack.h, nor the frozen copy
    # of the ABI-0 header that tests/cpp/abi compiles against as it was released.
    local files
    mapfile -t files < <(find cpp tests/cpp fuzz bench/cpp examples gst \
        \( -name '*.h' -o -name '*.hpp' -o -name '*.c' -o -name '*.cpp' \) \
        -not -path cpp/bindings/dlpack.h -not -path 'tests/cpp/abi/*' | sort)
    if [ "$FIX" -eq 1 ]; then
        clang-format -i "${files[@]}"
    fi
    clang-format --dry-run --Werror "${files[@]}"
}

if ! pip_tool ruff "$RUFF_VERSION" || ! pip_tool mypy "$MYPY_VERSION"; then
    echo "lint: could not install ruff $RUFF_VERSION and mypy $MYPY_VERSION into $PYTHON's environment" >&2
    exit 1
fi
step "ruff (lint, format)" python_files_format
step "mypy (python/cuframes)" typecheck
step "_core.pyi matches the module" stub_matches
step "shellcheck" shell_scripts
step "clang-format (C, C++)" cpp_format
step "C++ layers (include directions)" "$PYTHON" scripts/check_layers.py

echo
echo "== lint: summary"
printf '%s\n' "${RESULTS[@]}"
if [ "${#FAILED[@]}" -gt 0 ]; then
    echo "lint: failed: ${FAILED[*]} (bash scripts/lint.sh --fix fixes what ruff and clang-format can)" >&2
    exit 1
fi
