"""`cuframes publish SOURCE --key K`: the command runs as its own process, publishes
what subscribers can read (the test pattern's frames whole and in order, packets
with their frames' pts), stops on its limits, on Ctrl-C and on SIGTERM, stays
quiet on a pipe but for one summary line, and fails clearly on a bad SOURCE."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_invoke import invoke_cli
from rtsp_server import free_port

import cuframes
from cuframes._pattern import TestPattern
from cuframes.cli.publish import default_packet_ring_bytes, publish

pytest.importorskip("av", reason="cuframes publish reads and encodes video through PyAV (pip install av)")

W, H = 320, 240
HAS_PACKET_RING = hasattr(cuframes.Publisher, "publish_packet")
needs_packet_ring = pytest.mark.skipif(
    not HAS_PACKET_RING, reason="this cuframes build has no packet ring yet (Publisher.publish_packet)"
)


def publish_command() -> list[str]:
    """`python -m cuframes publish` once cli.py registers the command; until then the
    command object itself, run the same way."""
    from cuframes.cli import main

    if "publish" in main.commands:
        return [sys.executable, "-m", "cuframes", "publish"]
    return [sys.executable, "-c", "from cuframes.cli.publish import publish; publish(prog_name='cuframes publish')"]


def run_publish(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """Runs the command to its end (killed, and the test failed, after ``timeout``)."""
    return subprocess.run(
        [*publish_command(), *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def start_publish(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*publish_command(), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


@pytest.fixture
def survivors():
    """Processes started by a test; any still running at its end is killed."""
    procs: list[subprocess.Popen] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=10)


def wait_for_socket(folder: Path, key: str, proc: subprocess.Popen, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not (folder / f"{key}.sock").exists():
        assert proc.poll() is None, f"publish exited early ({proc.returncode}): {proc.communicate()[1]}"
        assert time.monotonic() < deadline, f"no {key}.sock in {folder} after {timeout} s"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def h264_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if subprocess.run(["sh", "-c", "command -v ffmpeg"], capture_output=True).returncode != 0:
        pytest.skip("ffmpeg is not installed")
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    done = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={W}x{H}:rate=25",
            "-frames:v",
            "50",
            "-c:v",
            "libx264",
            "-g",
            "25",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return path


# --------------------------------------------------------------------------------------
# Runs that end by themselves
# --------------------------------------------------------------------------------------


@needs_packet_ring
def test_testsrc_with_a_frame_limit_exits_0_with_one_summary_line(cf_dir, key):
    done = run_publish(
        "testsrc",
        "--key",
        key,
        "--dir",
        str(cf_dir),
        "--frames",
        "30",
        "--backend",
        "host",
        "--width",
        str(W),
        "--height",
        str(H),
        "--fps",
        "60",
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, f"stderr is not a terminal: only the summary line is expected, got {lines}"
    assert lines[0].startswith(f"cuframes publish {key}: 30 frames in ")
    assert "30 packets" in lines[0] and lines[0].endswith("; frames")
    assert done.stdout == ""
    assert not (cf_dir / f"{key}.sock").exists(), "the publisher must close (its socket goes)"


@needs_packet_ring
def test_file_publishes_every_frame_and_packet(cf_dir, key, h264_clip):
    done = run_publish(str(h264_clip), "--key", key, "--dir", str(cf_dir), "--backend", "host", "--no-pace")
    assert done.returncode == 0, done.stderr
    assert ": 50 frames in " in done.stderr and "50 packets" in done.stderr and "2 keyframe(s)" in done.stderr
    assert done.stderr.rstrip().endswith("; end of source")


@needs_packet_ring
def test_duration_limits_a_looped_file(cf_dir, key, h264_clip):
    started = time.monotonic()
    done = run_publish(
        str(h264_clip), "--key", key, "--dir", str(cf_dir), "--backend", "host", "--loop", "--duration", "2.5"
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.rstrip().endswith("; duration")
    frames = int(done.stderr.split(": ", 1)[1].split()[0])
    assert 55 <= frames <= 66, f"2.5 s at 25 fps over a 2 s loop published {frames} frames"
    assert time.monotonic() - started < 20


@needs_packet_ring
def test_frames_only_without_a_packet_ring(cf_dir, key):
    done = run_publish(
        "testsrc:128x96@50",
        "--key",
        key,
        "--dir",
        str(cf_dir),
        "--backend",
        "host",
        "--frames",
        "5",
        "--packet-ring-bytes",
        "0",
    )
    assert done.returncode == 0, done.stderr
    assert "5 frames" in done.stderr and "0 packets" in done.stderr and "5 packets dropped" in done.stderr


# --------------------------------------------------------------------------------------
# What subscribers get
# --------------------------------------------------------------------------------------


@needs_packet_ring
@pytest.mark.timeout(60)
def test_subscribers_get_the_pattern_whole_and_packets_with_its_pts(cf_dir, key, backend, survivors):
    proc = start_publish(
        "testsrc",
        "--key",
        key,
        "--dir",
        str(cf_dir),
        "--backend",
        backend,
        "--width",
        str(W),
        "--height",
        str(H),
        "--fps",
        "50",
        "--gop",
        "10",
        "--duration",
        "20",
    )
    survivors.append(proc)
    pattern = TestPattern("nv12", W, H)
    with (
        cuframes.Subscriber(key, dir=str(cf_dir), connect_timeout=15, delivery="sequential") as sub,
        cuframes.PacketSubscriber(key, dir=str(cf_dir), connect_timeout=15) as packets,
    ):
        assert (sub.width, sub.height, sub.format) == (W, H, "nv12")
        frames = []
        for _ in range(20):
            with sub.next(timeout=10) as frame:
                index = round(frame.pts * 50 / 90_000)  # testsrc: pts = index * 90000 / fps
                assert pattern.check(index, frame.to_numpy().reshape(-1)) == [], f"frame {index} is not whole"
                frames.append(frame.pts)
        got = [packets.next(timeout=10) for _ in range(20)]
    assert frames == sorted(frames)
    assert got[0].keyframe, "a packet subscriber joins at a keyframe"
    pts_step = 90_000 // 50
    assert all(b.pts - a.pts == pts_step for a, b in zip(got, got[1:])), [p.pts for p in got]
    assert all(p.keyframe == (p.pts // pts_step % 10 == 0) for p in got)
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=15)
    assert proc.returncode == 130, stderr


@needs_packet_ring
@pytest.mark.timeout(60)
def test_rtsp_camera_that_restarts_is_followed_and_reported(cf_dir, key, survivors, rtsp_server):
    server = rtsp_server
    proc = start_publish(
        server.url,
        "--key",
        key,
        "--dir",
        str(cf_dir),
        "--backend",
        "host",
        "--duration",
        "6",
        "--timeout",
        "3",
        "--reconnect-initial",
        "0.2",
        "--reconnect-max",
        "1",
    )
    survivors.append(proc)
    wait_for_socket(cf_dir, key, proc)
    with cuframes.Subscriber(key, dir=str(cf_dir), connect_timeout=10) as sub:
        sub.next(timeout=10).release()
        server.kill()
        time.sleep(0.5)
        server.start()
        restarted_ns = time.monotonic_ns()  # CLOCK_MONOTONIC, as frame.timestamp_ns
        # The publisher stayed up through the gap: this subscriber gets new frames again.
        deadline = time.monotonic() + 10
        while True:
            with sub.next(timeout=10) as frame:
                if frame.timestamp_ns > restarted_ns:
                    assert (frame.width, frame.height) == (W, H)
                    break
            assert time.monotonic() < deadline, "no frame published after the camera came back"
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    lines = stderr.splitlines()
    assert any(line.startswith("warning: ") and ": lost (" in line for line in lines), lines
    assert any(line.startswith("warning: ") and "back after a" in line for line in lines), lines
    assert "1 reconnects" in lines[-1] and lines[-1].endswith("; duration"), lines


# --------------------------------------------------------------------------------------
# Stopping
# --------------------------------------------------------------------------------------


@needs_packet_ring
@pytest.mark.timeout(60)
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 0)])
def test_ctrl_c_and_sigterm_stop_cleanly(cf_dir, key, survivors, signum, code):
    proc = start_publish("testsrc:128x96@30", "--key", key, "--dir", str(cf_dir), "--backend", "host")
    survivors.append(proc)
    wait_for_socket(cf_dir, key, proc)
    time.sleep(0.5)
    os.killpg(proc.pid, signum)
    _, stderr = proc.communicate(timeout=15)
    assert proc.returncode == code, stderr
    assert f"cuframes publish {key}: " in stderr and stderr.rstrip().endswith("; interrupted")
    assert "Traceback" not in stderr
    assert not (cf_dir / f"{key}.sock").exists(), "the publisher must close (its socket goes)"


@needs_packet_ring
@pytest.mark.timeout(60)
def test_sigterm_on_a_stalled_camera_stops_within_docker_stops_grace(cf_dir, key, survivors, rtsp_server):
    """docker stop waits 10 s before SIGKILL: the publisher must not wait out a read timeout."""
    server = rtsp_server
    proc = start_publish(server.url, "--key", key, "--dir", str(cf_dir), "--backend", "host", "--timeout", "10")
    survivors.append(proc)
    wait_for_socket(cf_dir, key, proc)
    time.sleep(0.5)
    server.signal(signal.SIGSTOP)  # the camera hangs, its connection stays open
    time.sleep(0.5)
    stopping = time.monotonic()
    os.killpg(proc.pid, signal.SIGTERM)
    _, stderr = proc.communicate(timeout=15)
    took = time.monotonic() - stopping
    assert proc.returncode == 0, stderr
    assert took < 3, f"SIGTERM took {took:.1f} s on a stalled camera"
    assert stderr.rstrip().endswith("; interrupted") and "Traceback" not in stderr
    assert not (cf_dir / f"{key}.sock").exists(), "the publisher must close (its socket goes)"


@needs_packet_ring
@pytest.mark.timeout(60)
def test_duration_ends_the_run_while_the_camera_is_away(cf_dir, key, survivors, rtsp_server):
    server = rtsp_server
    started = time.monotonic()
    proc = start_publish(
        server.url,
        "--key",
        key,
        "--dir",
        str(cf_dir),
        "--backend",
        "host",
        "--duration",
        "3",
        "--timeout",
        "2",
        "--reconnect-initial",
        "0.2",
        "--reconnect-max",
        "1",
    )
    survivors.append(proc)
    wait_for_socket(cf_dir, key, proc)
    server.kill()  # and it never comes back
    _, stderr = proc.communicate(timeout=20)
    took = time.monotonic() - started
    assert proc.returncode == 0, stderr
    assert stderr.rstrip().endswith("; duration"), stderr
    assert took < 7, f"--duration 3 ran {took:.1f} s with the camera away"


@needs_packet_ring
def test_a_keyframe_too_large_for_the_packet_ring_is_dropped_not_fatal(cf_dir, key):
    done = run_publish(
        "testsrc:1280x720@50",
        "--key",
        key,
        "--dir",
        str(cf_dir),
        "--backend",
        "host",
        "--frames",
        "10",
        "--gop",
        "5",
        "--no-pace",
        "--packet-ring-bytes",
        str(64 << 10),
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    warnings = [line for line in lines if "does not fit the packet ring" in line]
    assert len(warnings) == 1 and "--packet-ring-bytes" in warnings[0], lines
    assert lines[-1].startswith(f"cuframes publish {key}: 10 frames in "), lines
    assert "packets dropped (too large for the packet ring)" in lines[-1], lines


def test_the_default_packet_ring_holds_a_few_keyframes_of_the_source():
    assert default_packet_ring_bytes(320, 240) == 8 << 20
    assert default_packet_ring_bytes(3840, 2160) // 2 >= 3840 * 2160 * 3 // 2, "a 4K keyframe the size of a picture"
    assert default_packet_ring_bytes(16384, 16384) == 256 << 20


# --------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------


def test_missing_file_is_a_clear_error(cf_dir, key, tmp_path):
    done = run_publish(str(tmp_path / "nope.mp4"), "--key", key, "--dir", str(cf_dir))
    assert done.returncode == 1
    assert "error: no video file at" in done.stderr and "nope.mp4" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_file_that_is_not_a_video_says_what_ffmpeg_said(cf_dir, key, tmp_path):
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video\n" * 100)
    done = run_publish(str(notes), "--key", key, "--dir", str(cf_dir))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"error: {str(notes)!r} is not a video file PyAV can read: Invalid data found when processing input"
    ], done.stderr


def test_testsrc_of_an_odd_size_is_refused(cf_dir, key):
    done = run_publish("testsrc:641x480", "--key", key, "--dir", str(cf_dir), "--backend", "host")
    assert done.returncode == 1
    assert "needs an even width and height, got 641x480" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.timeout(30)
def test_unreachable_rtsp_is_a_clear_error(cf_dir, key):
    url = f"rtsp://127.0.0.1:{free_port()}/cam"
    started = time.monotonic()
    done = run_publish(url, "--key", key, "--dir", str(cf_dir), "--timeout", "2")
    assert done.returncode == 1
    assert f"error: cannot open {url}" in done.stderr and "Traceback" not in done.stderr
    assert time.monotonic() - started < 20


@pytest.mark.parametrize(
    "args, complaint",
    [
        (["http://cam/stream"], "unsupported source scheme 'http'"),
        (["testsrc:huge"], "testsrc:WIDTHxHEIGHT"),
        (["testsrc:0x0"], "'testsrc:0x0' asks for a 0x0 picture"),  # not the defaults, silently
        (["testsrc:0x720"], "asks for a 0x720 picture"),
        (["testsrc:@0"], "asks for 0 frames per second"),
        (["testsrc:640x480", "--width", "320"], "sets the width already"),
        (["clip.mp4", "--decoder", "nvdec", "--backend", "host"], "--backend cuda"),
    ],
)
def test_bad_arguments_are_usage_errors(cf_dir, key, args, complaint):
    done = run_publish(*args, "--key", key, "--dir", str(cf_dir))
    assert done.returncode == 2, done.stderr
    assert complaint in done.stderr and "Traceback" not in done.stderr


def test_nvdec_without_its_package_names_the_extra(cf_dir, key, h264_clip):
    if importlib.util.find_spec("PyNvVideoCodec") is not None:
        pytest.skip("PyNvVideoCodec is installed")
    done = run_publish(str(h264_clip), "--decoder", "nvdec", "--key", key, "--dir", str(cf_dir))
    assert done.returncode == 1
    assert "pip install cuframes[nvdec]" in done.stderr


def test_help_lists_the_source_forms():
    result = invoke_cli(publish, ["--help"])
    assert result.exit_code == 0
    for form in (
        "testsrc[:WIDTHxHEIGHT][@FPS]",
        "rtsp://",
        "--packet-ring-bytes",
        "--loop",
        "--duration",
        "--frames",
        "--decoder [cpu|nvdec]",
    ):
        assert form in result.output


def test_key_is_required():
    result = invoke_cli(publish, ["testsrc"])
    assert result.exit_code == 2 and "--key" in result.output
