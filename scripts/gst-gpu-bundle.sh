#!/usr/bin/env bash
# Makes a GStreamer bundle (gitignored) for a GPU machine whose image has no GStreamer:
# gst-launch, gst-inspect, the plugins the GPU check uses and their libraries, with this
# tree's plugin, scripts/gst-gpu-check.sh as gpu_check.sh, and the decoder pipelines' clip.
# Carry it with the device tool (64 MiB per call) and run `bash <bundle>/gpu_check.sh`.
#
#   scripts/gst-gpu-bundle.sh                  .gpu-carry/gst: this machine's GStreamer
#                                              (Debian 12: 1.22)
#   scripts/gst-gpu-bundle.sh --gst 1.26       .gpu-carry/gst-1.26: Debian 13's 1.26, whose
#                                              zero-copy wrap 1.22 lacks (sizes: docs/gstreamer.md)
#   scripts/gst-gpu-bundle.sh --gst 1.26 --test-plugins DIR
#                                              the same into DIR, with the plugins that
#                                              tests/test_gstreamer.py uses (scripts/test-gst-1.26.sh)
#
# The 1.26 bundle carries Debian 13's C library too (scripts/debian_closure.py), since the
# GPU image's may be older than GStreamer 1.26 needs: bin/gst-launch-1.0 and
# bin/gst-inspect-1.0 are wrappers that run the real programs through that library's loader
# (add folders to their library path with GST_BUNDLE_LIBRARY_PATH; LD_LIBRARY_PATH is not
# read). Its plugin is built by scripts/gst-compat-check.sh.
set -euo pipefail
usage() { echo "usage: scripts/gst-gpu-bundle.sh [--gst 1.22|1.26] [--test-plugins DIR]" >&2; exit 2; }

version=1.22
out=""
test_plugins=0
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || usage
    case $1 in
        --gst) version=$2 ;;
        # Taken from where the caller stands, before the cd below.
        --test-plugins) test_plugins=1; out=$(realpath -m "$2") ;;
        *) usage ;;
    esac
    shift 2
done
cd "$(dirname "$0")/.."
# The folder is emptied first: never one that holds anything else.
case ${out:+$out/} in
    / | "$HOME/" | "$PWD/" | "$PWD/build/") echo "gst-gpu-bundle.sh: will not empty $out: name a folder of its own" >&2; exit 2 ;;
esac
case $version in
    1.22) out=${out:-.gpu-carry/gst} ;;
    1.26) out=${out:-.gpu-carry/gst-1.26} ;;
    *) echo "gst-gpu-bundle.sh: --gst takes 1.22 (this machine's) or 1.26 (Debian 13's), not $version" >&2; exit 2 ;;
esac
PYTHON=${PYTHON:-python3}
rm -rf "$out"
mkdir -p "$out/bin" "$out/lib" "$out/plugins"
gst_dir=$(PYTHON=$PYTHON bash scripts/build-gst.sh | tail -1)
# libcuframes' file name, the ABI's version in it (CMakeLists.txt): as the plugin names it.
soname=$(readelf -d "$gst_dir/../libcuframes.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ -n "$soname" ] || { echo "gst-gpu-bundle.sh: $gst_dir/../libcuframes.so has no SONAME" >&2; exit 1; }
PLUGINS=(coreelements videotestsrc nvcodec videoparsersbad)
[ "$test_plugins" -eq 1 ] && PLUGINS+=(videoconvertscale x264 isomp4 rawparse)

if [ "$version" = 1.22 ]; then
    system=/usr/lib/x86_64-linux-gnu/gstreamer-1.0
    cp /usr/bin/gst-launch-1.0 /usr/bin/gst-inspect-1.0 "$out/bin/"
    for plugin in "${PLUGINS[@]}"; do cp "$system/libgst$plugin.so" "$out/plugins/"; done
    cp "$gst_dir/libgstcuframes.so" "$out/plugins/"
    # Their libraries (libcuframes among them), but not the C and C++ runtimes, which the GPU image has.
    for binary in "$out"/bin/* "$out"/plugins/*; do ldd "$binary"; done |
        awk '$3 ~ /^\// {print $3}' | sort -u |
        grep -v -E '/(libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s)\.so|/ld-linux' |
        xargs -r cp -L -t "$out/lib/"
else
    PYTHON=$PYTHON bash scripts/gst-compat-check.sh >&2
    cp build/gst-compat/libgstcuframes.so "$out/plugins/"
    cp -L "$gst_dir/../$soname" "$out/lib/"
    takes=(--take usr/bin/gst-launch-1.0=libexec --take usr/bin/gst-inspect-1.0=libexec)
    for plugin in "${PLUGINS[@]}"; do
        takes+=(--take "usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgst$plugin.so=plugins")
    done
    "$PYTHON" scripts/debian_closure.py --cache build/gst-compat/debian --out "$out" "${takes[@]}" \
        --elf "$out/plugins/libgstcuframes.so" --elf "$out/lib/$soname" --provided "$soname"
    for program in gst-launch-1.0 gst-inspect-1.0; do
        cat >"$out/bin/$program" <<'EOF'
#!/bin/sh
# GStreamer 1.26 from Debian 13 through its own C library's loader (scripts/gst-gpu-bundle.sh).
# No plugin scanner is carried (and the machine's would be another version's): scan in process.
B=$(cd "$(dirname "$0")/.." && pwd)
export GST_REGISTRY_FORK=no
export GST_PLUGIN_SYSTEM_PATH_1_0="${GST_PLUGIN_SYSTEM_PATH_1_0:-$B/plugins}"
export GST_REGISTRY="${GST_REGISTRY:-$B/registry-1.26.bin}"
exec "$B/glibc/ld-linux-x86-64.so.2" --library-path "$B/lib:$B/glibc${GST_BUNDLE_LIBRARY_PATH:+:$GST_BUNDLE_LIBRARY_PATH}" \
    "$B/libexec/$(basename "$0")" "$@"
EOF
        chmod +x "$out/bin/$program"
    done
fi

# build-gst.sh builds with debug information: 5 MB of the carry's 64 MiB.
strip --strip-debug "$out/lib/$soname" "$out/plugins/libgstcuframes.so"
# What remains is the GPU check's: tests/test_gstreamer.py's runtime (--test-plugins) needs none of it.
[ "$test_plugins" -eq 1 ] && { du -sh "$out"; exit 0; }
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
