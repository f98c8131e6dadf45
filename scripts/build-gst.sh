#!/usr/bin/env bash
# Builds the GStreamer plugin (gst/: cuframessrc, cuframessink) and the libcuframes it
# links into build/gst, and prints the folder to put in GST_PLUGIN_PATH:
#
#   GST_PLUGIN_PATH=$(bash scripts/build-gst.sh | tail -1) gst-inspect-1.0 cuframes
#
# With GStreamer's RTSP server library (libgstrtspserver-1.0-dev) it also builds
# cuframes-rtsp-serve in the same folder, which `cuframes serve` runs.
#
# Needs GStreamer's development files (scripts/setup-debian.sh installs them); without
# them it says so and exits 3, which scripts/test.sh takes as "skip the plugin's tests".
# Environment: PYTHON (an interpreter whose nvidia-cuda-runtime gives cuda.h when no CUDA
# toolkit is installed), JOBS, BUILD_DIR (default build/gst).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build/gst}
if ! pkg-config --exists gstreamer-1.0 gstreamer-base-1.0 gstreamer-video-1.0 2>/dev/null; then
    echo "build-gst.sh: GStreamer's development files are missing (pkg-config finds no gstreamer-1.0," \
         "gstreamer-base-1.0 and gstreamer-video-1.0): apt-get install libgstreamer1.0-dev" \
         "libgstreamer-plugins-base1.0-dev" >&2
    exit 3
fi
python_args=()
if [ -n "${PYTHON:-}" ]; then
    python_args=(-DPython_EXECUTABLE="$(command -v "$PYTHON")")
fi
# Configured once: a later run only builds (CMake configures again by itself when a
# CMakeLists.txt changed), so runs from other interpreters reuse the cuda.h found first.
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCUFRAMES_BUILD_GST=ON \
        -DCUFRAMES_BUILD_TESTS=OFF -DCUFRAMES_BUILD_EXAMPLES=OFF -DCUFRAMES_BUILD_PYTHON=OFF \
        "${python_args[@]}" >&2
fi
cmake --build "$BUILD_DIR" --target gstcuframes -j "${JOBS:-$(nproc)}" >&2
echo "$PWD/$BUILD_DIR/gst"
