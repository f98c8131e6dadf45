#!/usr/bin/env bash
# Fills what scripts/gpu-check.sh takes from the checkout on the offline GPU machine, here
# (with network): .whl/ (PyAV for the conversion tests; PyNvVideoCodec with --nvdec, for
# the NVDEC benchmark) and .gpu-carry/ffmpeg/ (the ffmpeg that scripts/build-ffmpeg.sh
# builds, with ffprobe and the libraries the GPU machine lacks). Both are gitignored;
# name them in the device tool's `carry`. The tool sends at most
# 64 MiB: PyAV (35 MB) and the ffmpeg (15 MB) fit together, PyNvVideoCodec (27 MB) in
# another call. bench/ffmpeg_nvr.py's fourth setup (`cuframes publish --decoder nvdec`) needs
# all three: carry PyNvVideoCodec and the ffmpeg, install the wheel outside the checkout
# (pip install --target), then carry PyAV in the next call while the machine is still warm
# (bench/results/h100-2026-12-05/README.md, calls 13-15).
#
#   bash scripts/gpu-carry.sh [--nvdec] [--nvrtc]
# --nvrtc: CUDA 11.8's NVRTC, for GStreamer's cudaconvert where the GPU machine has only CUDA
# 13's (scripts/gst-gpu-check.sh), into .gpu-carry/nvrtc/: its wheel repacked with LZMA (23 ->
# 16 MB), so that the ffmpeg, the GStreamer 1.26 bundle (24 MB) and it fit one carry.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

# The GPU machine's python3 is CPython 3.12 (KINDS.md).
download() { # SPEC [FOLDER]
    "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "${2:-.whl}" "$1"
}
# Rewrites each wheel in FOLDER with LZMA. Only for what scripts/gpu-check.sh unpacks with
# Python's zipfile, which reads LZMA (pip would refuse such a wheel).
repack_lzma() {
    "$PYTHON" - "$1" <<'PY'
import os, sys, zipfile
for name in os.listdir(sys.argv[1]):
    path = os.path.join(sys.argv[1], name)
    with zipfile.ZipFile(path) as old:
        if all(i.compress_type == zipfile.ZIP_LZMA for i in old.infolist()):
            continue  # repacked already
        with zipfile.ZipFile(path + ".tmp", "w", zipfile.ZIP_LZMA) as new:
            for item in old.infolist():
                new.writestr(item.filename, old.read(item))
    os.replace(path + ".tmp", path)
PY
}
mkdir -p .whl
download "av>=18"
for option in "$@"; do
    case $option in
        --nvdec) download "PyNvVideoCodec>=2" ;;
        # GStreamer's cudaconvert on a CUDA 13 machine (scripts/gst-gpu-check.sh says why).
        --nvrtc)
            mkdir -p .gpu-carry/nvrtc
            download "nvidia-cuda-nvrtc-cu11==11.8.89" .gpu-carry/nvrtc
            repack_lzma .gpu-carry/nvrtc
            du -sh .gpu-carry/nvrtc
            ;;
        *) echo "gpu-carry.sh: unknown option $option (--nvdec, --nvrtc)" >&2; exit 2 ;;
    esac
done

[ -x build/ffmpeg/bin/ffmpeg ] || PYTHON="$PYTHON" bash scripts/build-ffmpeg.sh
rm -rf .gpu-carry/ffmpeg
mkdir -p .gpu-carry/ffmpeg/bin .gpu-carry/ffmpeg/lib
cp build/ffmpeg/bin/ffmpeg build/ffmpeg/bin/ffprobe .gpu-carry/ffmpeg/bin/
# Its libraries that a CUDA image does not have: this tree's libcuframes, and libx264.
ldd build/ffmpeg/bin/ffmpeg | awk '/libcuframes|libx264/ {print $3}' | while read -r lib; do
    cp -L "$lib" .gpu-carry/ffmpeg/lib/
done
du -sh .whl .gpu-carry/ffmpeg
echo "gpu-carry: carry [\".whl\", \".gpu-carry/ffmpeg\"] with: bash scripts/gpu-check.sh" \
    "(with .gpu-carry/nvrtc: the ffmpeg, .gpu-carry/gst-1.26 and it, .whl in another call)"
