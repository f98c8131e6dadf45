"""`cuframes://` URLs and `cuframes cat --frames`: a stream's frames as rawvideo on
stdout, byte-exact, and the ffmpeg options that read them (checked with a real
ffmpeg when one is installed)."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import cuframes
from cuframes.urls import StreamAddress, parse_url

W, H = 64, 48

PRODUCER = f"""
import sys, time, numpy as np, cuframes
key, backend = sys.argv[1], sys.argv[2]
with cuframes.Publisher(key, {W}, {H}, "nv12", backend=backend) as pub:
    print("up", flush=True)
    for seq in range(1, 10_000):
        # Each frame is its sequence number (mod 256) everywhere: easy to check byte by byte.
        pub.send(np.full(pub.packed_size, seq % 256, dtype=np.uint8), pts=seq)
        time.sleep(0.01)
"""


@pytest.mark.parametrize(
    "text, expected",
    [
        ("cam1", StreamAddress("cam1")),
        ("cuframes://cam1", StreamAddress("cam1")),
        ("cuframes://Cam_1.a-b?dir=/run/shared", StreamAddress("Cam_1.a-b", "/run/shared")),
    ],
)
def test_urls_name_a_key_and_maybe_a_folder(text, expected):
    assert parse_url(text) == expected
    assert parse_url(expected.url()) == expected


@pytest.mark.parametrize(
    "text, complaint",
    [
        ("http://cam1", "not a cuframes URL"),
        ("cuframes://", "names no key"),
        ("cuframes://cam1/extra", "nothing else"),
        ("cuframes://cam1:80", "nothing else"),
        ("cuframes://user@cam1", "nothing else"),
        ("cuframes://cam1?fps=30", "unknown parameter"),
        ("cuframes://cam1?dir=", "dir= once"),
        ("cuframes://ca%20m", "contains a character"),
        ("bad key", "contains a character"),
    ],
)
def test_bad_urls_say_what_is_wrong(text, complaint):
    with pytest.raises(cuframes.InvalidArgumentError, match=complaint):
        parse_url(text)


def cat(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cuframes", "cat", *args], capture_output=True, timeout=timeout)


def test_cat_writes_packed_frames_in_order(children, key, backend, cf_dir):
    producer = children.spawn(PRODUCER, key, backend)
    children.read_line(producer, "up")
    done = cat(f"cuframes://{key}?dir={cf_dir}", "--frames", "--count", "20")
    assert done.returncode == 0, done.stderr.decode()
    packed = W * H * 3 // 2
    assert len(done.stdout) == 20 * packed
    frames = np.frombuffer(done.stdout, dtype=np.uint8).reshape(20, packed)
    values = frames[:, 0].astype(int)
    assert all((frames == values[:, None]).all(axis=1)), "a frame is not uniform: torn or misplaced bytes"
    steps = np.diff(values) % 256
    assert (steps >= 1).all(), f"frames out of order: {values.tolist()}"  # sequential delivery
    assert b"20 frame(s) written" in done.stderr


def test_cat_prints_ffmpeg_input_options(children, key, backend):
    producer = children.spawn(PRODUCER, key, backend)
    children.read_line(producer, "up")
    done = cat(key, "--ffmpeg-args", "--fps", "30")
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().split() == [
        "-f",
        "rawvideo",
        "-pix_fmt",
        "nv12",
        "-video_size",
        f"{W}x{H}",
        "-framerate",
        "30",
        "-i",
        "-",
    ]


def test_cat_of_a_missing_key_fails_clearly(key):
    done = cat(f"cuframes://{key}", "--timeout", "0.2")
    assert done.returncode == 1
    assert key.encode() in done.stderr and b"error" in done.stderr
    assert done.stdout == b""


@pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None, reason="ffmpeg and ffprobe are not installed"
)
def test_ffmpeg_reads_what_cat_writes(children, key, backend, tmp_path):
    producer = children.spawn(PRODUCER, key, backend)
    children.read_line(producer, "up")
    options = cat(key, "--ffmpeg-args").stdout.decode().split()
    out = tmp_path / "out.mkv"
    frames = cat(key, "--count", "12")
    encoded = subprocess.run(
        ["ffmpeg", "-v", "error", *options, "-c:v", "ffv1", str(out)],
        input=frames.stdout,
        capture_output=True,
        timeout=60,
    )
    assert encoded.returncode == 0, encoded.stderr.decode()
    probe = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
            "-of",
            "csv=p=0",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.stdout.strip() == f"ffv1,{W},{H},12"


def start_late_reader(children, key: str, *args: str) -> tuple[subprocess.Popen, bytes, bytes]:
    """Runs `cat --frames` into a pipe nobody reads until the producer has published 100
    frames more than the pipe and the pool hold, then reads it all: (process, stdout, stderr)."""
    producer = children.spawn(PRODUCER, key, "host")
    children.read_line(producer, "up")
    reader = subprocess.Popen(
        [sys.executable, "-m", "cuframes", "cat", key, "--frames", "--count", "40", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # Not a sleep: whatever the load, the producer gets 100 frames ahead of cat's start before we read.
        deadline = time.monotonic() + 30
        while (status := cuframes.stat(key, timeout=10)).frame_subscriber_count == 0:
            assert reader.poll() is None and time.monotonic() < deadline, "cat did not connect"
            time.sleep(0.02)
        start = status.latest_seq
        while cuframes.stat(key, timeout=10).latest_seq < start + 100:
            assert time.monotonic() < deadline, "the producer did not get 100 frames ahead"
            time.sleep(0.05)
        out, err = reader.communicate(timeout=60)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    return reader, out, err


def frame_values(data: bytes) -> list[int]:
    frames = np.frombuffer(data, dtype=np.uint8).reshape(-1, W * H * 3 // 2)
    assert all((frames == frames[:, :1]).all(axis=1)), "a frame is not uniform: torn or misplaced bytes"
    return frames[:, 0].astype(int).tolist()


def test_cat_into_a_late_reader_says_how_many_frames_it_lost(children, key):
    reader, out, err = start_late_reader(children, key)
    assert reader.returncode == 0, err.decode()
    steps = np.diff(frame_values(out)) % 256
    assert (steps >= 1).all(), "frames out of order"
    lost = int((steps - 1).sum())
    assert lost > 0, "the reader was 100 frames behind a smaller pool, yet nothing was lost"
    reported = [int(n) for n in re.findall(rb"fell behind, (\d+) frame\(s\) lost", err)]
    assert sum(reported) == lost, err.decode()
    assert f"40 frame(s) written, {lost} lost".encode() in err, err.decode()


def test_cat_on_loss_fail_stops_at_the_gap_and_exits_non_zero(children, key):
    reader, out, err = start_late_reader(children, key, "--on-loss", "fail")
    assert reader.returncode == 1, err.decode()
    assert err.startswith(b"error: the reader fell behind: "), err.decode()
    assert b"lost before frame" in err
    assert (np.diff(frame_values(out)) % 256 == 1).all(), "a frame after the gap was written"


def test_cat_refuses_frames_and_packets_together(key):
    done = cat(key, "--frames", "--packets")
    assert done.returncode == 2
    assert b"--frames or --packets, not both" in done.stderr


class FakePacketSubscriber:
    """Stands in for a PacketSubscriber: hands out the given packets, then the producer's end."""

    def __init__(self, packets: list[cuframes.Packet]) -> None:
        self.packets = list(packets)

    def __enter__(self) -> FakePacketSubscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def next(self, timeout: float | None) -> cuframes.Packet:
        if not self.packets:
            raise cuframes.DisconnectedError("the producer closed")
        return self.packets.pop(0)


def fake_packet(seq: int, overruns: int = 0) -> cuframes.Packet:
    return cuframes.Packet(
        data=bytes([seq]),
        seq=seq,
        pts=seq,
        dts=seq,
        timestamp_ns=seq,
        codec="h264",
        keyframe=overruns > 0,
        overruns=overruns,
        discontinuity=overruns > 0,
        parameter_sets_prepended=False,
    )


def test_cat_packets_reports_each_loss_and_can_fail_at_the_gap(monkeypatch):
    from cuframes import cat as cat_module

    stream = [fake_packet(1), fake_packet(2), fake_packet(9, overruns=6), fake_packet(10)]
    monkeypatch.setattr(cat_module, "_subscribe_packets", lambda *a: FakePacketSubscriber(stream))
    losses: list[tuple[int, int]] = []
    out = io.BytesIO()
    assert cat_module.write_packets("k", out, count=None, timeout=1, on_loss=lambda *loss: losses.append(loss)) == 4
    assert losses == [(6, 9)] and out.getvalue() == bytes([1, 2, 9, 10])

    out = io.BytesIO()
    with pytest.raises(cat_module.LossError, match="6 packet\\(s\\) lost before packet 9"):
        cat_module.write_packets("k", out, count=None, timeout=1, on_loss=cat_module.fail_on_loss("packet"))
    assert out.getvalue() == bytes([1, 2]), "nothing after the gap"
