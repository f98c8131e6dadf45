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
from fractions import Fraction
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
    if os.environ.get("CUFRAMES_TEST_GST") == "0":
        return "CUFRAMES_TEST_GST=0"
    if shutil.which("gst-launch-1.0") is None or shutil.which("gst-inspect-1.0") is None:
        return "gst-launch-1.0 is not installed (apt-get install gstreamer1.0-tools)"
    if not (PLUGIN_DIR / "libgstcuframes.so").is_file():
        return f"the plugin is not built: no {PLUGIN_DIR}/libgstcuframes.so (bash scripts/build-gst.sh)"
    return None


# CUFRAMES_TEST_GST=1 (scripts/test-gst-1.26.sh): the plugin's tests must run, not skip.
if os.environ.get("CUFRAMES_TEST_GST") == "1" and _missing() is not None:
    raise RuntimeError(f"CUFRAMES_TEST_GST=1, but the GStreamer tests cannot run: {_missing()}")
pytestmark = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")


@pytest.fixture
def gst_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a GStreamer child: the plugin on its path, a registry of its own,
    and no sanitizer runtime (the plugin is not instrumented)."""
    sanitizer = ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS")
    env = {k: v for k, v in os.environ.items() if k not in sanitizer}
    env["GST_PLUGIN_PATH"] = str(PLUGIN_DIR)
    env["GST_REGISTRY"] = str(tmp_path / "registry.bin")
    return env


def launch(children, env: dict[str, str], pipeline: str, *, verbose: bool = False):
    """Starts gst-launch-1.0 on a pipeline (a string in gst-launch syntax)."""
    args = ["gst-launch-1.0"] + (["-v"] if verbose else ["-q"]) + pipeline.split()
    return children.spawn(EXEC, *args, env=env)


def run_pipeline(children, env, pipeline: str, *, verbose: bool = False) -> subprocess.CompletedProcess:
    return children.wait(launch(children, env, pipeline, verbose=verbose), timeout=CHILD_TIMEOUT_S)


def gst_run(env: dict[str, str], pipeline: str) -> None:
    """A pipeline of GStreamer's own elements (no producer involved), run to its end."""
    done = subprocess.run(["gst-launch-1.0", "-q", *pipeline.split()], env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr


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
    gst_run(env, f"{source} num-buffers={count} ! {caps} ! filesink location={out}")
    return np.fromfile(out, np.uint8)


@pytest.mark.parametrize("fmt", ["nv12", "p010", "rgba", "gray8"])
def test_videotestsrc_into_the_sink_reads_bit_exact(children, gst_env, key, tmp_path, fmt, host_only):
    count, rate = 90, 60
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
    assert children.wait(child).returncode == 0
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


@pytest.mark.parametrize("fmt", ["nv12", "i420", "rgb24", "bgr24", "bgra"])
def test_a_python_publisher_read_by_the_source_is_bit_exact(children, gst_env, key, tmp_path, fmt, host_only):
    """filesink reads no strides, so the source copies each frame into GStreamer's layout."""
    out = tmp_path / "out.raw"
    publisher = children.spawn(PUBLISHER, key, fmt, "12", "1")
    children.read_line(publisher, "up")
    pipeline = f"cuframessrc key={key} delivery=sequential ! filesink location={out}"
    done = run_pipeline(children, gst_env, pipeline)
    assert done.returncode == 0, done.stderr
    assert np.array_equal(np.fromfile(out, np.uint8), published_frames(fmt, 12, 1))


@pytest.mark.parametrize(
    ("between", "path"),
    [
        ("", "downstream reads GstVideoMeta: 1"),
        # A queue in front of a slow element holds buffers: they are copies, and a lease stays free.
        ("queue max-size-buffers=20 ! identity sleep-time=40000 ! ", "a wrapped buffer is downstream: a copy"),
    ],
    ids=["wrapped", "queued"],
)
def test_the_source_wraps_slots_for_elements_that_read_strides(
    children, gst_env, key, tmp_path, between, path, host_only
):
    """videoconvert reads a GstVideoMeta: the slot goes downstream unchanged, with cuframes' pitches
    (or, while a wrapped buffer is still downstream, a copy). Its conversion to I420 equals the same
    conversion of the frames from a file."""
    out, packed, reference = tmp_path / "out.raw", tmp_path / "packed.raw", tmp_path / "reference.raw"
    publisher = children.spawn(PUBLISHER, key, "nv12", "12", "2")
    children.read_line(publisher, "up")
    convert = "videoconvert ! video/x-raw,format=I420"
    env = dict(gst_env, GST_DEBUG="cuframessrc:5")
    pipeline = f"cuframessrc key={key} delivery=sequential ! {between}{convert} ! filesink location={out}"
    done = run_pipeline(children, env, pipeline)
    assert done.returncode == 0, done.stderr
    assert path in done.stderr
    published_frames("nv12", 12, 2).tofile(packed)
    parse = f"rawvideoparse format=nv12 width={WIDTH} height={HEIGHT} framerate=30/1"
    gst_run(gst_env, f"filesrc location={packed} ! {parse} ! {convert} ! filesink location={reference}")
    assert out.read_bytes() == reference.read_bytes()


def test_a_restarted_producer_continues_with_a_discont_under_reconnect(children, gst_env, key, tmp_path, host_only):
    out = tmp_path / "out.raw"
    first = children.spawn(PUBLISHER, key, "nv12", "8", "3")
    children.read_line(first, "up")
    pipeline = (
        f"cuframessrc key={key} reconnect=true delivery=sequential num-buffers=16 ! identity silent=false"
        f" ! filesink location={out}"
    )
    gst = launch(children, gst_env, pipeline, verbose=True)
    assert children.wait(first).returncode == 0
    second = children.spawn(PUBLISHER, key, "nv12", "8", "4")
    done = children.wait(gst)
    assert done.returncode == 0, done.stderr
    assert children.wait(second).returncode == 0
    expected = np.concatenate([published_frames("nv12", 8, 3), published_frames("nv12", 8, 4)])
    assert np.array_equal(np.fromfile(out, np.uint8), expected)
    # DISCONT on the first buffer, as on every stream's, and on the successor's first.
    flags = re.findall(r"last-message = chain .*flags: [0-9a-f]+ ([^,]*),", done.stdout)
    assert len(flags) == 16, done.stdout
    assert [i for i, f in enumerate(flags) if "discont" in f] == [0, 8], flags


def test_a_producer_that_closes_ends_the_stream_without_reconnect(children, gst_env, key, host_only):
    publisher = children.spawn(PUBLISHER, key, "nv12", "5", "5")
    children.read_line(publisher, "up")
    done = run_pipeline(children, gst_env, f"cuframessrc key={key} ! fakesink", verbose=True)
    assert done.returncode == 0, done.stderr
    assert "Got EOS from element" in done.stdout


def test_packets_from_a_producer_without_a_packet_ring_are_a_clear_error(children, gst_env, key, host_only):
    publisher = children.spawn(PUBLISHER, key, "nv12", "1000", "8")
    children.read_line(publisher, "up")
    done = run_pipeline(children, gst_env, f"cuframessrc key={key} output=packets timeout=1000 ! fakesink")
    assert done.returncode != 0
    assert f"the producer of '{key}' publishes no packets (it has no packet ring)" in done.stdout + done.stderr


def test_a_crashed_producer_is_an_error_that_names_the_key(children, gst_env, key, host_only):
    publisher = children.spawn(PUBLISHER, key, "nv12", "3", "6", "then-wait")
    children.read_line(publisher, "up")
    gst = launch(children, gst_env, f"cuframessrc key={key} ! fakesink")
    children.read_line(publisher, "sent")
    os.killpg(publisher.pid, signal.SIGKILL)
    done = children.wait(gst)
    assert done.returncode != 0
    assert f"The producer of cuframes key '{key}' died" in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("pipeline", "message"),
    [
        ("cuframessrc ! fakesink", "cuframessrc has no key"),
        ("cuframessrc key=bad/key ! fakesink", "key 'bad/key' contains '/'"),
        ("videotestsrc num-buffers=1 ! cuframessink", "cuframessink has no key"),
        ("videotestsrc num-buffers=1 ! cuframessink key=.hidden", "key '.hidden' starts with '.'"),
        ("cuframessrc key=k delivery=bogus ! fakesink", 'could not set property "delivery"'),
        ("cuframessrc key=k output=bogus ! fakesink", 'could not set property "output"'),
        ("cuframessrc key=nobody timeout=300 ! fakesink", "No producer for cuframes key 'nobody' within timeout=300"),
        (
            "videotestsrc num-buffers=1 ! video/x-raw,format=NV12,width=161,height=97 ! cuframessink key=k",
            "nv12 needs an even width and height",
        ),
        (
            "videotestsrc num-buffers=1 ! cuframessink key=k slots=3",
            "a pool of 3 slots is too small",
        ),
        (
            "videotestsrc num-buffers=5 ! tee name=t t. ! queue ! cuframessink key=k t. ! queue ! cuframessink key=k",
            "Another cuframessink of this process publishes cuframes key 'k'",
        ),
    ],
)
def test_bad_properties_are_clear_errors(children, gst_env, cf_dir, pipeline, message):
    done = run_pipeline(children, gst_env, pipeline)
    assert done.returncode != 0
    assert message in done.stdout + done.stderr


def _has_elements(env, *names: str) -> bool:
    return all(
        subprocess.run(["gst-inspect-1.0", "--exists", name], env=env, timeout=60).returncode == 0 for name in names
    )


@pytest.mark.parametrize(("codec", "parse"), [("h264", "h264parse"), ("hevc", "h265parse")])
def test_packets_from_the_source_mux_into_mp4(children, gst_env, key, tmp_path, codec, parse, host_only):
    if shutil.which("ffprobe") is None:
        pytest.skip("ffprobe is not installed (apt-get install ffmpeg)")
    if not _has_elements(gst_env, parse, "mp4mux"):
        pytest.skip(f"{parse} or mp4mux is missing (gstreamer1.0-plugins-bad, -good)")
    out = tmp_path / "out.mp4"
    producer = children.spawn(
        PACKET_PRODUCER, key, "host", "--codec", codec, "--frames", "40", "--gop", "10",
        "--time-base", "1/30", "--frame-rate", "30/1", "--interval", "0.005",
    )  # fmt: skip
    children.read_line(producer, "up")
    done = run_pipeline(
        children, gst_env, f"cuframessrc key={key} output=packets ! {parse} ! mp4mux ! filesink location={out}"
    )
    assert done.returncode == 0, done.stderr
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_streams", "-show_packets", "-of", "json", str(out)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    result = json.loads(probe.stdout)
    stream = result["streams"][0]
    assert stream["codec_name"] == codec
    assert (stream["width"], stream["height"]) == (WIDTH, HEIGHT)
    assert stream["r_frame_rate"] == "30/1"
    packets = result["packets"]
    assert len(packets) == 40
    assert [i for i, p in enumerate(packets) if "K" in p["flags"]] == [0, 10, 20, 30]
    times = [float(p["pts_time"]) for p in packets]
    # The producer's pts, one frame apart, survive as the distances between buffers.
    assert np.allclose(np.diff(times), 1 / 30, atol=1e-3), times


def test_one_pipeline_fills_both_rings_of_a_key(children, gst_env, key, host_only):
    if not _has_elements(gst_env, "x264enc", "h264parse"):
        pytest.skip("x264enc or h264parse is missing (gstreamer1.0-plugins-ugly, -bad)")
    caps = f"video/x-raw,format=I420,width={WIDTH},height={HEIGHT},framerate=30/1"
    encode = "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 ! h264parse"
    pipeline = (
        f"videotestsrc num-buffers=90 ! {caps} ! tee name=t t. ! queue ! cuframessink key={key}"
        f" t. ! queue ! {encode} ! cuframessink key={key}"
    )
    gst = launch(children, gst_env, pipeline)
    packets, frame_pts = [], set()
    with (
        cuframes.PacketSubscriber(key, connect_timeout=20) as psub,
        cuframes.Subscriber(key, delivery="sequential") as sub,
    ):
        for _ in range(20):
            frame_pts.add(sub.read_into(np.empty(sub.packed_size, np.uint8), timeout=10).pts)
            packets.append(psub.next(timeout=10))
        assert psub.time_base == sub.facts.time_base == Fraction(1, 1_000_000_000)
    assert children.wait(gst).returncode == 0
    assert packets[0].keyframe and packets[0].codec == "h264"
    assert all(p.data.startswith((b"\0\0\0\1", b"\0\0\1")) for p in packets)
    # The same buffers' times in both rings: the packets decode to frames the pool had.
    assert len({p.pts for p in packets} & frame_pts) >= 5, (sorted(p.pts for p in packets), sorted(frame_pts))


# Mappings the 90 cycles after the warm-up may add without a leak: GLib keeps idle threads
# (a stack and its guard page each) and glibc adds malloc arenas as threads contend, more of
# both on a loaded machine (CI's busy-loop run saw 8). Each cycle maps a pool and a shared
# header, so a leak adds at least 180; 24 still catches one mapping lost every 4th cycle.
MAPS_SLACK = 24


def test_state_cycles_leak_no_descriptor_or_mapping_and_the_source_is_live(children, gst_env, make_key, host_only):
    """100 times NULL -> PLAYING -> NULL for a source and a sink, in one process (Debian's
    Python, through PyGObject), with a producer publishing throughout."""
    if (
        not Path(SYSTEM_PYTHON).exists()
        or subprocess.run(
            [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('Gst', '1.0')"], capture_output=True, timeout=60
        ).returncode
    ):
        pytest.skip(f"{SYSTEM_PYTHON} lacks PyGObject with Gst (apt-get install python3-gi gir1.2-gstreamer-1.0)")
    src_key, sink_key = make_key("src"), make_key("sink")
    publisher = children.spawn(PUBLISHER, src_key, "nv12", "100000", "7")
    children.read_line(publisher, "up")
    script = str(Path(__file__).resolve().parent / "gst_cycles.py")
    child = children.spawn(EXEC, SYSTEM_PYTHON, script, src_key, sink_key, "100", str(MAPS_SLACK), env=gst_env)
    done = children.wait(child, timeout=240)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["fds_end"] == found["fds_warm"], found
    assert found["maps_end"] - found["maps_warm"] <= MAPS_SLACK, found
    assert found["latency_answered"] and found["live"], found
    assert found["min_latency_ns"] == 1_000_000_000 // 30, found  # one frame at the producer's 30 fps
    # Timestamps are running time: the first frame's is at most a moment old when it arrives.
    assert 0 <= found["first_pts_behind_running_time_ns"] < 2_000_000_000, found


def _gpu_pipeline_ready(env) -> None:
    if not cuframes.cuda_available():
        pytest.skip(f"no usable GPU: {cuframes.cuda_unavailable_reason()}")
    if not _has_elements(env, "cudaupload", "cudadownload"):
        pytest.skip("GStreamer's nvcodec plugin has no cudaupload/cudadownload here (gstreamer1.0-plugins-bad, a GPU)")
    shown = subprocess.run(["gst-inspect-1.0", "cuframessrc"], env=env, capture_output=True, text=True, timeout=60)
    if "memory:CUDAMemory" not in shown.stdout:
        pytest.skip("the plugin was built without gst-cuda (libgstreamer-plugins-bad1.0-dev and cuda.h)")


def frames_of(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.gpu
@pytest.mark.parametrize("download", ["cudadownload", "system"])
def test_cuda_memory_through_both_elements_is_bit_exact(children, gst_env, key, tmp_path, download):
    """cudaupload -> cuframessink (cuda slots) -> cuframessrc -> CUDA memory (cudadownload)
    or system memory (the library's device-to-host copy), against the frames made."""
    _gpu_pipeline_ready(gst_env)
    caps = f"video/x-raw,format=NV12,width={WIDTH},height={HEIGHT},framerate=30/1"
    source = "videotestsrc pattern=smpte horizontal-speed=3"
    size = cuframes.packed_size("nv12", WIDTH, HEIGHT)
    reference = frames_of(reference_frames(gst_env, tmp_path, caps, 60, source).tobytes(), size)
    sink = launch(children, gst_env, f"{source} num-buffers=60 ! {caps} ! cudaupload ! cuframessink key={key}")
    out = tmp_path / "out.raw"
    middle = "cudadownload ! " if download == "cudadownload" else ""
    env = dict(gst_env, GST_DEBUG="cuframessrc:5")
    pipeline = f"cuframessrc key={key} delivery=sequential timeout=20000 ! {middle}{caps} ! filesink location={out}"
    done = run_pipeline(children, env, pipeline, verbose=True)
    assert done.returncode == 0, done.stderr
    assert children.wait(sink).returncode == 0
    if download == "cudadownload":
        assert "memory:CUDAMemory" in done.stdout  # the source's caps
    got = frames_of(out.read_bytes(), size)
    indices = [reference.index(frame) if frame in reference else -1 for frame in got]
    assert len(got) >= 10 and -1 not in indices, indices
    assert indices == sorted(indices), indices


def test_a_packet_sink_alone_publishes_its_own_key(children, gst_env, key, host_only):
    if not _has_elements(gst_env, "x264enc", "h264parse"):
        pytest.skip("x264enc or h264parse is missing (gstreamer1.0-plugins-ugly, -bad)")
    caps = f"video/x-raw,format=I420,width={WIDTH},height={HEIGHT},framerate=30/1"
    encode = "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 ! h264parse"
    gst = launch(children, gst_env, f"videotestsrc num-buffers=60 ! {caps} ! {encode} ! cuframessink key={key}")
    with cuframes.PacketSubscriber(key, connect_timeout=20) as psub:
        packets = [psub.next(timeout=10) for _ in range(15)]
        assert psub.frame_rate == 30
    assert children.wait(gst).returncode == 0
    assert packets[0].keyframe and packets[0].discontinuity
    frames = [round(p.pts * 30 / 1e9) for p in packets]  # running time in ns, at 30 fps
    assert frames == list(range(frames[0], frames[0] + 15)), frames
    # key-int-max=10: a keyframe every tenth frame.
    keys = [f for f, p in zip(frames, packets) if p.keyframe]
    assert len(keys) == 2 and keys[1] - keys[0] == 10, keys


HOLDER = """
import sys, time
import cuframes
with cuframes.Subscriber(sys.argv[1], connect_timeout=20) as sub:
    held = [sub.next(timeout=10) for _ in range(2)]  # every lease it may hold, never released
    print("holding", flush=True)
    time.sleep(60)
"""


def test_the_sink_never_waits_for_a_subscriber(children, gst_env, key, host_only):
    """A subscriber that holds its frames and reads no more cannot stall the pipeline."""
    caps = f"video/x-raw,format=NV12,width={WIDTH},height={HEIGHT},framerate=60/1"
    gst = launch(children, gst_env, f"videotestsrc is-live=true num-buffers=120 ! {caps} ! cuframessink key={key}")
    holder = children.spawn(HOLDER, key)
    children.read_line(holder, "holding")
    assert children.wait(gst, timeout=30).returncode == 0  # two seconds of frames, then EOS
    assert holder.poll() is None  # still holding, never woken into an error


@pytest.mark.gpu
def test_nvdec_frames_in_cuda_memory_reach_python(children, gst_env, key):
    """nvh264dec decodes into CUDA memory; cuframessink publishes it on the cuda backend
    without leaving the GPU, and a Python subscriber reads the frames there."""
    _gpu_pipeline_ready(gst_env)
    if not _has_elements(gst_env, "x264enc", "h264parse", "nvh264dec"):
        pytest.skip("x264enc, h264parse or nvh264dec is missing (gstreamer1.0-plugins-ugly, -bad, NVDEC)")
    caps = f"video/x-raw,format=I420,width={WIDTH},height={HEIGHT},framerate=30/1"
    pipeline = (
        f"videotestsrc num-buffers=90 ! {caps} ! x264enc tune=zerolatency ! h264parse ! nvh264dec"
        f" ! video/x-raw(memory:CUDAMemory),format=NV12 ! cuframessink key={key}"
    )
    gst = launch(children, gst_env, pipeline)
    with cuframes.Subscriber(key, connect_timeout=20) as sub:
        frame = sub.next(timeout=10)
        assert (frame.width, frame.height, frame.format) == (WIDTH, HEIGHT, "nv12")
        assert sub.backend == "cuda"
        frame.release()
    assert children.wait(gst).returncode == 0
