"""A producer that is up but publishes nothing (its camera is away) is `stalled`, not
`running`: in `cuframes stat`'s text, --json and --prometheus, with its fps at 0."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

import cuframes
from cuframes.status import MIN_STALL_S

pytest.importorskip("prometheus_client")
needs_observer = pytest.mark.skipif(not hasattr(cuframes, "stat"), reason="observer handshake not built yet")

# Publishes at 100 fps until told to pause on stdin, then holds the key without a frame.
PAUSING_PRODUCER = """
import sys, threading, time, numpy as np, cuframes
paused = threading.Event()
threading.Thread(target=lambda: (sys.stdin.readline(), paused.set()), daemon=True).start()
with cuframes.Publisher(sys.argv[1], 64, 48, "nv12", backend=sys.argv[2]) as pub:
    frame = np.zeros(pub.packed_size, dtype=np.uint8)
    seq = 0
    while not paused.is_set():
        seq += 1
        pub.send(frame, pts=seq)
        if seq == 3:
            print("up", flush=True)
        time.sleep(0.01)
    print("paused", flush=True)
    time.sleep(60)
"""


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cuframes", *args], capture_output=True, text=True, timeout=60)


@needs_observer
def test_a_producer_without_new_frames_is_stalled(children, key, backend):
    producer = children.spawn(PAUSING_PRODUCER, key, backend, stdin=True)
    children.read_line(producer, "up")
    deadline = time.monotonic() + 10
    while (live := cuframes.stat(key)).fps is None:  # two frames in the pool give a rate
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert live.state == "running" and live.fps > 0

    producer.send("pause")
    children.read_line(producer, "paused")
    deadline = time.monotonic() + 20
    while (status := cuframes.stat(key)).state != "stalled":
        assert status.state == "running", status
        assert time.monotonic() < deadline, "still running 20 s after the last frame"
        time.sleep(0.1)
    assert status.fps == 0.0 and status.age_s > MIN_STALL_S

    as_json = cli("stat", key, "--json")
    assert json.loads(as_json.stdout)["state"] == "stalled" and json.loads(as_json.stdout)["fps"] == 0.0
    text = cli("stat", key)
    assert "stalled" in text.stdout and "0.00 fps" in text.stdout, text.stdout
    prometheus = cli("stat", key, "--prometheus").stdout
    assert f'cuframes_live{{key="{key}"}} 0.0' in prometheus and f'cuframes_up{{key="{key}"}} 1.0' in prometheus


@needs_observer
def test_a_slow_streams_first_frame_is_judged_by_its_nominal_rate(key):
    # One frame, so no measured rate: a 0.5 fps stream is not stalled 1.5 s later (5 of its
    # intervals are 10 s), a stream that states no rate is (the 1 s minimum applies).
    with (
        cuframes.Publisher(key, 64, 48, "nv12", backend="host", frame_rate="1/2") as slow,
        cuframes.Publisher(key + "-x", 64, 48, "nv12", backend="host") as unknown,
    ):
        for pub in (slow, unknown):
            pub.send(bytes(pub.packed_size), pts=1)
        time.sleep(MIN_STALL_S + 0.5)
        assert cuframes.stat(key).state == "running"
        assert cuframes.stat(key + "-x").state == "stalled"
