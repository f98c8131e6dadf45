#!/usr/bin/env bash
# Prints one patch that adds the cuframes input to an FFmpeg tree of the given series (5.1, 7.1
# or 8.1): ffmpeg/register-<series>.patch (configure, libavdevice/Makefile and alldevices.c)
# followed by ffmpeg/cuframes.c as the new file libavdevice/cuframes.c. For a build of your own
# (a distribution's FFmpeg, jellyfin-ffmpeg's patch series):
#
#   bash scripts/ffmpeg-patch.sh 7.1 > cuframes.patch
#   cd ffmpeg-7.1.x && patch -p1 < cuframes.patch      # or: git apply cuframes.patch
#   ./configure --enable-libcuframes ...
#
# scripts/build-ffmpeg.sh applies the same two pieces itself.
set -euo pipefail
cd "$(dirname "$0")/.."

series=${1:-}
register=ffmpeg/register-$series.patch
if [ -z "$series" ] || [ ! -f "$register" ]; then
    known=(ffmpeg/register-*.patch)
    known=("${known[@]#ffmpeg/register-}")
    echo "usage: scripts/ffmpeg-patch.sh SERIES   (one of: ${known[*]%.patch})" >&2
    exit 2
fi
lines=$(wc -l <ffmpeg/cuframes.c)
cat <<EOF
From: cuframes
Subject: [PATCH] avdevice: add the cuframes input (cuframes://KEY)

Reads the decoded frames (or, with packets=1, the encoded H.264/H.265 packets)
that another process publishes with libcuframes: AV_PIX_FMT_CUDA frames that
point into the producer's slots (zero-copy) on the cuda backend, system-memory
frames on the host backend. Configure with --enable-libcuframes.
For FFmpeg $series (made by scripts/ffmpeg-patch.sh of cuframes).
EOF
# The registration hunks (from the first "diff --git" on), then the new file.
sed -n '/^diff --git /,$p' "$register"
echo "diff --git a/libavdevice/cuframes.c b/libavdevice/cuframes.c"
echo "new file mode 100644"
echo "--- /dev/null"
echo "+++ b/libavdevice/cuframes.c"
echo "@@ -0,0 +1,$lines @@"
sed 's/^/+/' ffmpeg/cuframes.c
