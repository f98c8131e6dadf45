"""`cuframes record`: a B-frame file recorded to mp4 and mkv is bit-exact with its
timestamps; segments start at keyframes and add up to the stream; outages stay
gaps (a paused producer, a restarted one, a real RTSP camera away for 5 s);
kill -9 and SIGTERM leave playable files. Real ffmpeg and ffprobe check the files."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest
from packet_producer import PACKET_PRODUCER
from recording import FILE_PRODUCER, b_frame_clip, duration, frame_hashes, frames, probe

pytestmark = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None, reason="needs ffmpeg and ffprobe"
)
# The recorder refuses older PyAV (tests/test_record_pyav.py checks that it says so).
pytest.importorskip("av", minversion="18", reason="cuframes record needs PyAV 18 or newer")

FPS = 30
#: the packet producer's stream facts: pts in 1/90000, one frame = 3000 ticks
FACTS_30 = ("--time-base", "1/90000", "--frame-rate", "30", "--pts-step", "3000")


def start_recorder(children, key: str, out: Path, *args: str):
    return children.spawn_module("cuframes", "record", key, str(out), "--timeout", "30", *args)


def wait_for_size(path: Path, size: int, child, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.stat().st_size >= size):
        assert child.poll() is None, f"the recorder exited ({child.poll()}): {''.join(child.stderr)}"
        assert time.monotonic() < deadline, f"{path} did not reach {size} bytes in {timeout} s"
        time.sleep(0.05)


@pytest.mark.parametrize("extension", ["mp4", "mkv"])
def test_a_b_frame_file_records_bit_exact_with_its_timestamps(children, key, backend, tmp_path, extension):
    source = b_frame_clip(tmp_path / "source.mp4", seconds=3, gop=FPS)
    out = tmp_path / f"recorded.{extension}"
    recorder = start_recorder(children, key, out, "--no-follow")
    producer = children.spawn(FILE_PRODUCER, str(source), key, backend, "fast")
    children.read_line(producer, "up")
    children.wait(producer)
    done = children.wait(recorder)
    assert done.returncode == 0, done.stderr
    assert "1 file(s), 90 packet(s)" in done.stderr and "producer closed" in done.stderr, done.stderr
    assert duration(out) == pytest.approx(duration(source), abs=1 / FPS)
    recorded, decode_log = frame_hashes(out)
    expected, _ = frame_hashes(source)
    assert recorded == expected  # every frame, bit-exact, in display order
    times = [frame["pts_time"] for frame in frames(out)]
    assert all(b > a for a, b in zip(times, times[1:])), times
    assert times == pytest.approx([n / FPS for n in range(90)], abs=1e-3)
    for log in (decode_log, done.stderr):
        assert "Timestamps are unset" not in log and "non monotonically" not in log, log
    header = probe(out, "stream=color_space,color_range,color_primaries,avg_frame_rate")["streams"][0]
    assert header == {
        "color_space": "bt709",
        "color_range": "tv",
        "color_primaries": "bt709",
        "avg_frame_rate": "30/1",
    }  # the stream facts, in the file's header


def test_segments_start_at_keyframes_play_alone_and_add_up_to_the_stream(children, key, backend, tmp_path):
    source = b_frame_clip(tmp_path / "source.mp4", seconds=6, gop=FPS)  # a keyframe each second
    pattern = tmp_path / "rec" / "cam-%Y%m%d-%H%M%S.mp4"
    recorder = start_recorder(children, key, pattern, "--no-follow", "--segment", "2")
    producer = children.spawn(FILE_PRODUCER, str(source), key, backend, "fast")
    children.read_line(producer, "up")
    children.wait(producer)
    done = children.wait(recorder)
    assert done.returncode == 0, done.stderr
    # In the order written, as the summary lists them. They start within a second or two of
    # each other, so names may repeat: the later ones get -1, -2.
    files = [Path(line.strip()) for line in done.stderr.splitlines() if line.startswith("  ")]
    assert len(files) == 3 and sorted(files) == sorted((tmp_path / "rec").iterdir()), done.stderr
    assert all(path.name.startswith("cam-") for path in files)
    together = []
    for path in files:
        each = frames(path)
        assert each[0]["key_frame"] == 1 and each[0]["pts_time"] == pytest.approx(0, abs=1e-3)
        assert len(each) == 2 * FPS
        assert duration(path) == pytest.approx(2.0, abs=1 / FPS)
        hashes, _ = frame_hashes(path)  # decodes alone
        together += hashes
    expected, _ = frame_hashes(source)
    assert together == expected  # no gap, no overlap


def test_an_outage_the_timestamps_do_not_show_stays_a_gap(children, key, backend, tmp_path):
    """The producer's pts go on by one frame after a 2.5 s pause; the recording keeps the 2.5 s."""
    out = tmp_path / "paused.mkv"
    recorder = start_recorder(children, key, out, "--no-follow")
    producer = children.spawn(
        PACKET_PRODUCER,
        key,
        backend,
        "--frames",
        "60",
        "--gop",
        "10",
        *FACTS_30,
        "--interval",
        str(1 / FPS),
        "--pause-at",
        "30",
        "--pause",
        "2.5",
    )
    children.read_line(producer, "up")
    children.wait(producer)
    done = children.wait(recorder)
    assert done.returncode == 0, done.stderr
    assert "1 gap(s) kept" in done.stderr, done.stderr
    times = [frame["pts_time"] for frame in frames(out)]
    assert len(times) == 60
    steps = [b - a for a, b in zip(times, times[1:])]
    assert steps[29] >= 2.4, steps  # the pause
    assert all(step == pytest.approx(1 / FPS, abs=2e-3) for index, step in enumerate(steps) if index != 29), steps


def test_a_restarted_producer_is_followed_and_its_timestamps_go_on(children, key, backend, tmp_path):
    """The new producer's pts start again from 0; the recording goes on after the wall-clock gap."""
    out = tmp_path / "restarts.mkv"
    recorder = start_recorder(children, key, out)
    for _ in range(2):
        producer = children.spawn(
            PACKET_PRODUCER, key, backend, "--frames", "30", "--gop", "10", *FACTS_30, "--interval", "0.01"
        )
        children.read_line(producer, "up")
        children.wait(producer)
        time.sleep(1.5)
    recorder.proc.send_signal(signal.SIGTERM)
    done = children.wait(recorder)
    assert done.returncode == 0, done.stderr
    assert "1 producer restart(s)" in done.stderr, done.stderr
    times = [frame["pts_time"] for frame in frames(out)]
    assert len(times) == 60
    assert all(b > a for a, b in zip(times, times[1:])), times
    assert times[30] - times[29] >= 1.4, times  # the producers' wall-clock gap, kept


def test_a_5_s_outage_of_an_rtsp_camera_stays_a_gap(children, key, tmp_path, rtsp_server):
    out = tmp_path / "camera.mkv"
    publisher = children.spawn_module(
        "cuframes",
        "publish",
        rtsp_server.url,
        "--key",
        key,
        "--backend",
        "host",
        "--timeout",
        "3",
        "--reconnect-initial",
        "0.2",
        "--reconnect-max",
        "1",
    )
    recorder = start_recorder(children, key, out)
    wait_for_size(out, 20_000, recorder)
    rtsp_server.kill()
    time.sleep(5)
    rtsp_server.start()
    seen = out.stat().st_size
    wait_for_size(out, seen + 20_000, recorder)
    recorder.proc.send_signal(signal.SIGTERM)
    done = children.wait(recorder)
    assert done.returncode == 0, done.stderr
    publisher.proc.send_signal(signal.SIGTERM)
    children.wait(publisher)
    times = [frame["pts_time"] for frame in frames(out)]
    steps = [b - a for a, b in zip(times, times[1:])]
    assert max(steps) >= 4.5, steps  # the camera's 5 s away, not collapsed
    assert sorted(steps)[-2] < 1.0, steps  # one gap only
    assert all(step > 0 for step in steps)


@pytest.mark.parametrize(
    "extension, options", [("mkv", ()), ("ts", ()), ("mp4", ("-o", "movflags=frag_keyframe+empty_moov"))]
)
def test_kill_9_mid_file_leaves_a_playable_file(children, key, backend, tmp_path, extension, options):
    out = tmp_path / f"killed.{extension}"
    producer = children.spawn(
        PACKET_PRODUCER,
        key,
        backend,
        "--frames",
        "1200",
        "--gop",
        "10",
        *FACTS_30,
        "--interval",
        "0.01",
        "--size",
        "320x240",
    )
    recorder = start_recorder(children, key, out, *options)
    children.read_line(producer, "up")
    wait_for_size(out, 100_000, recorder)
    os.kill(recorder.pid, signal.SIGKILL)
    recorder.wait(timeout=10)
    hashes, log = frame_hashes(out)
    assert len(hashes) > 10, log


def test_sigterm_finishes_an_mp4(children, key, backend, tmp_path):
    out = tmp_path / "stopped.mp4"
    producer = children.spawn(
        PACKET_PRODUCER,
        key,
        backend,
        "--frames",
        "1200",
        "--gop",
        "10",
        *FACTS_30,
        "--interval",
        "0.01",
        "--size",
        "320x240",
    )
    recorder = start_recorder(children, key, out)
    children.read_line(producer, "up")
    wait_for_size(out, 100_000, recorder)
    recorder.proc.send_signal(signal.SIGTERM)
    done = children.wait(recorder)
    assert done.returncode == 0, done.stderr
    hashes, log = frame_hashes(out)
    assert len(hashes) > 10 and "error" not in log.lower(), log
    assert f"{len(hashes)} packet(s)" in done.stderr, done.stderr


def test_the_recorder_from_python_stops_when_asked_and_finishes_its_file(children, key, backend, tmp_path):
    import threading

    from cuframes.record import Recorder

    producer = children.spawn(
        PACKET_PRODUCER, key, backend, "--frames", "1200", "--gop", "10", *FACTS_30, "--interval", "0.01"
    )
    children.read_line(producer, "up")
    out = tmp_path / "python.mp4"
    with Recorder(key, str(out), timeout=30) as recorder:
        stopper = threading.Timer(1.5, recorder.stop)
        stopper.start()
        stats = recorder.run()
        stopper.join()
        assert recorder.current_file is None  # finished by run()
    assert stats.ended == "stopped" and stats.files == [str(out)] and stats.packets > 10
    assert len(frame_hashes(out)[0]) == stats.packets


def test_an_existing_file_is_never_overwritten(children, key, backend, tmp_path):
    out = tmp_path / "taken.mkv"
    out.write_bytes(b"an earlier recording")
    # The producer starts once it counts the recorder's subscriber, and the subscriber joins at
    # the latest keyframe when its attach completes, a moment later: paced, with 60 packets, 20
    # remain after any keyframe it can join at on a loaded machine (CI's busy-loop run joined
    # at packet 20 of 30 and found 10).
    producer = children.spawn(PACKET_PRODUCER, key, backend, "--frames", "60", "--interval", "0.01", *FACTS_30)
    recorder = start_recorder(children, key, out, "--no-follow", "--count", "20")
    children.read_line(producer, "up")
    done = children.wait(recorder)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == b"an earlier recording"
    assert len(frames(tmp_path / "taken-1.mkv")) == 20 and str(tmp_path / "taken-1.mkv") in done.stderr


@pytest.mark.parametrize(
    "out, options, complaint",
    [
        ("cam1.avi", {}, "cannot tell the container"),
        ("cam1.mkv", {"format": "flv"}, "unknown container format"),
        ("cam1.mkv", {"segment": 60}, "needs a strftime pattern"),
        ("cam1-%H%M%S.mkv", {"segment": 0}, "positive number of seconds"),
    ],
)
def test_the_recorder_says_what_it_cannot_do(out, options, complaint):
    import cuframes
    from cuframes.record import Recorder

    with pytest.raises(cuframes.InvalidArgumentError, match=complaint):
        Recorder("cam1", out, **options)


def test_the_status_line_on_a_terminal_shows_the_recording():
    import io

    from rich.console import Console

    from cuframes.cli.record import _Status
    from cuframes.record import RecordingStats

    screen = io.StringIO()
    with _Status(Console(file=screen, force_terminal=True, width=200), "cam1") as status:
        status.update(RecordingStats(packets=42, bytes=2_000_000, files=["cam1.mkv"], seconds=3.5, gaps=1))
    shown = screen.getvalue()
    assert "recording cam1 -> cam1.mkv" in shown and "42 packets (2.0 MB)" in shown and "gaps 1" in shown
