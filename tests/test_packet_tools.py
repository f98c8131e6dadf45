"""The tools over the packet ring: `cuframes cat --packets` piped into a real
ffmpeg that remuxes without re-encoding (checked with ffprobe),
`cuframes.av.open` decoding and remuxing with PyAV, and `cuframes.stat`
reading a live producer without disturbing it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
from packet_producer import PACKET_PRODUCER

import cuframes

av = pytest.importorskip("av")

FRAMES = 60
# 10 packets with a 2.5 s pause after the fifth: a camera's outage, longer than cat's --timeout.
PAUSING = ("--frames", "10", "--gop", "5", "--pause-at", "5", "--pause", "2.5")


def tools_producer(codec: str, frames: int) -> tuple[str, ...]:
    """320x240, a keyframe every 10, a frame beside each packet."""
    return (
        "--codec",
        codec,
        "--frames",
        str(frames),
        "--size",
        "320x240",
        "--ring",
        str(4 << 20),
        "--description",
        "encoded pattern",
        "--frames-too",
        "--interval",
        "0.002",
    )


def ffprobe(path) -> dict:
    result = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)["streams"][0]


@pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None, reason="needs ffmpeg and ffprobe"
)
@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_cat_packets_into_ffmpeg_copy_gives_a_playable_file(children, key, backend, codec, tmp_path):
    producer = children.spawn(PACKET_PRODUCER, key, backend, *tools_producer(codec, FRAMES))
    children.read_line(producer, "up")
    out, cat_log = tmp_path / "out.mp4", tmp_path / "cat.log"
    with open(cat_log, "wb") as log:
        cat = subprocess.Popen(
            [sys.executable, "-m", "cuframes", "cat", f"cuframes://{key}", "--packets"],
            stdout=subprocess.PIPE,
            stderr=log,
        )
    try:
        ffmpeg = subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", codec, "-framerate", "25", "-i", "-", "-c", "copy", str(out)],
            stdin=cat.stdout,
            capture_output=True,
            timeout=60,
        )
        cat.stdout.close()
        assert cat.wait(timeout=30) == 0, cat_log.read_text()
    finally:
        if cat.poll() is None:
            cat.kill()
            cat.wait()
    assert ffmpeg.returncode == 0, ffmpeg.stderr.decode()
    assert f"{FRAMES} packet(s) written" in cat_log.read_text()
    info = ffprobe(out)
    assert (info["codec_name"], info["width"], info["height"]) == (codec, 320, 240)
    assert int(info["nb_read_frames"]) == FRAMES
    children.wait(producer)


def test_cat_packets_ffmpeg_args_name_the_demuxer(children, key, backend):
    producer = children.spawn(PACKET_PRODUCER, key, backend, *tools_producer("hevc", 20))
    children.read_line(producer, "up")
    result = subprocess.run(
        [sys.executable, "-m", "cuframes", "cat", key, "--packets", "--ffmpeg-args", "--fps", "30"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["-f", "hevc", "-framerate", "30", "-i", "-"]


def test_av_open_decodes_and_remuxes_like_any_input(children, key, backend, tmp_path):
    producer = children.spawn(PACKET_PRODUCER, key, backend, *tools_producer("h264", FRAMES))
    children.read_line(producer, "up")
    out = tmp_path / "remuxed.mkv"
    import cuframes.av

    with cuframes.av.open(f"cuframes://{key}") as source, av.open(str(out), "w") as sink:
        assert isinstance(source.container, av.container.InputContainer)
        video = source.streams.video[0]
        assert (video.codec_context.name, video.codec_context.width, video.codec_context.height) == ("h264", 320, 240)
        copy = sink.add_stream_from_template(video)
        remuxed = []
        for packet in source.demux(video):
            if packet.size == 0:
                continue  # the demuxer's flush packet
            remuxed.append(packet.pts)  # the producer's: an elementary stream carries none
            packet.stream = copy
            sink.mux(packet)
        assert source.overruns == 0
    assert remuxed == list(range(FRAMES))
    with av.open(str(out)) as check:
        assert sum(1 for _ in check.decode(video=0)) == FRAMES
    children.wait(producer)


def test_av_open_of_a_missing_key_fails_clearly(key):
    import cuframes.av

    with pytest.raises(cuframes.NotFoundError, match=f"no producer for key '{key}'"):
        cuframes.av.open(key, timeout=0.3)


def test_stat_reads_a_live_producer_without_counting_as_a_subscriber(key, backend):
    image = np.zeros(cuframes.packed_size("nv12", 160, 96), np.uint8)
    with cuframes.Publisher(key, 160, 96, backend=backend, packet_ring_bytes=1 << 20, description="camera 7") as pub:
        with cuframes.Subscriber(key, delivery="sequential") as sub, cuframes.PacketSubscriber(key):
            for pts in range(30):
                pub.send(image, pts=pts)
                time.sleep(0.01)
            taken = [sub.next(1.0) for _ in range(2)]  # held while we look
            status = cuframes.stat(key)
            assert pub.subscriber_count == 1 and pub.packet_subscriber_count == 1
            for frame in taken:
                frame.release()
    assert (status.state, status.backend, status.format, status.width, status.height) == (
        "running",
        backend,
        "nv12",
        160,
        96,
    )
    assert status.description == "camera 7" and status.latest_seq == 30
    assert status.fps is not None and 30 < status.fps < 150  # 10 ms apart, give or take the scheduler
    assert status.age_s is not None and 0 <= status.age_s < 5
    frames = status.subscribers_with_role("frames")
    assert len(frames) == 1 and len(status.subscribers_with_role("packets")) == 1
    assert frames[0].held == 2 and frames[0].frames_received == 2
    assert frames[0].latency_us is not None and frames[0].latency_us > 0
    assert status.packets is not None and status.packets.latest_seq == 0 and status.packets.codec == ""


def test_stat_of_a_missing_key_is_not_found_and_list_streams_reports_stale_sockets(key, cf_dir, backend):
    with pytest.raises(cuframes.NotFoundError, match=f"no producer for key '{key}'"):
        cuframes.stat(key, timeout=0.2)
    (cf_dir / "stale.sock").touch()
    with cuframes.Publisher(key, 160, 96, backend=backend):
        start = time.monotonic()
        entries = {entry.key: entry for entry in cuframes.list_streams()}
        assert time.monotonic() - start < 2.0  # a dead socket costs no wait
    assert entries[key].status is not None and entries[key].error == ""
    assert entries["stale"].status is None and "no producer" in entries["stale"].error


def test_av_open_decode_gives_frames_with_the_producers_pts(children, key, backend):
    producer = children.spawn(PACKET_PRODUCER, key, backend, *tools_producer("hevc", 30))
    children.read_line(producer, "up")
    import cuframes.av

    with cuframes.av.open(key) as source:
        frames = list(source.decode(video=0))
    assert [f.pts for f in frames] == list(range(30))
    assert {(f.width, f.height) for f in frames} == {(320, 240)}
    children.wait(producer)


def test_cat_waits_through_an_outage_longer_than_its_timeout(children, key, backend):
    producer = children.spawn(PACKET_PRODUCER, key, backend, *PAUSING)
    children.read_line(producer, "up")
    result = subprocess.run(
        [sys.executable, "-m", "cuframes", "cat", key, "--packets", "--timeout", "1"], capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr.decode()
    assert b"10 packet(s) written" in result.stderr
    children.wait(producer)
    # --idle-timeout gives up sooner, with a clear error.
    producer = children.spawn(PACKET_PRODUCER, key, backend, *PAUSING)
    children.read_line(producer, "up")
    result = subprocess.run(
        [sys.executable, "-m", "cuframes", "cat", key, "--packets", "--idle-timeout", "1"],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 1 and b"no packet from" in result.stderr, result.stderr.decode()
    children.wait(producer)


def test_av_open_raises_when_the_producer_dies_instead_of_ending(children, key, backend):
    """A crash is an error, a clean close the end (docs/reliability.md): the
    PyAV input must not turn a killed producer into a short, clean file."""
    import signal

    import cuframes.av

    # A live stream: packets keep coming (every 50 ms for 20 s) while the input reads them.
    producer = children.spawn(PACKET_PRODUCER, key, backend, "--frames", "400", "--gop", "10", "--interval", "0.05")
    children.read_line(producer, "up")
    with cuframes.av.open(key) as source:
        demuxed = source.demux(video=0)
        next(demuxed)
        producer.proc.send_signal(signal.SIGKILL)
        with pytest.raises(cuframes.ProducerDiedError):
            for _ in demuxed:
                pass


def test_av_open_of_a_missing_key_raises_and_its_cleanup_reports_nothing(children, key):
    # In dev mode (3.13 always) the finalizer of a half-made PacketStream reported an
    # AttributeError ("no attribute '_subscriber'") as an ignored exception on stderr.
    result = children.run(
        """
        import gc, sys, cuframes, cuframes.av
        try:
            cuframes.av.open(sys.argv[1], timeout=0)
        except cuframes.NotFoundError as error:
            print("NotFoundError:", error)
        gc.collect()
        print("done")
    """,
        key,
        env={"PYTHONDEVMODE": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert "NotFoundError: no producer for key" in result.stdout and "done" in result.stdout
    assert result.stderr == "", result.stderr
