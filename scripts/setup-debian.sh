#!/usr/bin/env bash
# The system packages cuframes' tests need on Debian 12 / Ubuntu, in one list,
# installed with apt-get when missing (through sudo when not root).
#
#   bash scripts/setup-debian.sh          # what scripts/test.sh needs
#   bash scripts/setup-debian.sh --ci     # also what .ci/run's other steps need
#
# scripts/test.sh runs it first; .ci/run runs it with --ci. Packages already
# installed are left alone, so it costs nothing on a machine that has them.
# Where apt-get (or sudo, for a non-root user) is missing it lists what to
# install and exits 0: the build then fails or the tests skip, each saying why.
set -euo pipefail

# Building the package, the C++ tests and the C examples; python3-venv for the
# virtual environment scripts/test.sh makes on a Python that is externally managed.
# The GStreamer plugin (gst/, scripts/build-gst.sh) builds against GStreamer's dev files.
BUILD=(build-essential cmake libgtest-dev python3-venv
    pkg-config libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev)
# cuframes-rtsp-serve (`cuframes serve`, gst/) builds beside the plugin against GStreamer's RTSP server.
BUILD+=(libgstrtspserver-1.0-dev)
# ffmpeg/ffprobe check the files the tools write; GStreamer's RTSP server (run by
# the system python3 through python3-gi) is the real server of the RTSP tests;
# gst-launch-1.0 and the parsers (-bad) run the plugin's pipelines (tests/test_gstreamer.py).
TEST_TOOLS=(ffmpeg python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-rtsp-server-1.0
    gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly
    gstreamer1.0-tools gstreamer1.0-plugins-bad)
# .ci/run's other steps: the micro-benchmarks (Google Benchmark), ASan/UBSan and
# libFuzzer (clang and its runtimes), the lint gate (shellcheck, clang-format).
CI=(libbenchmark-dev clang libclang-rt-14-dev shellcheck clang-format)
# .ci/run's FFmpeg with the cuframes input (scripts/build-ffmpeg.sh): nasm for its
# assembly, pkg-config, libx264 for re-encoding, ffnvcodec's headers (with clang, above)
# for CUDA, NVDEC, NVENC and scale_cuda.
CI+=(nasm pkg-config libx264-dev libffmpeg-nvenc-dev)
# ... which downloads FFmpeg's pinned source from Debian's pool.
CI+=(curl)
# .ci/run's GStreamer 1.26 step (scripts/test-gst-1.26.sh) checks Debian 13's signed index
# (gpgv, the archive keyring), unpacks its packages (dpkg-deb) and reads and strips their ELF
# files (readelf, nm, strip: binutils).
CI+=(binutils gpgv debian-archive-keyring)

usage() { echo "usage: bash scripts/setup-debian.sh [--ci]" >&2; exit 2; }
PACKAGES=("${BUILD[@]}" "${TEST_TOOLS[@]}")
case "${1:-}" in
    "") ;;
    --ci) PACKAGES+=("${CI[@]}") ;;
    *) usage ;;
esac

missing=()
for package in "${PACKAGES[@]}"; do
    # dpkg-query says "install ok installed" only for a package that is fully there.
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "setup-debian.sh: the system packages are installed"
    exit 0
fi

skip() {
    echo "setup-debian.sh: $1; not installing: ${missing[*]}" >&2
    echo "setup-debian.sh: install them with your package manager; the steps that need them will fail or skip" >&2
    exit 0
}
command -v apt-get >/dev/null || skip "no apt-get (not Debian or Ubuntu)"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || skip "not root and no sudo"
    SUDO=(sudo)
fi
echo "setup-debian.sh: apt-get install ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
