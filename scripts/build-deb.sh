#!/usr/bin/env bash
# The Debian package for C and C++ users: a Release build of libcuframes for /usr, packed by
# CPack's DEB generator (cmake/packaging.cmake says what goes in) into dist/:
#
#   bash scripts/build-deb.sh
#   sudo apt-get install ./dist/cuframes_*.deb
#
# Needs cmake, a C++ compiler and dpkg-dev (dpkg-shlibdeps computes Depends), and cuda.h
# (headers only): a CUDA toolkit, or `pip install nvidia-cuda-runtime` into PYTHON.
# Environment: JOBS, PYTHON, OUT (default dist).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/dist}
BUILD=build/deb
python=$(command -v "${PYTHON:-python3}") || { echo "build-deb.sh: no ${PYTHON:-python3} (set PYTHON)" >&2; exit 1; }

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
    -DCUFRAMES_BUILD_PYTHON=OFF -DCUFRAMES_BUILD_TESTS=OFF -DCUFRAMES_BUILD_EXAMPLES=OFF \
    -DPython_EXECUTABLE="$python"
cmake --build "$BUILD" -j "${JOBS:-$(nproc)}"
mkdir -p "$OUT"
(cd "$BUILD" && cpack -G DEB -B "$OUT/deb-staging")
mv "$OUT"/deb-staging/cuframes_*.deb "$OUT"/
rm -rf "$OUT/deb-staging"
for deb in "$OUT"/cuframes_*.deb; do
    dpkg-deb --info "$deb" | sed -n '/Package:/,$p'
    dpkg-deb --contents "$deb"
done
