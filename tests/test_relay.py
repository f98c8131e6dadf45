"""`cuframes relay KEY URL`: a key's packets pushed to a receiving server that the test
starts (ffmpeg listening for an RTSP publish, or for MPEG-TS over TCP), whose recording
holds the clip's frames bit for bit; a server that comes late is reached with backoff
and the gap is reported; bad URLs are clear errors."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from cli_invoke import invoke_cli
from rtsp_server import free_port
from streaming import assert_consecutive_frames_of, cli, finish, frame_digests, make_clip

from cuframes.cli.serve import relay

# The relay muxes as the recorder does, which refuses PyAV older than 18.
pytest.importorskip("av", minversion="18", reason="cuframes relay needs PyAV 18 or newer")

FRAMES = 50


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip"))


def receiver(kind: str, port: int, out: Path) -> tuple[subprocess.Popen, str]:
    """ffmpeg waiting for a stream on loopback, writing its first FRAMES frames to ``out``
    without re-encoding; returns it and the URL to push to."""
    if kind == "rtsp":
        url = f"rtsp://127.0.0.1:{port}/live"
        source = ["-rtsp_flags", "listen", "-i", url]
    else:
        url = f"tcp://127.0.0.1:{port}"
        source = ["-f", "mpegts", "-analyzeduration", "500000", "-i", f"{url}?listen=1"]
    proc = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-y", *source, "-c", "copy", "-frames:v", str(FRAMES), str(out)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    return proc, url


@pytest.fixture
def receivers():
    """Receiving servers started by a test; any still running at its end is killed."""
    procs: list[subprocess.Popen] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=10)


def publish_clip(children, clip: Path, key: str):
    child = children.spawn(*cli("publish", str(clip), "--key", key, "--backend", "host", "--loop"))
    socket = f"{os.environ['CUFRAMES_DIR']}/{key}.sock"
    deadline = time.monotonic() + 20
    while not os.path.exists(socket):
        assert child.poll() is None and time.monotonic() < deadline, f"publish made no {socket}"
        time.sleep(0.05)
    return child


@pytest.mark.timeout(90)
@pytest.mark.parametrize("kind", ["rtsp", "mpegts-tcp"])
def test_relayed_packets_reach_the_server_bit_exact(children, cf_dir, key, clip, tmp_path, receivers, kind):
    publish_clip(children, clip, key)
    out = tmp_path / "received.mkv"
    server, url = receiver(kind, free_port(), out)
    receivers.append(server)
    time.sleep(0.5)  # ffmpeg listens
    pusher = children.spawn(*cli("relay", key, url, "--duration", "30"))
    code, _, err = finish(server, timeout=45)
    assert code == 0, err
    assert_consecutive_frames_of(frame_digests(out)[:FRAMES], frame_digests(clip))
    os.killpg(pusher.pid, signal.SIGTERM)
    done = children.wait(pusher, timeout=20)
    assert done.returncode == 0, done.stderr
    assert f"cuframes relay {key} -> {url}: " in done.stderr and "Traceback" not in done.stderr


@pytest.mark.timeout(90)
def test_a_server_that_comes_late_is_reached_with_backoff_and_the_gap_reported(
    children, cf_dir, key, clip, tmp_path, receivers
):
    publish_clip(children, clip, key)
    port = free_port()
    pusher = children.spawn(
        *cli(
            "relay",
            key,
            f"rtsp://127.0.0.1:{port}/live",
            "--backoff-initial",
            "0.2",
            "--backoff-max",
            "1",
            "--timeout",
            "1",
        )
    )
    time.sleep(2.5)  # refused a few times meanwhile, longer than --timeout (which is for the producer's packets)
    out = tmp_path / "received.mkv"
    server, _ = receiver("rtsp", port, out)
    receivers.append(server)
    code, _, err = finish(server, timeout=45)
    assert code == 0, err
    assert_consecutive_frames_of(frame_digests(out)[:FRAMES], frame_digests(clip))
    os.killpg(pusher.pid, signal.SIGTERM)
    done = children.wait(pusher, timeout=20)
    lines = done.stderr.splitlines()
    refused = [line for line in lines if "Connection refused" in line and "trying again in" in line]
    assert len(refused) >= 2, lines
    delays = [float(line.rsplit("trying again in ", 1)[1].split()[0]) for line in refused]
    assert delays[:3] == [0.2, 0.4, 0.8][: len(delays[:3])] and max(delays) <= 1, delays
    assert any("back on rtsp://" in line and "s gap" in line for line in lines), lines
    # The first outage, then (once the relay notices) a second when the receiver leaves after its frames.
    assert re.search(r" 1 connection\(s\), [12] server outage\(s\)", lines[-1]), lines


@pytest.mark.parametrize(
    "target, complaint",
    [
        ("http://example.com/live", "give a server URL starting with one of rtsp://"),
        ("udp://127.0.0.1", "names no host and port"),
        ("rtsp:///live", "names no host"),
        ("tcp://127.0.0.1:99999", "its port is not a number"),
    ],
)
def test_bad_urls_are_clear_errors(target, complaint):
    result = invoke_cli(relay, ["cam1", target])
    assert result.exit_code == 1 and complaint in result.output, result.output
    assert "Traceback" not in result.output


def test_an_absent_producer_is_a_clear_error(cf_dir, key):
    result = invoke_cli(relay, [key, "udp://127.0.0.1:5000", "--timeout", "0.5"])
    assert result.exit_code == 1 and key in result.output, result.output


@pytest.mark.timeout(60)
def test_a_protocol_pyavs_ffmpeg_lacks_is_a_clear_error_at_once(children, cf_dir, key, clip):
    publish_clip(children, clip, key)
    done = children.wait(children.spawn(*cli("relay", key, f"srt://127.0.0.1:{free_port()}", "--duration", "5")))
    if done.returncode == 0:
        pytest.skip("this PyAV's FFmpeg has SRT")
    assert done.returncode == 1, done.stderr
    assert "error: PyAV's FFmpeg cannot speak srt://" in done.stderr and "libsrt" in done.stderr
    assert "trying again" not in done.stderr and "Traceback" not in done.stderr
