#!/usr/bin/env bash
# Makes .gpu-carry/gst (gitignored): GStreamer 1.22 from this Debian machine (gst-launch,
# gst-inspect, the plugins the GPU check uses, their libraries) with this tree's plugin and
# scripts/gst-gpu-check.sh, for a GPU machine whose image has no GStreamer. About 20 MB:
# carry it in a device-tool call of its own (64 MiB per call) and run
#   bash .gpu-carry/gst/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
plugin_dir=$(PYTHON=${PYTHON:-python3} bash scripts/build-gst.sh | tail -1)
out=.gpu-carry/gst
system=/usr/lib/x86_64-linux-gnu/gstreamer-1.0
grep -qx /.gpu-carry/ .git/info/exclude 2>/dev/null || echo /.gpu-carry/ >>.git/info/exclude
rm -rf "$out"
mkdir -p "$out/bin" "$out/lib" "$out/plugins"
cp /usr/bin/gst-launch-1.0 /usr/bin/gst-inspect-1.0 "$out/bin/"
for plugin in coreelements videotestsrc nvcodec videoparsersbad; do cp "$system/libgst$plugin.so" "$out/plugins/"; done
cp "$plugin_dir/libgstcuframes.so" "$out/plugins/"
# Their libraries, but not the C and C++ runtimes, which the GPU image has.
for binary in "$out"/bin/* "$out"/plugins/*; do ldd "$binary"; done |
    awk '$3 ~ /^\// {print $3}' | sort -u |
    grep -v -E '/(libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s)\.so|/ld-linux' |
    xargs -r cp -L -t "$out/lib/"
cp scripts/gst-gpu-check.sh "$out/gpu_check.sh"
# The decoder pipelines' clip, and the MD5 of each frame of FFmpeg's decode of it (NV12, I420).
ffmpeg=${CUFRAMES_FFMPEG:-build/ffmpeg/bin/ffmpeg}
[ -x "$ffmpeg" ] || ffmpeg=ffmpeg
"$ffmpeg" -hide_banner -v error -y -f lavfi -i testsrc2=size=320x240:rate=30 -frames:v 60 -c:v libx264 \
    -pix_fmt yuv420p -bf 0 -g 30 "$out/clip.h264"
for format in nv12 yuv420p; do
    "$ffmpeg" -hide_banner -v error -i "$out/clip.h264" -f rawvideo -pix_fmt "$format" - |
        python3 -c 'import hashlib, sys
data, size = sys.stdin.buffer.read(), 320 * 240 * 3 // 2
print("\n".join(hashlib.md5(data[i:i + size]).hexdigest() for i in range(0, len(data), size)))' \
            >"$out/clip-${format/yuv420p/i420}.md5"
done
du -sh "$out"
