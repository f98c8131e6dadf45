#!/usr/bin/env bash
# GPU check of the GStreamer plugin's CUDA paths, on a GPU machine without GStreamer: run from
# the bundle that scripts/gst-gpu-bundle.sh makes (.gpu-carry/gst, carried by the device tool)
# as `bash .gpu-carry/gst/gpu_check.sh`. $OUT receives the outputs. Two pipelines, each checked
# frame by frame against videotestsrc's own frames:
#   1. GstCudaMemory in (cudaupload) -> cuda slots -> cuframessrc in CUDA memory (cudadownload);
#   2. the same cuda producer read by cuframessrc into system memory (the device-to-host copy).
set -u
B=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$(mktemp -d)}
export LD_LIBRARY_PATH=$B/lib GST_PLUGIN_SYSTEM_PATH_1_0=$B/plugins GST_PLUGIN_PATH="" GST_REGISTRY_FORK=no
export GST_REGISTRY=$OUT/registry.bin
CUFRAMES_DIR=$(mktemp -d /tmp/cf-XXXX)
export CUFRAMES_DIR
launch=("$B/bin/gst-launch-1.0" -q)
caps="video/x-raw,format=NV12,width=320,height=240,framerate=30/1"
source=(videotestsrc pattern=smpte horizontal-speed=3 num-buffers=60 ! "$caps")

"$B/bin/gst-inspect-1.0" cudaupload | head -3
"$B/bin/gst-inspect-1.0" cuframessrc | grep -A1 "CUDAMemory" | head -3
"${launch[@]}" "${source[@]}" ! filesink location="$OUT/ref.raw"
echo "ref rc=$?"

# 1: CUDA memory in and out.
"${launch[@]}" "${source[@]}" ! cudaupload ! cuframessink key=g1 &
producer=$!
sleep 0.3
GST_DEBUG=cuframessrc:5 timeout 60 "$B/bin/gst-launch-1.0" -v cuframessrc key=g1 delivery=sequential ! \
    cudadownload ! "$caps" ! filesink location="$OUT/out1.raw" >"$OUT/log1.txt" 2>&1
echo "cuda->cuda rc=$?"
wait "$producer"

# 2: the cuda producer read into system memory.
"${launch[@]}" "${source[@]}" ! cudaupload ! cuframessink key=g2 &
producer=$!
sleep 0.3
timeout 60 "$B/bin/gst-launch-1.0" -v cuframessrc key=g2 delivery=sequential ! "$caps" ! \
    filesink location="$OUT/out2.raw" >"$OUT/log2.txt" 2>&1
echo "cuda->system rc=$?"
wait "$producer"

grep -m3 "caps = video/x-raw" "$OUT/log1.txt" | cut -c1-200
OUT=$OUT python3 - <<'PY'
import os
out = os.environ["OUT"]
size = 320 * 240 * 3 // 2
ref = open(f"{out}/ref.raw", "rb").read()
frames = [ref[i:i + size] for i in range(0, len(ref), size)]
for name in ("out1", "out2"):
    data = open(f"{out}/{name}.raw", "rb").read()
    got = [data[i:i + size] for i in range(0, len(data), size)]
    idx = [frames.index(g) if g in frames else -1 for g in got]
    print(name, len(got), "frames; indices in the reference:", idx)
PY
