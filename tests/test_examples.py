"""The Python examples run as documented: the numpy subscriber receives the
publisher's sliding ramp, pixel-exact."""

from __future__ import annotations

import ast
import re
import signal
import sys
from pathlib import Path

from packet_producer import PACKET_PRODUCER

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "python"


def run_example(children, name: str, *args: str):
    code = (
        f"import runpy, sys; sys.argv = [{name!r}] + sys.argv[1:]; runpy.run_path({str(EXAMPLES / name)!r}, "
        "run_name='__main__')"
    )
    return children.spawn(code, *args)


def test_publish_pattern_and_subscribe_numpy(children, key, backend) -> None:
    subscriber = run_example(children, "subscribe_numpy.py", "--key", key, "--frames", "10")
    publisher = run_example(
        children,
        "publish_pattern.py",
        "--key",
        key,
        "--width",
        "320",
        "--height",
        "240",
        "--fps",
        "100",
        "--frames",
        "150",
        "--backend",
        backend,
    )
    sub = children.wait(subscriber, timeout=60)
    pub = children.wait(publisher, timeout=60)
    assert pub.returncode == 0, pub.stderr
    assert "published 150 frames" in pub.stdout
    assert sub.returncode == 0, sub.stderr
    assert f"320x240 nv12 on {backend}" in sub.stdout
    frames = re.findall(r"seq=(\d+) pts=(\d+) missed=(\d+) y00=(\d+)", sub.stdout)
    assert len(frames) == 10, sub.stdout
    for seq, pts, _missed, y00 in frames:
        assert int(seq) == int(pts) + 1
        assert int(y00) == (4 * int(pts)) % 256  # the pixel the publisher drew for that frame


def test_stream_facts_example_reads_back_what_the_producer_stated(children, key, backend) -> None:
    done = children.wait(run_example(children, "stream_facts.py", "--key", key, "--backend", backend))
    assert done.returncode == 0, done.stderr
    assert (
        "time base 1/90000, rate 30000/1001, colour ColorInfo(matrix='bt709', range='tv', "
        "primaries='bt709', transfer='bt709'), aspect 1"
    ) in done.stdout
    times = re.findall(r"pts=(\d+) time=([\d.]+) s", done.stdout)
    assert [(int(pts), float(time)) for pts, time in times] == [
        (n * 3003, round(n * 3003 / 90_000, 4)) for n in range(5)
    ]


def test_examples_are_valid_python_for_the_oldest_supported_version() -> None:
    pyproject = (EXAMPLES.parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    oldest = tuple(map(int, re.search(r'^requires-python = ">=(\d+)\.(\d+)"', pyproject, re.M).groups()))
    for path in EXAMPLES.glob("*.py"):
        ast.parse(path.read_text(), str(path), feature_version=oldest)


def test_isolated_subscriber_example_shares_only_the_socket_folder(children, key, backend, cf_dir) -> None:
    import os
    import shutil

    import pytest

    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("the isolation example needs root and unshare")
    script = EXAMPLES.parent / "isolation" / "isolated_subscriber.sh"
    env = {"PYTHON": sys.executable, "CUFRAMES_DIR": str(cf_dir)}
    subscriber = children.spawn(
        f"import os, sys; os.execvpe('bash', ['bash', {str(script)!r}, sys.argv[1], '10'], "
        f"{{**os.environ, **{env!r}}})",
        key,
    )
    publisher = run_example(
        children,
        "publish_pattern.py",
        "--key",
        key,
        "--width",
        "320",
        "--height",
        "240",
        "--fps",
        "100",
        "--frames",
        "300",
        "--backend",
        backend,
    )
    sub = children.wait(subscriber, timeout=60)
    children.wait(publisher, timeout=60)
    assert sub.returncode == 0, sub.stderr
    frames = re.findall(r"seq=(\d+) pts=(\d+) missed=(\d+) y00=(\d+)", sub.stdout)
    assert len(frames) == 10, sub.stdout + sub.stderr
    for _seq, pts, _missed, y00 in frames:
        assert int(y00) == (4 * int(pts)) % 256  # bit-exact through the namespace boundary


def test_follow_restarts_example_carries_on_with_a_restarted_producer(children, key, backend) -> None:
    follower = run_example(children, "follow_restarts.py", "--key", key, "--restarts", "1", "--frames-after", "3")
    for _ in range(2):  # the second producer replaces the first under the same key
        publisher = run_example(
            children,
            "publish_pattern.py",
            "--key",
            key,
            "--width",
            "320",
            "--height",
            "240",
            "--fps",
            "100",
            "--frames",
            "60",
            "--backend",
            backend,
        )
        if _ == 0:
            children.read_line(follower, "connected", timeout=60)
        assert children.wait(publisher, timeout=60).returncode == 0
    result = children.wait(follower, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    restarts = re.findall(r"producer restarted: epoch 0x[0-9a-f]+, (\d+) frames lost", result.stdout)
    assert len(restarts) == 1, result.stdout
    assert len(re.findall(r"seq=\d+ pts=\d+", result.stdout)) == 3, result.stdout


def test_low_latency_example_reports_its_figures(children, key, backend) -> None:
    run = run_example(children, "low_latency.py", "--key", key, "--frames", "50", "--backend", backend)
    done = children.wait(run, timeout=60)
    assert done.returncode == 0, done.stderr
    # "latest" delivery: under load the consumer skips to the newest frame, and says so.
    counts = re.search(
        rf"(\d+) of 50 frames received on {backend} \((\d+) skipped by latest delivery\), "
        rf"stream_ordered={backend == 'cuda'}, spin=5 ms",
        done.stdout,
    )
    assert counts, done.stdout
    received, skipped = int(counts.group(1)), int(counts.group(2))
    assert 1 <= received <= 50 and received + skipped == 50, done.stdout
    latency = float(re.search(r"holds the frame: p50 ([0-9.]+) us", done.stdout).group(1))
    overhead = float(re.search(r"over the sync .*: p50 ([0-9.]+) us", done.stdout).group(1))
    assert 0 < latency < 100_000 and 0 < overhead < 100_000


def test_low_latency_example_fails_when_its_consumer_fails(children, key, backend) -> None:
    # The consumer runs on a thread: an error there, after a few frames, must still fail the example.
    run = children.spawn(
        f"""
        import itertools, runpy, sys, cuframes
        calls, next_frame = itertools.count(), cuframes.Subscriber.next
        def failing_next(self, timeout=None):
            if next(calls) < 3:
                return next_frame(self, timeout)
            raise TimeoutError("no frame (injected by the test)")
        cuframes.Subscriber.next = failing_next
        sys.argv = ["low_latency.py"] + sys.argv[1:]
        runpy.run_path({str(EXAMPLES / "low_latency.py")!r}, run_name="__main__")
    """,
        "--key",
        key,
        "--frames",
        "20",
        "--backend",
        backend,
    )
    done = children.wait(run, timeout=60)
    assert done.returncode != 0, done.stdout
    assert done.stderr.rstrip().splitlines()[-1] == "TimeoutError: no frame (injected by the test)", done.stderr


def test_record_packets_writes_a_stream_that_decodes(children, key, backend, tmp_path) -> None:
    av = __import__("pytest").importorskip("av")
    producer = children.spawn(PACKET_PRODUCER, key, backend, "--codec", "hevc", "--interval", "0.002")
    children.read_line(producer, "up")
    out = tmp_path / "cam.hevc"
    recorder = children.wait(run_example(children, "record_packets.py", "--key", key, "--out", str(out)))
    assert recorder.returncode == 0, recorder.stderr
    assert f"recorded 30 hevc packets (3 keyframes, 0 lost) to {out}" in recorder.stdout
    with av.open(str(out), format="hevc") as recording:
        assert sum(1 for _ in recording.decode(video=0)) == 30


def test_decode_with_pyav_prints_every_frame_with_its_pts(children, key, backend) -> None:
    __import__("pytest").importorskip("av")
    producer = children.spawn(PACKET_PRODUCER, key, backend, "--interval", "0.002")
    children.read_line(producer, "up")
    decoder = children.wait(run_example(children, "decode_with_pyav.py", "--key", key))
    assert decoder.returncode == 0, decoder.stderr
    assert re.findall(r"frame pts=(\d+) 160x96 h264", decoder.stdout) == [str(i) for i in range(30)]
    assert "decoded 30 frames" in decoder.stdout


def test_subscribe_torch_takes_frames_through_dlpack(children, key, backend) -> None:
    # Runs wherever torch is installed (the GPU machine: on the cuda backend, tensors on the GPU).
    __import__("pytest").importorskip("torch")
    subscriber = run_example(children, "subscribe_torch.py", "--key", key, "--frames", "5")
    # Until Ctrl-C: importing torch takes seconds, and the subscriber must find the publisher up.
    publisher = run_example(
        children,
        "publish_pattern.py",
        "--key",
        key,
        "--width",
        "320",
        "--height",
        "240",
        "--fps",
        "100",
        "--backend",
        backend,
    )
    sub = children.wait(subscriber, timeout=120)
    publisher.proc.send_signal(signal.SIGINT)
    children.wait(publisher, timeout=30)
    assert sub.returncode == 0, sub.stderr
    device = "cuda:0" if backend == "cuda" else "cpu"
    lines = re.findall(rf"seq=\d+ missed=\d+ device={device} mean_luma=", sub.stdout)
    assert len(lines) == 5, sub.stdout


def test_convert_frames_example_gets_the_colour_the_producer_stated(children, key, backend) -> None:
    __import__("pytest").importorskip("av")
    has_torch = __import__("importlib").util.find_spec("torch") is not None
    done = children.wait(
        run_example(
            children, "convert_frames.py", "--key", key, "--backend", backend, *(["--tensor"] if has_torch else [])
        ),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    pixels = {
        name: [int(v) for v in re.findall(r"\d+", values)]
        for name, values in re.findall(r"(to_\w+ \w+):.*pixel \[?([\d, ]+)\]?", done.stdout)
    }
    expected = {"to_ndarray rgb24": [0, 255, 0], "to_ndarray bgr24": [0, 255, 0], "to_ndarray gray": [183]}
    if has_torch:
        expected["to_tensor rgb24"] = [0, 255, 0]
    assert pixels.keys() == expected.keys(), done.stdout
    for name, values in expected.items():
        assert max(abs(a - b) for a, b in zip(pixels[name], values)) <= 2, (name, done.stdout)
    if has_torch:
        assert ("cuda:" if backend == "cuda" else "to_tensor rgb24: cpu") in done.stdout


def test_asyncio_cameras_reads_every_camera_on_one_loop(children, make_key, backend) -> None:
    keys = ",".join(make_key("aio") for _ in range(8))
    done = children.wait(
        run_example(children, "asyncio_cameras.py", "--keys", keys, "--frames", "10", "--backend", backend)
    )
    assert done.returncode == 0, done.stderr
    for key in keys.split(","):
        assert re.search(rf"^{key}: 10 frames, 0 missed$", done.stdout, re.M), done.stdout
    assert "8 cameras, 80 frames" in done.stdout
