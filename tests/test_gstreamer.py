"""The GStreamer plugin (gst/): cuframessink publishes what a pipeline makes, cuframessrc
reads what a producer publishes, each checked against the other side bit for bit.

The plugin comes from $CUFRAMES_GST_PLUGIN_PATH or build/gst/gst (scripts/build-gst.sh,
which scripts/test.sh runs); without it, or without gst-launch-1.0, the tests skip and
say why. Every pipeline runs as a child process under a timeout and is killed if it
outlives the test."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import CHILD_TIMEOUT_S
from packet_producer import PACKET_PRODUCER

import cuframes

REPO = Path(__file__).resolve().parent.parent
PLUGIN_DIR = Path(os.environ.get("CUFRAMES_GST_PLUGIN_PATH") or REPO / "build" / "gst" / "gst")
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, with PyGObject (python3-gi, gir1.2-gstreamer-1.0)
WIDTH, HEIGHT = 160, 96
# GStreamer's names for the cuframes formats (gst/gstcuframescommon.c has the table).
GST_FORMATS = {
    "nv12": "NV12",
    "p010": "P010_10LE",
    "i420": "I420",
    "rgb24": "RGB",
    "bgr24": "BGR",
    "rgba": "RGBA",
    "bgra": "BGRA",
    "gray8": "GRAY8",
}
# Runs argv[1:] in place of the Python child, so that `children` kills it like any other.
EXEC = "import os, sys; os.execvp(sys.argv[1], sys.argv[1:])"


def _missing() -> str | None:
    if shutil.which("gst-launch-1.0") is None or shutil.which("gst-inspect-1.0") is None:
        return "gst-launch-1.0 is not installed (apt-get install gstreamer1.0-tools)"
    if not (PLUGIN_DIR / "libgstcuframes.so").is_file():
        return f"the plugin is not built: no {PLUGIN_DIR}/libgstcuframes.so (bash scripts/build-gst.sh)"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")


@pytest.fixture
def gst_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a GStreamer child: the plugin on its path, a registry of its own,
    and no sanitizer runtime (the plugin is not instrumented)."""
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS")}
    env["GST_PLUGIN_PATH"] = str(PLUGIN_DIR)
    env["GST_REGISTRY"] = str(tmp_path / "registry.bin")
    return env


def launch(children, env: dict[str, str], pipeline: str, *, verbose: bool = False):
    """Starts gst-launch-1.0 on a pipeline (a string in gst-launch syntax)."""
    args = ["gst-launch-1.0", "-e"] + (["-v"] if verbose else ["-q"]) + pipeline.split()
    return children.spawn(EXEC, *args, env=env)


def finish(children, child, timeout: float = CHILD_TIMEOUT_S) -> subprocess.CompletedProcess:
    done = children.wait(child, timeout=timeout)
    return done


def run_pipeline(children, env, pipeline: str, *, verbose: bool = False) -> subprocess.CompletedProcess:
    return finish(children, launch(children, env, pipeline, verbose=verbose))


def test_inspect_documents_every_property(gst_env):
    plugin = subprocess.run(["gst-inspect-1.0", "cuframes"], env=gst_env, capture_output=True, text=True, timeout=60)
    assert plugin.returncode == 0, plugin.stderr
    assert "cuframessrc" in plugin.stdout and "cuframessink" in plugin.stdout
    expected = {
        "cuframessrc": ["key", "dir", "delivery", "reconnect", "timeout", "output"],
        "cuframessink": ["key", "dir", "slots", "max-subscribers", "max-held", "packet-ring-bytes", "description"],
    }
    for element, names in expected.items():
        shown = subprocess.run(["gst-inspect-1.0", element], env=gst_env, capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        for name in names:
            # Each property is listed with its description on the same line.
            assert re.search(rf"^\s+{re.escape(name)}\s+: \S", shown.stdout, re.M), (element, name, shown.stdout)


def reference_frames(env, tmp_path: Path, caps: str, count: int, source: str) -> np.ndarray:
    """The frames a source makes, written raw by filesink: what the pipeline under test saw."""
    out = tmp_path / "reference.raw"
    pipeline = f"{source} num-buffers={count} ! {caps} ! filesink location={out}"
    done = subprocess.run(["gst-launch-1.0", "-q", *pipeline.split()], env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return np.fromfile(out, np.uint8)


@pytest.mark.parametrize("fmt", ["nv12", "p010", "i420", "rgb24", "rgba", "gray8"])
def test_videotestsrc_into_the_sink_reads_bit_exact(children, gst_env, key, tmp_path, fmt, host_only):
    count, rate = 90, 30
    caps = f"video/x-raw,format={GST_FORMATS[fmt]},width={WIDTH},height={HEIGHT},framerate={rate}/1"
    source = "videotestsrc pattern=smpte horizontal-speed=3"
    reference = reference_frames(gst_env, tmp_path, caps, count, source)
    size = cuframes.packed_size(fmt, WIDTH, HEIGHT)
    assert reference.size == size * count
    child = launch(children, gst_env, f"{source} num-buffers={count} ! {caps} ! cuframessink key={key}")
    got = {}
    with cuframes.Subscriber(key, delivery="sequential", connect_timeout=20) as sub:
        assert sub.facts.frame_rate == rate
        dst = np.empty(size, np.uint8)
        while True:
            try:
                info = sub.read_into(dst, timeout=10)
            except cuframes.DisconnectedError:
                break
            got[info.pts] = dst.copy()
    assert finish(children, child).returncode == 0
    assert len(got) >= 10, f"only {len(got)} frames arrived"
    for pts, frame in got.items():
        index = round(pts * rate / 1e9)  # the sink publishes pts in nanoseconds
        assert np.array_equal(frame, reference[index * size : (index + 1) * size]), f"frame {index} differs"


PUBLISHER = """
import sys, time
import numpy as np
import cuframes
key, fmt, count, salt = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
size = cuframes.packed_size(fmt, 160, 96)
rng = np.random.default_rng(salt)
with cuframes.Publisher(key, 160, 96, format=fmt, backend="host", frame_rate="30/1", time_base="1/30") as pub:
    print("up", flush=True)
    deadline = time.monotonic() + 20
    while pub.subscriber_count == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    for i in range(count):
        pub.send(rng.integers(0, 256, size, dtype=np.uint8), pts=i)
        time.sleep(1 / 30)
    if len(sys.argv) > 5:
        print("sent", flush=True)
        time.sleep(60)  # killed by the test
    time.sleep(0.3)
"""


def published_frames(fmt: str, count: int, salt: int) -> np.ndarray:
    rng = np.random.default_rng(salt)
    size = cuframes.packed_size(fmt, WIDTH, HEIGHT)
    return np.concatenate([rng.integers(0, 256, size, dtype=np.uint8) for _ in range(count)])


@pytest.mark.parametrize("fmt", ["nv12", "p010", "i420", "bgr24", "bgra", "gray8"])
def test_a_python_publisher_read_by_the_source_is_bit_exact(children, gst_env, key, tmp_path, fmt, host_only):
    """filesink reads no strides, so the source copies each frame into GStreamer's layout."""
    out = tmp_path / "out.raw"
    publisher = children.spawn(PUBLISHER, key, fmt, "12", "1")
    children.read_line(publisher, "up")
    pipeline = f"cuframessrc key={key} delivery=sequential ! filesink location={out}"
    done = run_pipeline(children, gst_env, pipeline)
    assert done.returncode == 0, done.stderr
    assert np.array_equal(np.fromfile(out, np.uint8), published_frames(fmt, 12, 1))


def test_the_source_wraps_slots_for_elements_that_read_strides(children, gst_env, key, tmp_path, host_only):
    """videoconvert reads a GstVideoMeta: the slot goes downstream unchanged, with cuframes' pitches.
    Its conversion to I420 equals the same conversion of the frames from a file."""
    out, packed, reference = tmp_path / "out.raw", tmp_path / "packed.raw", tmp_path / "reference.raw"
    publisher = children.spawn(PUBLISHER, key, "nv12", "12", "2")
    children.read_line(publisher, "up")
    convert = "videoconvert ! video/x-raw,format=I420"
    env = dict(gst_env, GST_DEBUG="cuframessrc:5")
    done = run_pipeline(children, env, f"cuframessrc key={key} delivery=sequential ! {convert} ! filesink location={out}")
    assert done.returncode == 0, done.stderr
    assert "downstream reads GstVideoMeta: 1" in done.stderr
    published_frames("nv12", 12, 2).tofile(packed)
    parse = f"rawvideoparse format=nv12 width={WIDTH} height={HEIGHT} framerate=30/1"
    ref = subprocess.run(
        ["gst-launch-1.0", "-q", *f"filesrc location={packed} ! {parse} ! {convert} ! filesink location={reference}".split()],
        env=gst_env,
        capture_output=True,
        timeout=60,
    )
    assert ref.returncode == 0, ref.stderr
    assert out.read_bytes() == reference.read_bytes()
