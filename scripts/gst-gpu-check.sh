#!/usr/bin/env bash
# GPU check of the GStreamer plugin's CUDA paths, on a GPU machine without GStreamer: run from
# the bundle that scripts/gst-gpu-bundle.sh makes (.gpu-carry/gst, carried by the device tool)
# as `bash .gpu-carry/gst/gpu_check.sh`. $OUT receives the logs. Each pipeline's output is
# checked frame by frame against videotestsrc's own frames, and each pipeline's log must show
# the memory it claims to test (the caps cuframessink and cuframessrc negotiated), so a run in
# which negotiation fell back to system memory fails instead of passing for the CUDA path:
#   1. CUDA memory in (cudaupload, caps forced) -> cuda slots -> cuframessrc in CUDA memory;
#   2. the same cuda producer read by cuframessrc into system memory (the device-to-host copy);
#   3. cudaupload ! cuframessink and cuframessrc ! cudadownload with no caps forced: what a user
#      who writes the obvious pipeline gets (must still be CUDA memory on both sides);
#   4. the issue's decoder pipelines: an H.264 clip through nvh264dec into cuframessink, read by
#      cuframessrc ! cudadownload (NV12) and by cuframessrc ! cudaconvert ! cudadownload (I420),
#      checked against FFmpeg's decode of the same clip (the bundle carries the MD5 of each frame).
# And how cuframessrc gave out CUDA memory, from its debug log: on GStreamer 1.24 and newer each
# frame's buffer must wrap the slot itself (the CUDA memory's address read back equal to the
# slot's; a copy only while the previous buffer is still downstream); on 1.22 each frame is
# one device copy.
# Exits non-zero when any check fails.
set -u
B=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$(mktemp -d)}
export GST_PLUGIN_SYSTEM_PATH_1_0=$B/plugins GST_PLUGIN_PATH="" GST_REGISTRY_FORK=no
export GST_REGISTRY=$OUT/registry.bin
# cudaconvert and cudascale compile their kernels with NVRTC at run time: GStreamer dlopens
# libnvrtc, which a CUDA image keeps outside the loader's path (the toolkit, or pip's wheel).
libraries=$B/lib
for nvrtc in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
    "$(python3 -c 'import nvidia.cuda_nvrtc, os; print(os.path.join(nvidia.cuda_nvrtc.__path__[0], "lib"))' 2>/dev/null)"; do
    if [ -n "$nvrtc" ] && compgen -G "$nvrtc/libnvrtc.so*" >/dev/null; then
        libraries=$libraries:$nvrtc
        echo "nvrtc: $(compgen -G "$nvrtc/libnvrtc.so*" | tr '\n' ' ')"
    fi
done
# GStreamer compiles those kernels for compute_52 (gstcudanvrtc.cpp), which CUDA 13 dropped: with
# only CUDA 13's NVRTC, nvcodec registers no cudaconvert at all (seen on an H200, CUDA 13.0). So an
# NVRTC of CUDA 12 or older goes first where there is one: pip's nvidia-cuda-nvrtc-cu11, carried
# (scripts/gpu-carry.sh --nvrtc) and unpacked by scripts/gpu-check.sh into /tmp/cuframes-nvrtc.
IFS=: read -r -a nvrtc_dirs <<<"/tmp/cuframes-nvrtc/nvidia/cuda_nvrtc/lib:$libraries"
for dir in "${nvrtc_dirs[@]}"; do
    for nvrtc in "$dir"/libnvrtc.so.[0-9]*; do
        major=$(basename "$nvrtc" | sed -n 's/^libnvrtc\.so\.\([0-9]*\).*/\1/p')
        if [ -f "$nvrtc" ] && [ -n "$major" ] && [ "$major" -le 12 ] && [ -z "${GST_CUDA_NVRTC_LIBNAME:-}" ]; then
            export GST_CUDA_NVRTC_LIBNAME=$nvrtc
            libraries=$libraries:$dir # its libnvrtc-builtins
            echo "nvrtc for GStreamer: $nvrtc (CUDA $major)"
        fi
    done
done
if [ -d "$B/glibc" ]; then
    # A bundle with its own C library (scripts/gst-gpu-bundle.sh --gst 1.26): its wrappers run
    # the programs through that library's loader, and this machine's programs (python3) must
    # never see its libraries.
    export GST_BUNDLE_LIBRARY_PATH=$libraries
else
    export LD_LIBRARY_PATH=$libraries
fi
gst_version=$("$B/bin/gst-launch-1.0" --version | sed -n 's/^GStreamer \([0-9]*\.[0-9]*\).*/\1/p')
echo "GStreamer: $gst_version"
CUFRAMES_DIR=$(mktemp -d /tmp/cf-XXXX)
export CUFRAMES_DIR
caps="video/x-raw,format=NV12,width=320,height=240,framerate=30/1"
cuda_caps="video/x-raw(memory:CUDAMemory),format=NV12,width=320,height=240"
source=(videotestsrc pattern=smpte horizontal-speed=3 num-buffers=60 ! "$caps")
failed=0

"$B/bin/gst-inspect-1.0" cuframessrc | grep -A1 "CUDAMemory" | head -2
if ! "$B/bin/gst-inspect-1.0" cudaconvert >/dev/null 2>&1; then
    # Why, from a fresh registry scan (the cached registry would not load nvcodec again).
    echo "cudaconvert: not registered by nvcodec; its NVRTC log:"
    GST_REGISTRY=$OUT/registry-nvrtc.bin GST_DEBUG=cudanvrtc:6 "$B/bin/gst-inspect-1.0" cudaconvert 2>&1 |
        grep -i -E "nvrtc|compile" | tail -8 | sed 's/^/    /'
fi
"$B/bin/gst-launch-1.0" -q "${source[@]}" ! filesink location="$OUT/ref.raw" || failed=1

# run NAME PRODUCER_HEAD CONSUMER_TAIL: producer `PRODUCER_HEAD ! cuframessink`, consumer
# `cuframessrc ! CONSUMER_TAIL ! filesink`, both logged with their caps.
run() {
    local name=$1 producer_head=$2 consumer_tail=$3
    # shellcheck disable=SC2086  # the pipeline fragments are word lists
    GST_DEBUG=cuframessink:4 "$B/bin/gst-launch-1.0" -v $producer_head ! cuframessink key="$name" \
        >"$OUT/$name-producer.txt" 2>&1 &
    local producer=$!
    sleep 0.5
    # shellcheck disable=SC2086
    GST_DEBUG=cuframessrc:5 timeout 60 "$B/bin/gst-launch-1.0" -v cuframessrc key="$name" delivery=sequential ! \
        $consumer_tail ! filesink location="$OUT/$name.raw" >"$OUT/$name-consumer.txt" 2>&1
    echo "$name: consumer rc=$?"
    wait "$producer"
    echo "$name: producer rc=$?"
}
test_source="${source[*]}"
run cuda-cuda "$test_source ! cudaupload ! $cuda_caps" "$cuda_caps ! cudadownload ! $caps"
run cuda-system "$test_source ! cudaupload ! $cuda_caps" "$caps"
run obvious "$test_source ! cudaupload" "cudadownload ! $caps"
decoder="filesrc location=$B/clip.h264 ! h264parse ! nvh264dec"
run dec-nv12 "$decoder" "cudadownload ! video/x-raw,format=NV12"
to_i420="cudaconvert ! video/x-raw(memory:CUDAMemory),format=I420 ! cudadownload ! video/x-raw,format=I420"
run dec-i420 "$decoder" "$to_i420"
# The control: the same decode and conversion without cuframes. cudaconvert computes in floating
# point, so its I420 need not equal FFmpeg's to the bit; through cuframes it must equal its own.
# shellcheck disable=SC2086  # the pipeline fragments are word lists
"$B/bin/gst-launch-1.0" -q $decoder ! $to_i420 ! filesink location="$OUT/control-i420.raw" || failed=1

# memory NAME WHICH: the caps the element's pad negotiated (CUDAMemory or system).
memory() {
    local line
    line=$(grep -m1 "Gst$2:.*\.GstPad:$3: caps = " "$OUT/$1-$4.txt")
    case $line in *CUDAMemory*) echo cuda ;; "") echo none ;; *) echo system ;; esac
}
expect() {  # NAME SINK_MEMORY SRC_MEMORY
    local sink src
    sink=$(memory "$1" CuframesSink sink producer)
    src=$(memory "$1" CuframesSrc src consumer)
    echo "$1: cuframessink took $sink memory (want $2), cuframessrc gave $src memory (want $3)"
    if [ "$sink" != "$2" ] || [ "$src" != "$3" ]; then
        failed=1
        grep -h -E "ERROR|WARN|rror|No such element|erroneous" "$OUT/$1-producer.txt" "$OUT/$1-consumer.txt" |
            grep -v "^Setting\|^Freeing" | head -8 | cut -c1-400 | sed "s/^/    $1: /"
    fi
}
expect cuda-cuda cuda cuda
expect cuda-system cuda system
expect obvious cuda cuda
expect dec-nv12 cuda cuda
expect dec-i420 cuda cuda

# how NAME: how cuframessrc gave out CUDA memory, by its debug lines (gstcuframessrcframes.c).
how() {
    local log=$OUT/$1-consumer.txt wrapped equal copied
    wrapped=$(grep -c "zero-copy: the buffer's CUDA memory" "$log")
    equal=$(grep -E -c "CUDA memory is at (0x[0-9a-f]+), the slot at \1\$" "$log")
    copied=$(grep -c ": copied from the slot at" "$log")
    echo "$1: cuframessrc wrapped $wrapped slots ($equal read back at the slot's address) and copied $copied"
    case $gst_version in
        1.2[0-3]) [ "$copied" -gt 0 ] && [ "$wrapped" -eq 0 ] ;;
        # A frame is copied while the previous one's buffer is still downstream: rare here.
        *) [ "$wrapped" -gt "$copied" ] && [ "$equal" -eq "$wrapped" ] ;;
    esac || {
        failed=1
        echo "    $1: want $(case $gst_version in 1.2[0-3]) echo "copies only (GStreamer $gst_version)" ;;
            *) echo "frames wrapped at the slot's address, more than copied (GStreamer $gst_version)" ;; esac)"
    }
}
for name in cuda-cuda obvious dec-nv12 dec-i420; do how "$name"; done

B=$B OUT=$OUT python3 - <<'PY' || failed=1
import hashlib, os, sys
bundle, out = os.environ["B"], os.environ["OUT"]
size = 320 * 240 * 3 // 2
ref = open(f"{out}/ref.raw", "rb").read()
frames = [ref[i:i + size] for i in range(0, len(ref), size)]
bad = 0
for name in ("cuda-cuda", "cuda-system", "obvious"):
    data = open(f"{out}/{name}.raw", "rb").read()
    got = [data[i:i + size] for i in range(0, len(data), size)]
    idx = [frames.index(g) if g in frames else -1 for g in got]
    # Delivery is sequential from the frame the subscriber joined at: consecutive, none foreign.
    ok = len(got) > 0 and -1 not in idx and idx == list(range(idx[0], idx[0] + len(idx)))
    print(f"{name}: {len(got)} frames, equal to reference frames {idx[0] if idx else '-'}..{idx[-1] if idx else '-'}"
          f" in order: {'yes' if ok else 'NO ' + str(idx)}")
    bad += not ok
def md5s(path):
    data = open(path, "rb").read()
    return [hashlib.md5(data[i:i + size]).hexdigest() for i in range(0, len(data), size)]
control = md5s(f"{out}/control-i420.raw") if os.path.exists(f"{out}/control-i420.raw") else []
ffmpeg_i420 = open(f"{bundle}/clip-i420.md5").read().split()
same = sum(a == b for a, b in zip(control, ffmpeg_i420))
print(f"control (nvh264dec ! cudaconvert, no cuframes): {len(control)} frames, {same} equal to FFmpeg's I420")
# dec-i420 may skip frames: cudaconvert sets up its kernels on the first frame (285 ms on an
# H100), while the decoder, unpaced, publishes on and laps the pool; sequential delivery then
# goes on from the oldest frame left, as documented. Its frames must still be in order, each
# equal to the control's.
for name, against, what, gaps in (
    ("dec-nv12", open(f"{bundle}/clip-nv12.md5").read().split(), "FFmpeg's decode", False),
    ("dec-i420", control, "the control", True),
):
    got = md5s(f"{out}/{name}.raw")
    idx = [against.index(g) if g in against else -1 for g in got]
    in_order = all(b > a for a, b in zip(idx, idx[1:]))
    ok = len(got) > 0 and -1 not in idx and (in_order if gaps else idx == list(range(idx[0], idx[0] + len(idx))))
    skipped = idx[-1] - idx[0] + 1 - len(idx) if ok else 0
    print(f"{name}: {len(got)} frames, equal to {what}, frames {idx[0] if idx else '-'}..{idx[-1] if idx else '-'}"
          f" in order: {'yes' if ok else 'NO ' + str(idx)}" + (f", {skipped} skipped" if gaps and ok else ""))
    bad += not ok
sys.exit(1 if bad else 0)
PY
rm -f "$OUT"/*.raw "$OUT/registry.bin"
echo "gst-gpu-check: $([ "$failed" -eq 0 ] && echo PASS || echo FAIL)"
exit "$failed"
