"""`cat --ffmpeg-args` states the stream's own rate (30 stays 30, 30000/1001 stays
exact, none: 25 and a warning), and `cat --packets --format nut|mpegts` pipes the
packets into ffmpeg with their timestamps: a B-frame stream comes out bit-exact
and as long as its source, with no "Timestamps are unset"."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from packet_producer import PACKET_PRODUCER
from recording import FILE_PRODUCER, b_frame_clip, duration, frame_hashes, frames

FRAME_PRODUCER = """
import sys, time, numpy as np, cuframes
key, backend, rate = sys.argv[1], sys.argv[2], sys.argv[3]
with cuframes.Publisher(key, 64, 48, "nv12", backend=backend, time_base="1/90000",
                        frame_rate=None if rate == "none" else rate) as pub:
    print("up", flush=True)
    for seq in range(1, 3000):
        pub.send(np.zeros(pub.packed_size, np.uint8), pts=seq * 3000)
        time.sleep(0.01)
"""


def cat(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cuframes", "cat", *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("rate, said", [("30", "30"), ("30000/1001", "30000/1001")])
def test_ffmpeg_args_state_the_streams_own_rate(children, key, backend, rate, said):
    producer = children.spawn(FRAME_PRODUCER, key, backend, rate)
    children.read_line(producer, "up")
    done = cat(key, "--ffmpeg-args")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        "-f",
        "rawvideo",
        "-pix_fmt",
        "nv12",
        "-video_size",
        "64x48",
        "-framerate",
        said,
        "-i",
        "-",
    ]
    assert "warning" not in done.stderr


def test_ffmpeg_args_without_a_stated_rate_say_25_and_warn(children, key, backend):
    producer = children.spawn(FRAME_PRODUCER, key, backend, "none")
    children.read_line(producer, "up")
    done = cat(key, "--ffmpeg-args")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[6:8] == ["-framerate", "25"]
    assert "warning: the stream states no frame rate" in done.stderr and "--fps" in done.stderr
    assert cat(key, "--ffmpeg-args", "--fps", "12.5").stdout.split()[6:8] == ["-framerate", "12.5"]


def test_packet_ffmpeg_args_state_the_rate_or_the_container(children, key, backend):
    producer = children.spawn(
        PACKET_PRODUCER,
        key,
        backend,
        "--frames",
        "300",
        "--interval",
        "0.01",
        "--time-base",
        "1/90000",
        "--frame-rate",
        "30",
        "--pts-step",
        "3000",
    )
    children.read_line(producer, "up")
    assert cat(key, "--packets", "--ffmpeg-args").stdout.split() == ["-f", "h264", "-framerate", "30", "-i", "-"]
    assert cat(key, "--packets", "--format", "nut", "--ffmpeg-args").stdout.split() == ["-f", "nut", "-i", "-"]


def test_format_is_for_packets_only(key):
    done = cat(key, "--format", "nut")
    assert done.returncode == 2 and "--format applies to --packets" in done.stderr


@pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None, reason="needs ffmpeg")
@pytest.mark.parametrize("container", ["nut", "mpegts"])
def test_muxed_packets_pipe_into_ffmpeg_with_their_timestamps(children, key, backend, tmp_path, container):
    source = b_frame_clip(tmp_path / "source.mp4", seconds=3, gop=30)
    out = tmp_path / "piped.mp4"
    with open(tmp_path / "cat.log", "wb") as log:
        reader = subprocess.Popen(
            [sys.executable, "-m", "cuframes", "cat", key, "--packets", "--format", container, "--timeout", "30"],
            stdout=subprocess.PIPE,
            stderr=log,
        )
    try:
        producer = children.spawn(FILE_PRODUCER, str(source), key, backend, "fast")
        children.read_line(producer, "up")
        ffmpeg = subprocess.run(
            ["ffmpeg", "-v", "warning", "-y", "-f", container, "-i", "-", "-c", "copy", str(out)],
            stdin=reader.stdout,
            capture_output=True,
            text=True,
            timeout=60,
        )
        reader.stdout.close()
        assert reader.wait(timeout=30) == 0, (tmp_path / "cat.log").read_text()
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    children.wait(producer)
    assert ffmpeg.returncode == 0, ffmpeg.stderr
    assert "Timestamps are unset" not in ffmpeg.stderr and "non monotonically" not in ffmpeg.stderr, ffmpeg.stderr
    assert duration(out) == pytest.approx(duration(source), abs=1 / 30)
    assert frame_hashes(out)[0] == frame_hashes(source)[0]
    times = [frame["pts_time"] for frame in frames(out)]
    assert all(b > a for a, b in zip(times, times[1:]))


def test_a_reader_that_goes_away_ends_a_muxed_pipe_quietly(children, key, backend):
    """`cat --packets --format nut | head -c 3000`: no trailer can be written; exit 0, no error."""
    producer = children.spawn(
        PACKET_PRODUCER,
        key,
        backend,
        "--frames",
        "2000",
        "--interval",
        "0.005",
        "--time-base",
        "1/90000",
        "--frame-rate",
        "30",
        "--pts-step",
        "3000",
    )
    children.read_line(producer, "up")
    done = subprocess.run(
        f"{sys.executable} -m cuframes cat {key} --packets --format nut | head -c 3000 | wc -c",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.split() == ["3000"]
    assert "error" not in done.stderr, done.stderr
