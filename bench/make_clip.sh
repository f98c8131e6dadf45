#!/usr/bin/env bash
# Makes the H.264 test clip for the NVDEC section (bench/harness/alt_nvdec.py):
# 1920x1080, 25 fps, 20 s, yuv420p, High profile, no B-frames, a GOP of 50 (one IDR
# every 2 s, as IP cameras send), about 4 Mb/s constrained (maxrate/bufsize like a
# camera's CBR-ish stream), in MP4 (the container PyNvVideoCodec's demuxer and
# SimpleDecoder document; SimpleDecoder refuses elementary streams).
#
# The picture is testsrc2 (moving shapes and a counter) with light temporal noise, so
# that every frame carries camera-like detail and the bitrate is really spent.
#
# Needs ffmpeg with libx264 (Debian/Ubuntu: apt-get install -y ffmpeg). Run it on a
# machine that has ffmpeg; the GPU machine does not, so carry the result:
#
#     bash bench/make_clip.sh            # writes .benchdata/clip-1080p25.mp4
#     bash bench/make_clip.sh OUT.mp4    # or somewhere else
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/.benchdata/clip-1080p25.mp4}"
mkdir -p "$(dirname "$out")"

command -v ffmpeg >/dev/null || { echo "make_clip.sh: ffmpeg not found (apt-get install -y ffmpeg)" >&2; exit 1; }

tmp="$out.tmp.mp4"
trap 'rm -f "$tmp"' EXIT
ffmpeg -hide_banner -loglevel error -y \
    -f lavfi -i "testsrc2=size=1920x1080:rate=25:duration=20" \
    -vf "noise=alls=6:allf=t,format=yuv420p" \
    -c:v libx264 -preset medium -profile:v high -level:v 4.1 -pix_fmt yuv420p \
    -g 50 -keyint_min 50 -sc_threshold 0 -bf 0 \
    -b:v 4M -maxrate 4M -bufsize 4M \
    -x264-params "nal-hrd=vbr" \
    -an -movflags +faststart "$tmp"
mv "$tmp" "$out"
trap - EXIT

size=$(stat -c %s "$out")
echo "wrote $out ($size bytes)"
if command -v ffprobe >/dev/null; then
    ffprobe -hide_banner -v error -select_streams v:0 \
        -show_entries stream=codec_name,profile,width,height,pix_fmt,r_frame_rate,nb_frames,bit_rate,has_b_frames \
        -show_entries format=duration,size,bit_rate -of default=noprint_wrappers=1 "$out"
fi
if [ "$size" -ge $((20 * 1024 * 1024)) ]; then
    echo "make_clip.sh: $out is $size bytes, over the 20 MB budget" >&2
    exit 1
fi
