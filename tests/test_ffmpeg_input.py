"""FFmpeg's cuframes input (ffmpeg/cuframes.c, registered by ffmpeg/register-<series>.patch; docs/ffmpeg.md), run
as a real `ffmpeg -i cuframes://KEY` against producers in child processes.

Needs the ffmpeg that scripts/build-ffmpeg.sh builds: CUFRAMES_FFMPEG names it, else
build/ffmpeg/bin/ffmpeg; without one the tests skip (CI builds it, so they run there).
Every ffmpeg runs as a child (tests/conftest.py's `children`): timeouts, survivors killed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FFMPEG = os.environ.get("CUFRAMES_FFMPEG") or str(ROOT / "build" / "ffmpeg" / "bin" / "ffmpeg")
FFPROBE = str(Path(FFMPEG).with_name("ffprobe"))
pytestmark = pytest.mark.skipif(
    not os.access(FFMPEG, os.X_OK),
    reason=f"no ffmpeg with the cuframes input at {FFMPEG} (bash scripts/build-ffmpeg.sh, or set CUFRAMES_FFMPEG)",
)

SIZE = "160x96"
# ffmpeg's name of each cuframes format.
PIX_FMT = {"nv12": "nv12", "i420": "yuv420p", "bgra": "bgra", "gray8": "gray"}

#: Runs a program in place of the Python child, so `children` times it out and kills it.
EXEC = "import os, sys; os.execv(sys.argv[1], sys.argv[1:])"
#: Publishes frames of a raw file (one after another, looping) at 25 fps stream time, once
#: a subscriber is attached. argv: key backend raw format WxH count interval die_at
#: (die_at >= 0: SIGKILL itself before that frame, a crash). The pool holds 64 frames so
#: a sequential subscriber on a loaded machine misses none.
FRAME_PRODUCER = r"""
import os, signal, sys, time
import numpy as np
import cuframes

key, backend, raw, fmt, size, count, interval, die_at = sys.argv[1:9]
width, height = (int(n) for n in size.split("x"))
frame_bytes = cuframes.packed_size(fmt, width, height)
frames = np.fromfile(raw, np.uint8).reshape(-1, frame_bytes)
with cuframes.Publisher(key, width, height, fmt, backend=backend, slots=64, time_base=(1, 25),
                        frame_rate=(25, 1)) as pub:
    print("up", flush=True)
    deadline = time.monotonic() + 20
    while pub.subscriber_count == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    for index in range(int(count)):
        if index == int(die_at):
            os.kill(os.getpid(), signal.SIGKILL)
        pub.send(frames[index % len(frames)], pts=index)
        time.sleep(float(interval))
    time.sleep(0.3)
"""


def raw_frames(path: Path, fmt: str, count: int) -> Path:
    """`count` frames of FFmpeg's test pattern, packed, in the cuframes format `fmt`."""
    ffmpeg = shutil.which("ffmpeg")  # Debian's: the minimal build has no lavfi sources
    if ffmpeg is None:
        pytest.skip("the system ffmpeg (apt-get install ffmpeg) makes the test pattern")
    subprocess.run(
        [ffmpeg, "-v", "error", "-f", "lavfi", "-i", f"testsrc2=size={SIZE}:rate=25", "-frames:v", str(count)]
        + ["-pix_fmt", PIX_FMT[fmt], "-f", "rawvideo", "-y", str(path)],
        check=True,
        timeout=60,
    )
    return path


def framemd5_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def start_producer(
    children,
    key: str,
    raw: Path,
    fmt: str = "nv12",
    count: int = 24,
    interval: float = 0.02,
    die_at: int = -1,
    backend: str = "host",
):
    child = children.spawn(FRAME_PRODUCER, key, backend, str(raw), fmt, SIZE, str(count), str(interval), str(die_at))
    children.read_line(child, "up")
    return child


#: ffmpeg and its libcuframes are not sanitized: under scripts/sanitize.sh the runtime
#: stays in the Python producers and out of ffmpeg, whose exit status it would change.
UNSANITIZED = {"LD_PRELOAD": ""}


def ffmpeg(children, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    return children.run(EXEC, FFMPEG, "-hide_banner", "-nostdin", *args, timeout=timeout, env=UNSANITIZED)


def probe(path: Path) -> dict[str, str]:
    result = subprocess.run(
        [
            FFPROBE,
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
            "-of",
            "default=noprint_wrappers=1",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return dict(line.split("=", 1) for line in result.stdout.splitlines())


def packet_times(path: Path) -> list[float]:
    result = subprocess.run(
        [
            FFPROBE,
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=dts_time",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [float(value) for value in result.stdout.split()]


@pytest.mark.parametrize("fmt", ["nv12", "i420", "bgra"])
def test_frames_equal_ffmpegs_decode_of_the_source_frame_by_frame(children, key, tmp_path, fmt) -> None:
    raw = raw_frames(tmp_path / "source.raw", fmt, 24)
    expected = ffmpeg(
        children,
        "-f",
        "rawvideo",
        "-pix_fmt",
        PIX_FMT[fmt],
        "-s",
        SIZE,
        "-r",
        "25",
        "-i",
        str(raw),
        "-f",
        "framemd5",
        "-",
    )
    assert expected.returncode == 0, expected.stderr
    start_producer(children, key, raw, fmt)
    # No -f: the cuframes:// prefix picks the input; the clean close ends it (exit 0).
    got = ffmpeg(children, "-i", f"cuframes://{key}?delivery=sequential", "-f", "framemd5", "-")
    assert got.returncode == 0, got.stderr
    assert framemd5_lines(got.stdout) == framemd5_lines(expected.stdout)
    assert len(framemd5_lines(got.stdout)) == 24


@pytest.mark.parametrize("copy", [0, 1])
def test_frames_are_read_in_place_unless_copy_is_set(children, key, tmp_path, copy) -> None:
    raw = raw_frames(tmp_path / "source.raw", "nv12", 24)
    start_producer(children, key, raw)
    url = f"cuframes://{key}?delivery=sequential&copy={copy}"
    got = ffmpeg(children, "-v", "verbose", "-i", url, "-f", "framemd5", "-")
    assert got.returncode == 0, got.stderr
    counts = re.search(r"(\d+) frames zero-copy, (\d+) copied, (\d+) missed", got.stderr)
    assert counts, got.stderr
    in_place, copied, missed = (int(n) for n in counts.groups())
    assert (in_place + copied, missed) == (24, 0)
    # ffmpeg keeps the last frame of each output, so with max_held 2 some are copied.
    assert in_place == 0 if copy else in_place > 0, counts.group(0)


def test_t_stops_the_input_after_that_much_stream_time(children, key, tmp_path, cf_dir) -> None:
    raw = raw_frames(tmp_path / "source.raw", "nv12", 8)
    start_producer(children, key, raw, count=400)
    # -f cuframes with a bare key, the folder as an option.
    got = ffmpeg(
        children,
        "-f",
        "cuframes",
        "-dir",
        str(cf_dir),
        "-delivery",
        "sequential",
        "-i",
        key,
        "-t",
        "0.4",
        "-f",
        "framemd5",
        "-",
    )
    assert got.returncode == 0, got.stderr
    assert len(framemd5_lines(got.stdout)) == 10  # pts 0..9 at 25 fps


def test_no_producer_fails_within_the_timeout_naming_the_key(children, key) -> None:
    started = time.monotonic()
    got = ffmpeg(children, "-i", f"cuframes://{key}?timeout=0.5", "-f", "null", "-", timeout=30)
    assert got.returncode != 0
    assert f"cuframes://{key}" in got.stderr and "NOT_FOUND" in got.stderr, got.stderr
    assert time.monotonic() - started < 20


def test_a_silent_producer_times_out_naming_the_key(children, key, tmp_path) -> None:
    raw = raw_frames(tmp_path / "source.raw", "nv12", 1)
    start_producer(children, key, raw, count=2, interval=30.0)  # one frame, then silence
    # ffmpeg logs a read error and ends the input; -xerror makes it the exit status.
    got = ffmpeg(children, "-xerror", "-i", f"cuframes://{key}?timeout=1", "-f", "framemd5", "-", timeout=30)
    assert got.returncode != 0
    assert re.search(rf"cuframes://{key}: nothing within the timeout", got.stderr), got.stderr
    assert len(framemd5_lines(got.stdout)) <= 1  # -xerror exits before the muxer flushes


def test_a_killed_producer_ends_ffmpeg_with_an_error_naming_the_key(children, key, tmp_path) -> None:
    raw = raw_frames(tmp_path / "source.raw", "nv12", 8)
    start_producer(children, key, raw, count=20, die_at=5)
    got = ffmpeg(
        children, "-xerror", "-i", f"cuframes://{key}?delivery=sequential&timeout=20", "-f", "framemd5", "-", timeout=40
    )
    assert got.returncode != 0
    assert f"cuframes://{key}" in got.stderr and "PRODUCER_DIED" in got.stderr, got.stderr
    # -xerror exits at the error: the frame still in the muxer may not be written.
    assert 1 <= len(framemd5_lines(got.stdout)) <= 5


def test_reconnect_follows_a_restarted_producer_with_increasing_timestamps(children, key, tmp_path) -> None:
    raw = raw_frames(tmp_path / "source.raw", "nv12", 8)
    first = start_producer(children, key, raw, count=6)
    consumer = children.spawn(
        EXEC,
        FFMPEG,
        "-hide_banner",
        "-nostdin",
        "-i",
        f"cuframes://{key}?delivery=sequential&reconnect=1&timeout=20",
        "-frames:v",
        "12",
        "-f",
        "framemd5",
        "-",
        env=UNSANITIZED,
    )
    assert children.wait(first).returncode == 0
    start_producer(children, key, raw, count=6)  # pts 0.. again: the input shifts them on
    got = children.wait(consumer, timeout=60)
    assert got.returncode == 0, got.stderr
    lines = framemd5_lines(got.stdout)
    assert len(lines) == 12
    pts = [int(line.split(",")[1]) for line in lines]
    assert pts == sorted(set(pts)), pts
    assert "following a restarted producer" in got.stderr


@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_packets_are_muxed_to_mp4_without_a_pipe(children, key, tmp_path, codec) -> None:
    from packet_producer import PACKET_PRODUCER

    producer = children.spawn(
        PACKET_PRODUCER,
        key,
        "host",
        "--codec",
        codec,
        "--frames",
        "30",
        "--gop",
        "10",
        "--time-base",
        "1/25",
        "--frame-rate",
        "25/1",
        "--interval",
        "0.01",
    )
    children.read_line(producer, "up")
    out = tmp_path / "out.mp4"
    got = ffmpeg(children, "-i", f"cuframes://{key}?packets=1", "-c", "copy", str(out))
    assert got.returncode == 0, got.stderr
    assert probe(out) == {"codec_name": codec, "width": "160", "height": "96", "nb_read_frames": "30"}
    times = packet_times(out)
    assert len(times) == 30 and times == sorted(set(times)), times
    assert times[1] - times[0] == pytest.approx(0.04, abs=1e-3)


def test_a_libx264_reencode_reads_every_frame(children, key, tmp_path) -> None:
    encoders = subprocess.run([FFMPEG, "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=30)
    if " libx264 " not in encoders.stdout:
        pytest.skip("this ffmpeg was built without libx264 (apt-get install libx264-dev, rebuild)")
    raw = raw_frames(tmp_path / "source.raw", "nv12", 24)
    start_producer(children, key, raw)
    out = tmp_path / "out.mp4"
    got = ffmpeg(
        children, "-i", f"cuframes://{key}?delivery=sequential", "-c:v", "libx264", "-preset", "ultrafast", str(out)
    )
    assert got.returncode == 0, got.stderr
    assert probe(out) == {"codec_name": "h264", "width": "160", "height": "96", "nb_read_frames": "24"}


@pytest.mark.gpu
def test_cuda_frames_are_read_in_place_and_feed_scale_cuda_and_nvenc(children, key, tmp_path) -> None:
    """On a GPU: the frames are AV_PIX_FMT_CUDA frames whose data[0] is the imported slot's
    address (the input's debug line says both); downloaded they equal the published frames,
    in place and with copy=1 (a copy on the GPU); scale_cuda scales them for h264_nvenc (or,
    on a GPU without NVENC, for libx264)."""
    raw = raw_frames(tmp_path / "source.raw", "nv12", 24)
    args = ["-f", "rawvideo", "-pix_fmt", "nv12", "-s", SIZE, "-r", "25", "-i", str(raw), "-f", "framemd5", "-"]
    expected = framemd5_lines(ffmpeg(children, *args).stdout)
    for copy in (0, 1):
        start_producer(children, f"{key}{copy}", raw, backend="cuda")
        url = f"cuframes://{key}{copy}?delivery=sequential&copy={copy}"
        got = ffmpeg(children, "-v", "debug", "-i", url, "-vf", "hwdownload,format=nv12", "-f", "framemd5", "-")
        assert got.returncode == 0, got.stderr
        assert framemd5_lines(got.stdout) == expected
        in_place = re.findall(r"slot \d+ at 0x([0-9a-f]+): zero-copy, data\[0\] 0x([0-9a-f]+)", got.stderr)
        assert bool(in_place) != bool(copy), got.stderr
        assert all(int(slot, 16) == int(data, 16) for slot, data in in_place)

    # scale_cuda on the input's frames, then NVENC where the GPU has one (H100 and H200 have
    # none: there the scaled frames are downloaded and encoded with libx264).
    nvenc = (
        ffmpeg(
            children,
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=256x144",
            "-frames:v",
            "1",
            "-c:v",
            "h264_nvenc",
            "-f",
            "null",
            "-",
        ).returncode
        == 0
    )
    encode = ["-c:v", "h264_nvenc"] if nvenc else ["-c:v", "libx264"]
    scale = "scale_cuda=80:48" if nvenc else "scale_cuda=80:48,hwdownload,format=nv12"
    start_producer(children, key, raw, backend="cuda")
    out = tmp_path / "out.mp4"
    url = f"cuframes://{key}?delivery=sequential"
    got = ffmpeg(children, "-i", url, "-vf", scale, *encode, str(out))
    assert got.returncode == 0, got.stderr
    assert probe(out) == {"codec_name": "h264", "width": "80", "height": "48", "nb_read_frames": "24"}
