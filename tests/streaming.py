"""Helpers of the serve and relay tests: the clip they publish, its frames as ffmpeg
decodes them, `cuframes serve` as a child, and RTSP clients (ffprobe, ffmpeg)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
W, H, FPS, GOP = 320, 240, 25, 25
CLIP_FRAMES = 100


def needs_ffmpeg() -> None:
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt-get install ffmpeg)")


def server_program() -> str:
    """cuframes-rtsp-serve as `cuframes serve` finds it (else the build folder); skips without it,
    and with CUFRAMES_TEST_GST=0 (it is built and tested with the GStreamer plugin)."""
    from cuframes.cli.serve import find_server_program

    if os.environ.get("CUFRAMES_TEST_GST") == "0":
        pytest.skip("CUFRAMES_TEST_GST=0")
    if os.environ.get("CUFRAMES_SANITIZER"):
        # scripts/sanitize.sh: the server and the plugin are not instrumented, and the publishers
        # these tests start are tested under the sanitizer by test_publish_cli.py.
        pytest.skip("the RTSP server is not built with the sanitizer")

    found = find_server_program()
    if found is None:
        candidate = REPO / "build" / "gst" / "gst" / "cuframes-rtsp-serve"
        found = str(candidate) if os.access(candidate, os.X_OK) else None
    if found is None:
        pytest.skip("cuframes-rtsp-serve is not built (bash scripts/build-gst.sh with libgstrtspserver-1.0-dev)")
    return found


def make_clip(folder: Path) -> Path:
    """A 4 s H.264 clip whose frames all differ (testsrc2 draws a frame counter), no B-frames."""
    needs_ffmpeg()
    path = folder / "clip.mp4"
    lavfi = f"testsrc2=size={W}x{H}:rate={FPS}"
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", lavfi, "-frames:v", str(CLIP_FRAMES), "-c:v", "libx264"]
        + ["-g", str(GOP), "-bf", "0", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return path


def frame_digests(path: Path | str, *extra: str) -> list[str]:
    """The MD5 of each frame ffmpeg decodes from ``path``, as packed NV12."""
    done = subprocess.run(
        ["ffmpeg", "-v", "error", *extra, "-i", str(path), "-pix_fmt", "nv12", "-f", "framemd5", "-"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return [line.rsplit(",", 1)[1].strip() for line in done.stdout.splitlines() if line and not line.startswith("#")]


def digest(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def assert_consecutive_frames_of(got: list[str], reference: list[str]) -> None:
    """Every frame is one of the clip's, bit for bit, each the one after the previous (the clip loops)."""
    index = {value: position for position, value in enumerate(reference)}
    missing = [n for n, value in enumerate(got) if value not in index]
    assert not missing, f"frames {missing} match no frame of ffmpeg's decode of the clip"
    places = [index[value] for value in got]
    jumps = [(a, b) for a, b in zip(places, places[1:]) if b != (a + 1) % len(reference)]
    assert not jumps, f"frames skipped or repeated: {jumps} (clip frame numbers)"


def cli(*args: str) -> tuple[str, ...]:
    """What children.spawn runs for `cuframes ARGS` (the installed package's command line)."""
    return ("import sys; from cuframes.cli import main; main(sys.argv[1:], prog_name='cuframes')", *args)


def start_serve(children, *args: str, env: dict[str, str] | None = None):
    """`cuframes serve --port 0 --bind 127.0.0.1 ARGS` as a child; returns (child, base URL)."""
    program = server_program()
    child = children.spawn(
        *cli("serve", "--port", "0", "--bind", "127.0.0.1", *args), env={"CUFRAMES_RTSP_SERVE": program, **(env or {})}
    )
    ready = children.read_line(child, "ready ", timeout=30)
    assert ready is not None
    return child, ready.split()[1].rstrip("/")


def probe_packets(url: str, count: int, *, timeout: float = 30) -> subprocess.Popen:
    """ffprobe reading the first ``count`` packets of an RTSP URL over TCP, with their flags."""
    return subprocess.Popen(
        ["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-select_streams", "v", "-show_entries"]
        + ["packet=flags", "-of", "csv=p=0", "-read_intervals", f"%+#{count}", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finish(proc: subprocess.Popen, timeout: float = 30) -> tuple[int, str, str]:
    """Waits for a client (killed, and the test failed, after ``timeout``)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, err = proc.communicate(timeout=10)
        pytest.fail(f"{proc.args[0]} did not finish within {timeout} s: {err}")
    return proc.returncode, out, err
