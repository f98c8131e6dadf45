#!/usr/bin/env bash
# Checks the built packages as a user gets them (.ci/run runs both):
#
#   bash scripts/check-packages.sh wheel VENV   # after scripts/build-wheel.sh
#   bash scripts/check-packages.sh deb          # after scripts/build-deb.sh (root: apt-get)
#
# wheel: installs dist/'s wheel for VENV's Python, with the test extras, into VENV (made
#   when missing) with nothing but VENV's python and pip on PATH, so that nothing can be
#   compiled; then `cuframes demo` on the host backend, `auditwheel show` (the wheel's
#   libraries need no glibc past 2.28), and the sdist's file list. The Python suite then
#   runs against that install (scripts/test.sh with CUFRAMES_TEST_INSTALL=0).
# deb: `apt-get install ./dist/cuframes_*.deb`, the C examples built from
#   /usr/share/doc/cuframes/examples/c with find_package(cuframes) against /usr, a frame
#   exchange between them, and the package removed again.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
die() { echo "check-packages.sh: $*" >&2; exit 1; }

check_wheel() {
    local venv=$1
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    venv=$(cd "$venv" && pwd)
    local tag wheel
    tag=$("$venv/bin/python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
    wheel=$(find dist -name "cuframes-*-$tag-$tag-manylinux_2_28_x86_64.whl" | head -1)
    [ -n "$wheel" ] || die "no $tag manylinux_2_28 wheel in dist/ (bash scripts/build-wheel.sh $venv/bin/python)"

    echo "== pip install ${wheel}[test], no compiler on PATH"
    # PATH: the venv's bin folder alone (python, pip), so that nothing can be compiled.
    local tool
    for tool in cc c++ gcc g++ clang cmake make ld; do
        ! (PATH="$venv/bin" && command -v "$tool" >/dev/null) || die "$venv/bin has a $tool: not a view without a compiler"
    done
    local start=$SECONDS
    PATH="$venv/bin" PIP_ONLY_BINARY=:all: "$venv/bin/python" -m pip install -q "$ROOT/${wheel}[test]"
    echo "installed in $((SECONDS - start)) s"
    # The installed package, not this checkout's python/ folder.
    (cd / && PATH="$venv/bin" python -c 'import cuframes, sys; sys.exit(not cuframes.__file__.startswith(sys.prefix))') ||
        die "cuframes does not import from $venv"

    echo "== cuframes demo (host backend)"
    (cd / && PATH="$venv/bin" cuframes demo --backend host --seconds 2)

    echo "== auditwheel show"
    local show
    show=$(build/wheel-tools/bin/auditwheel show "$wheel")
    echo "$show"
    # auditwheel wraps its lines: one line, then the best tag it names must be 2_28 or older.
    tr -s '\n ' '  ' <<<"$show" | grep -qE 'platform tag: "manylinux_2_([0-9]|1[0-9]|2[0-8])_x86_64"' ||
        die "$wheel needs a newer glibc than 2.28 (auditwheel show above)"

    echo "== sdist"
    local sdist listing
    sdist=$(find dist -name 'cuframes-*.tar.gz' | head -1)
    [ -n "$sdist" ] || die "no sdist in dist/ (scripts/build-wheel.sh makes it)"
    listing=$(tar -tzf "$sdist")
    for path in pyproject.toml CMakeLists.txt cpp/src/ cpp/include/cuframes/cuframes.h cpp/bindings/ cmake/ python/cuframes/; do
        grep -q "^cuframes-[^/]*/$path" <<<"$listing" || die "$sdist has no $path"
    done
    echo "$sdist: $(wc -l <<<"$listing") files, pyproject.toml, CMakeLists.txt, cpp/, cmake/, python/ included"
}

check_deb() {
    local deb build dir
    deb=$(find dist -name 'cuframes_*.deb' | head -1)
    [ -n "$deb" ] || die "no cuframes_*.deb in dist/ (bash scripts/build-deb.sh)"
    echo "== apt-get install ./$deb"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "./$deb"
    trap 'DEBIAN_FRONTEND=noninteractive apt-get remove -y -q cuframes >/dev/null' EXIT
    echo "== the C examples against /usr (find_package(cuframes))"
    build=$ROOT/build/deb-consumer
    rm -rf "$build"
    # PATH without pyenv's shims: the system's cmake, as a C user has it.
    env PATH=/usr/bin:/bin cmake -S /usr/share/doc/cuframes/examples/c -B "$build" -DCMAKE_BUILD_TYPE=Release
    env PATH=/usr/bin:/bin cmake --build "$build"
    grep -qE 'libcuframes\.so\.[0-9.]+ => /(usr/)?lib/' < <(ldd "$build/first_subscriber") || die "first_subscriber is not linked to /usr's libcuframes"
    dir=$(mktemp -d)
    CUFRAMES_DIR=$dir "$build/first_publisher" host 6000 deb &
    local publisher=$!
    CUFRAMES_DIR=$dir timeout 60 "$build/first_subscriber" 5 deb || { kill "$publisher"; die "first_subscriber failed"; }
    wait "$publisher" || die "first_publisher failed"
    rm -rf "$dir"
}

case "${1:-}" in
    wheel) [ $# -eq 2 ] || die "usage: check-packages.sh wheel VENV"; check_wheel "$2" ;;
    deb) check_deb ;;
    *) die "usage: check-packages.sh wheel VENV | deb" ;;
esac
