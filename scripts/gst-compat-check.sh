#!/usr/bin/env bash
# Compiles the GStreamer plugin (gst/) against GStreamer 1.26's headers and links it
# against 1.26's libraries with every symbol resolved (-Wl,--no-undefined), -Wall -Wextra
# -Werror. Why: Debian 12 (this machine, CI, the GPU machines' bundle) has GStreamer 1.22,
# so the code for 1.24 and newer (CUFRAMES_GST_CUDA_WRAP: cuframessrc hands out the slot
# itself through gst_cuda_allocator_alloc_wrapped) would otherwise never be compiled.
# Running it needs a GPU and a 1.24+ runtime; this proves only that it builds.
#
# GStreamer 1.26 comes from Debian 13 (trixie): its .deb files are downloaded from the
# Debian mirror and unpacked under build/gst-compat/debian/root, never installed. pkg-config reads
# their .pc files; the non-GStreamer packages those name (GL, X11, Wayland, ...) get empty
# stand-ins, since the plugin uses none of them.
#
#   scripts/gst-compat-check.sh
#
# Needs what scripts/build-gst.sh needs (it runs it first: the libcuframes to link against),
# dpkg-deb and nm; scripts/debian_closure.py downloads and unpacks the packages. Environment:
# PYTHON (as for build-gst.sh), JOBS, DEBIAN_MIRROR (default http://deb.debian.org/debian),
# GST_COMPAT_SUITE (default trixie).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=${GST_COMPAT_SUITE:-trixie}
WORK=build/gst-compat
# The development packages, and the libraries their .pc files link.
PACKAGES=(libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
    libglib2.0-dev libgio-2.0-dev libgstreamer1.0-0 libgstreamer-plugins-base1.0-0
    libgstreamer-plugins-bad1.0-0 libglib2.0-0t64 libgstreamer-gl1.0-0)
MODULES=(gstreamer-1.0 gstreamer-base-1.0 gstreamer-video-1.0 gstreamer-cuda-1.0)

command -v dpkg-deb >/dev/null || {
    echo "gst-compat-check.sh: dpkg-deb is missing (apt-get install dpkg)" >&2
    exit 1
}
mkdir -p "$WORK/stubpc"

echo "== the plugin's libcuframes (scripts/build-gst.sh)"
gst_dir=$(bash scripts/build-gst.sh | tail -1)

echo "== GStreamer from Debian $SUITE ($MIRROR)"
ROOT=$("$PYTHON" scripts/debian_closure.py --mirror "$MIRROR" --suite "$SUITE" --cache "$PWD/$WORK/debian" \
    "${PACKAGES[@]/#/--unpack=}" | tail -n 1)

export PKG_CONFIG_SYSROOT_DIR=$ROOT
export PKG_CONFIG_LIBDIR=$ROOT/usr/lib/x86_64-linux-gnu/pkgconfig:$ROOT/usr/share/pkgconfig:$PWD/$WORK/stubpc
# A stand-in for each package pkg-config cannot find, until it finds them all.
for _ in $(seq 1 40); do
    missing=$(pkg-config --cflags --libs "${MODULES[@]}" 2>&1 |
        sed -nE "s/^Package '([^']+)', required by .*/\1/p" | head -n 1 || true)
    [ -z "$missing" ] && break
    printf 'Name: %s\nDescription: stand-in (gst-compat-check.sh)\nVersion: 9999\n' "$missing" \
        >"$WORK/stubpc/$missing.pc"
done
version=$(pkg-config --modversion gstreamer-1.0)
cuda_version=$(pkg-config --modversion gstreamer-cuda-1.0)
echo "gstreamer-1.0 $version, gstreamer-cuda-1.0 $cuda_version"

echo "== compile gst/ against it (-Werror)"
# Unix Makefiles whatever CMAKE_GENERATOR says: the objects are built by their make targets.
cmake -S . -B "$WORK/build" -G "Unix Makefiles" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS=-Werror -DCUFRAMES_BUILD_GST=ON \
    -DCUFRAMES_BUILD_TESTS=OFF -DCUFRAMES_BUILD_EXAMPLES=OFF -DCUFRAMES_BUILD_PYTHON=OFF \
    -DPython_EXECUTABLE="$(command -v "$PYTHON")" >"$WORK/configure.log" 2>&1 || {
    cat "$WORK/configure.log" >&2
    exit 1
}
grep -q "GStreamer plugin with CUDA memory (gstreamer-cuda-1.0 $cuda_version)" "$WORK/configure.log" || {
    grep "cuframes:" "$WORK/configure.log" >&2
    echo "gst-compat-check.sh: CMake did not take gstreamer-cuda-1.0 $cuda_version, so the CUDA code was not" \
        "compiled" >&2
    exit 1
}
# Only the plugin's objects: libcuframes is build-gst.sh's, and compiled without GStreamer.
targets=$(make -C "$WORK/build/gst" help)
mapfile -t objects < <(sed -nE 's/^\.\.\. (gstcuframes[a-z]*\.o)$/\1/p' <<<"$targets")
if [ "${#objects[@]}" -eq 0 ]; then
    echo "gst-compat-check.sh: CMake's Makefile in $WORK/build/gst lists no gstcuframes*.o target" >&2
    exit 1
fi
make -s -C "$WORK/build/gst" -j "${JOBS:-$(nproc)}" "${objects[@]}"

echo "== link against GStreamer $version (every symbol resolved)"
plugin=$WORK/libgstcuframes.so
# The objects just built (make's gstcuframes.o is CMakeFiles/gstcuframes.dir/gstcuframes.c.o).
files=()
for object in "${objects[@]}"; do files+=("$WORK/build/gst/CMakeFiles/gstcuframes.dir/${object%.o}.c.o"); done
# shellcheck disable=SC2046  # pkg-config's flags are words
cc -shared -o "$plugin" "${files[@]}" "$gst_dir/../libcuframes.so" \
    $(pkg-config --libs "${MODULES[@]}") -Wl,--no-undefined -Wl,--allow-shlib-undefined \
    -Wl,-rpath-link,"$ROOT/usr/lib/x86_64-linux-gnu"
# The point of the check: the 1.24+ branch was the one compiled.
symbols=$(nm -D --undefined-only "$plugin")
if ! grep -qw gst_cuda_allocator_alloc_wrapped <<<"$symbols"; then
    echo "gst-compat-check.sh: the plugin built against $version does not wrap slots" \
        "(no gst_cuda_allocator_alloc_wrapped): CUFRAMES_GST_CUDA_WRAP was not compiled" >&2
    exit 1
fi
echo "gst-compat-check.sh: the plugin compiles and links against GStreamer $version, zero-copy wrap included"
