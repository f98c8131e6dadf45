"""Helpers of the recording tests: a B-frame clip made with PyAV, a producer that
publishes a file through the same source code as `cuframes publish FILE` (once a
packet subscriber is attached, so a test sees the whole file), and ffprobe/ffmpeg
readings of the files written."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av", reason="recording muxes through PyAV (pip install av)")

#: children.spawn(FILE_PRODUCER, PATH, KEY, BACKEND, "pace"|"fast"): prints "up",
#: waits for a packet subscriber, publishes the file's frames and packets, closes.
FILE_PRODUCER = """
import sys, time, cuframes
from cuframes.sources import FileSource, run_publish
path, key, backend, pace = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "pace"
with FileSource(path) as source, cuframes.Publisher(key, source.width, source.height, "nv12", backend=backend,
                                                    packet_ring_bytes=8 << 20, facts=source.facts) as pub:
    print("up", flush=True)
    deadline = time.monotonic() + 30
    while pub.packet_subscriber_count == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    run_publish(source, pub, pace=pace)
    time.sleep(0.3)  # the recorder drains the ring before the producer's end
"""


def b_frame_clip(path: Path, *, seconds: int, fps: int = 30, gop: int, width: int = 160, height: int = 96) -> Path:
    """An H.264 MP4 with B-frames (pts != dts), a keyframe every ``gop`` frames, tagged BT.709 limited range."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = gop
        context = stream.codec_context
        context.colorspace, context.color_range, context.color_primaries, context.color_trc = 1, 1, 1, 1
        stream.codec_context.options = {
            "bf": "2",
            "preset": "veryfast",
            "sc_threshold": "0",
            "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0",
        }
        columns = np.arange(width)[None, :]
        for index in range(seconds * fps):
            image = np.full((height * 3 // 2, width), 128, np.uint8)
            image[:height] = (columns * 3 + index * 7 + np.arange(height)[:, None]) % 256
            frame = av.VideoFrame.from_ndarray(image, format="yuv420p")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def probe(path: Path, entries: str) -> dict:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", entries, "-of", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"ffprobe {path}: {result.stderr}"
    return json.loads(result.stdout)


def duration(path: Path) -> float:
    return float(probe(path, "format=duration")["format"]["duration"])


def frames(path: Path) -> list[dict]:
    """Each decoded frame's pts_time (float) and key_frame (0/1), in display order."""
    return [
        {"pts_time": float(frame["pts_time"]), "key_frame": int(frame["key_frame"])}
        for frame in probe(path, "frame=pts_time,key_frame")["frames"]
    ]


def frame_hashes(path: Path) -> tuple[list[str], str]:
    """ffmpeg's framemd5 of every decoded frame (the hashes only), and ffmpeg's stderr."""
    result = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "warning",
            "-i",
            str(path),
            "-map",
            "0:v:0",
            "-fps_mode",
            "passthrough",
            "-f",
            "framemd5",
            "-",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"ffmpeg cannot decode {path}: {result.stderr}"
    hashes = [
        line.rsplit(",", 1)[1].strip() for line in result.stdout.splitlines() if line and not line.startswith("#")
    ]
    return hashes, result.stderr
