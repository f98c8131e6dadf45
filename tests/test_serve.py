"""`cuframes serve`: each key's packet ring over RTSP (gst/cuframes-rtsp-serve.c), on loopback.

A file published, served, re-published from rtsp://127.0.0.1:PORT/KEY under a second key
and read there bit-exact against ffmpeg's decode of the file; 8 clients at once, each from
a keyframe; a producer restart; a client that stops reading; authentication. Needs the
server program (scripts/build-gst.sh) and ffmpeg; skips, saying why, without them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import numpy as np
import pytest
from cli_invoke import invoke_cli
from streaming import (
    FPS,
    H,
    W,
    assert_consecutive_frames_of,
    cli,
    digest,
    finish,
    frame_digests,
    make_clip,
    probe_packets,
    start_serve,
)

import cuframes
from cuframes.cli.serve import serve

pytest.importorskip("av", reason="cuframes publish reads video through PyAV (pip install av)")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory):
    return make_clip(tmp_path_factory.mktemp("clip"))


def publish_file(children, clip, key: str):
    """The clip published under ``key`` at its own rate, looped, with its packets. Each RTSP
    client reads through a packet subscriber of its own: room for 8 and a probe."""
    room = ("--max-subscribers", "12", "--slots", "32")
    return publish(children, key, str(clip), "--loop", *room)


def publish(children, key: str, source: str, *options: str):
    """`cuframes publish SOURCE --key KEY` as a child, once its socket is there."""
    child = children.spawn(*cli("publish", source, "--key", key, "--backend", "host", *options))
    socket = f"{os.environ['CUFRAMES_DIR']}/{key}.sock"
    deadline = time.monotonic() + 20
    while not os.path.exists(socket):
        if child.poll() is not None:
            child.join_readers()
            pytest.fail(f"publish exited ({child.returncode}): {''.join(child.stderr)}")
        assert time.monotonic() < deadline, f"publish made no {socket} within 20 s"
        time.sleep(0.05)
    return child


def publish_testsrc(children, key: str, *options: str):
    return publish(children, key, f"testsrc:{W}x{H}@{FPS}", "--gop", "25", *options)


def serving(children, child, *keys: str) -> None:
    """Waits for the server's "serving KEY" line of each key, in any order."""
    waiting = set(keys)
    while waiting:
        line = children.read_line(child, "serving ", timeout=20)
        assert line is not None
        waiting.discard(line.split()[1])


@pytest.mark.timeout(120)
def test_a_served_file_republished_on_another_host_is_bit_exact(children, cf_dir, make_key, clip):
    source, copy = make_key("a"), make_key("b")
    publish_file(children, clip, source)
    server, base = start_serve(children, source)
    serving(children, server, source)
    # "Another host": cuframes publish decodes the served stream once, under a second key.
    # Slots for more than the GOP that the served stream starts with, sent at once: the
    # reader below then loses none of them on a busy machine.
    children.spawn(
        *cli("publish", f"{base}/{source}", "--key", copy, "--backend", "host", "--timeout", "10", "--slots", "64")
    )
    reference = frame_digests(clip)
    got = []
    with cuframes.Subscriber(copy, connect_timeout=30, delivery="sequential") as sub:
        assert (sub.width, sub.height) == (W, H)
        for _ in range(60):
            with sub.next(timeout=15) as frame:
                assert frame.format == "nv12"
                got.append(digest(np.ascontiguousarray(frame.to_numpy()).tobytes()))
    assert_consecutive_frames_of(got, reference)


@pytest.mark.timeout(120)
def test_eight_clients_at_once_each_start_at_a_keyframe(children, cf_dir, key, clip):
    publish_file(children, clip, key)
    server, base = start_serve(children, "--all")
    serving(children, server, key)
    clients = [probe_packets(f"{base}/{key}", 40) for _ in range(8)]
    for client in clients:
        code, out, err = finish(client, timeout=60)
        flags = out.split()
        assert code == 0, err
        assert len(flags) >= 40, f"a client got {len(flags)} packets: {err}"
        assert flags[0].startswith("K"), f"a client's first packet is no keyframe: {flags[:3]}"


@pytest.mark.timeout(120)
def test_a_producer_restart_is_followed_by_the_clients_and_the_mounts(children, cf_dir, key):
    first = publish_testsrc(children, key)
    server, base = start_serve(children, "--all")
    serving(children, server, key)
    # 125 frames at 25 fps: the first producer lives for 2 s of them, the second the rest.
    client = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i", f"{base}/{key}", "-frames:v", "125"]
        + ["-f", "framemd5", "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    time.sleep(2)
    os.killpg(first.pid, signal.SIGTERM)
    first.wait(timeout=15)
    assert children.read_line(server, f"gone {key}", timeout=20) is not None
    publish_testsrc(children, key)
    serving(children, server, key)
    code, out, err = finish(client, timeout=60)
    frames = [line for line in out.splitlines() if line and not line.startswith("#")]
    assert code == 0 and len(frames) == 125, (code, len(frames), err)
    # A new client gets the new producer at once.
    code, out, err = finish(probe_packets(f"{base}/{key}", 5), timeout=30)
    assert code == 0 and out.split()[0].startswith("K"), err


@pytest.mark.timeout(120)
def test_a_stalled_client_slows_neither_the_producer_nor_the_others(children, cf_dir, key):
    seconds = 6
    producer = publish(children, key, f"testsrc:640x480@{FPS}", "--duration", str(seconds))
    server, base = start_serve(children, key)
    serving(children, server, key)
    stalled = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i", f"{base}/{key}", "-f", "null", "-"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        time.sleep(1)
        os.killpg(stalled.pid, signal.SIGSTOP)  # it stops reading; its socket fills up
        time.sleep(2)
        # Later clients get frames at the producer's rate all the same.
        started = time.monotonic()
        others = [probe_packets(f"{base}/{key}", 50) for _ in range(2)]
        for other in others:
            code, out, err = finish(other, timeout=30)
            assert code == 0 and len(out.split()) >= 50, err
        assert time.monotonic() - started < 2 + 50 / FPS * 2, "the other clients were slowed down"
        done = children.wait(producer, timeout=30)
    finally:
        os.killpg(stalled.pid, signal.SIGKILL)
        stalled.wait(timeout=10)
    assert done.returncode == 0, done.stderr
    frames = _published_frames(done.stderr)
    assert frames >= seconds * FPS * 0.9, f"the producer published {frames} frames in {seconds} s: it was held up"


def _published_frames(stderr: str) -> int:
    """The frame count of publish's summary line: 'cuframes publish KEY: N frames in ...'."""
    summary = [line for line in stderr.splitlines() if line.startswith("cuframes publish ")][-1]
    return int(summary.split(": ", 1)[1].split()[0])


@pytest.mark.timeout(90)
@pytest.mark.parametrize("method", ["basic", "digest"])
def test_authentication(children, cf_dir, key, clip, method):
    publish_file(children, clip, key)
    server, base = start_serve(
        children,
        key,
        "--user",
        "viewer",
        *(["--digest"] if method == "digest" else []),
        env={"CUFRAMES_SERVE_PASSWORD": "s3cret"},
    )
    serving(children, server, key)
    code, _, err = finish(probe_packets(f"{base}/{key}", 3))
    assert code != 0 and "401" in err, err
    code, _, err = finish(probe_packets(f"{base}/{key}".replace("rtsp://", "rtsp://viewer:wrong@"), 3))
    assert code != 0 and "401" in err, err
    code, out, err = finish(probe_packets(f"{base}/{key}".replace("rtsp://", "rtsp://viewer:s3cret@"), 3))
    assert code == 0 and out.split()[0].startswith("K"), err


def test_an_absent_key_is_not_found(children, cf_dir, key):
    server, base = start_serve(children, key)
    code, _, err = finish(probe_packets(f"{base}/{key}", 3))
    assert code != 0 and "404" in err, err


@pytest.mark.parametrize(
    "args, env, complaint",
    [
        ([], {}, "give the keys to serve, or --all"),
        (["cam1", "--all"], {}, "give the keys to serve, or --all"),
        (["cam1", "--digest"], {}, "--digest needs --user"),
        (["cam1", "--user", "viewer"], {"CUFRAMES_SERVE_PASSWORD": ""}, "CUFRAMES_SERVE_PASSWORD"),
    ],
)
def test_bad_arguments_are_usage_errors(args, env, complaint):
    result = invoke_cli(serve, args, env=env)
    assert result.exit_code == 2 and complaint in result.output, result.output


def test_a_missing_server_program_says_how_to_build_it(tmp_path):
    result = invoke_cli(serve, ["cam1"], env={"CUFRAMES_RTSP_SERVE": str(tmp_path / "nope")})
    assert result.exit_code == 1
    assert "cuframes-rtsp-serve is not built" in result.output and "build-gst.sh" in result.output


@pytest.mark.timeout(90)
def test_a_key_whose_producer_died_holds_up_no_other_client(children, cf_dir, make_key, clip):
    live, dead = make_key("live"), make_key("dead")
    publish_file(children, clip, live)
    # A producer killed with -9 leaves its socket file behind: nobody answers on it.
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    leftover.bind(str(cf_dir / f"{dead}.sock"))
    leftover.close()
    server, base = start_serve(children, "--all")
    serving(children, server, live, dead)
    waiting = probe_packets(f"{base}/{dead}", 3)
    time.sleep(0.3)  # its DESCRIBE is in, waiting for a producer
    started = time.monotonic()
    code, out, err = finish(probe_packets(f"{base}/{live}", 3))
    took = time.monotonic() - started
    assert code == 0 and out.split()[0].startswith("K"), err
    code, _, err = finish(waiting)
    assert code != 0, "a key without a producer was served"
    # The dead key's client waits out the server's probe (3 s and more); the live one must not.
    waited = time.monotonic() - started
    assert waited > took + 1, f"the live key's client took {took:.1f} s, as long as the dead key's: held up by it"
