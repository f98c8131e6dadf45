"""Stream facts set by the sources and used by ``cuframes.av``: a 30 fps file
tagged BT.709/tv published and read back with its time base, rate, colours and
pts; the test pattern's facts; and a remux through ``cuframes.av.open`` that
lasts as long as the stream (ffprobe)."""

from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from packet_producer import PACKET_PRODUCER

import cuframes
from cuframes import ColorInfo
from cuframes.sources import FileSource, TestPatternSource, run_publish

av = pytest.importorskip("av", reason="the sources and cuframes.av read through PyAV (pip install av)")

W, H, FPS = 160, 96, 30


def tagged_clip(path: Path, frames: int) -> Path:
    """A 30 fps H.264 MP4 tagged BT.709, limited ("tv") range, made with PyAV's libx264."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        context = stream.codec_context
        context.colorspace, context.color_range, context.color_primaries, context.color_trc = 1, 1, 1, 1
        context.options = {"bf": "0", "preset": "ultrafast"}
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((H * 3 // 2, W), index % 200 + 16, np.uint8), format="yuv420p")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def test_a_file_is_published_with_its_time_base_rate_and_colours(key, backend, tmp_path) -> None:
    frames = 20
    with FileSource(str(tagged_clip(tmp_path / "clip.mp4", frames))) as source:
        with av.open(str(tmp_path / "clip.mp4")) as probe:
            time_base = probe.streams.video[0].time_base  # the MP4's own, e.g. 1/15360
        assert source.facts.time_base == time_base == source.time_base
        assert source.facts.frame_rate == FPS
        assert source.facts.color == ColorInfo.BT709
        with (
            cuframes.Publisher(
                key,
                W,
                H,
                "nv12",
                backend=backend,
                packet_ring_bytes=1 << 20,
                slots=frames + 2,
                max_held=1,
                facts=source.facts,
            ) as pub,
            cuframes.Subscriber(key, delivery="sequential") as sub,
            cuframes.PacketSubscriber(key) as packets,
        ):
            run_publish(source, pub, pace=False)
            assert (sub.time_base, sub.frame_rate, sub.color) == (time_base, FPS, ColorInfo.BT709)
            assert (packets.time_base, packets.frame_rate, packets.color) == (time_base, FPS, ColorInfo.BT709)
            frame_times = []
            for _ in range(frames):
                with sub.next(timeout=5) as frame:
                    frame_times.append(frame.time)
            packet_times = [packets.next(timeout=5).time for _ in range(frames)]
    one_frame = 1 / FPS
    assert frame_times == pytest.approx([n * one_frame for n in range(frames)])
    assert packet_times == pytest.approx(frame_times)


def test_the_test_pattern_says_what_its_frames_are() -> None:
    with TestPatternSource(W, H, 30000 / 1001, gop=10) as source:
        assert source.facts.time_base == Fraction(1, 90_000)
        assert source.facts.frame_rate == Fraction(30_000, 1001)
        assert source.facts.color == ColorInfo.BT709 and source.facts.sample_aspect_ratio == 1
        packet = next(item for item in source if not hasattr(item, "on_device"))
    # The H.264 stream's VUI says the same as the facts.
    decoder = av.CodecContext.create("h264", "r")
    decoder.decode(av.Packet(packet.data))
    assert (decoder.colorspace, decoder.color_range, decoder.color_primaries, decoder.color_trc) == (1, 1, 1, 1)


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe")
def test_a_remux_through_cuframes_av_lasts_as_long_as_the_stream(children, key, backend, tmp_path) -> None:
    """The issue's case: 3 s of a 30 fps stream, pts in 1/90000, remuxed as
    docs/integration.md shows, came out 0.256 s long (the raw demuxer's 1/1200000)."""
    frames = 3 * FPS
    producer = children.spawn(
        PACKET_PRODUCER,
        key,
        backend,
        "--frames",
        str(frames),
        "--gop",
        "30",
        "--pts-step",
        "3000",
        "--time-base",
        "1/90000",
        "--frame-rate",
        "30",
        "--ring",
        str(4 << 20),
        "--interval",
        "0.002",
    )
    children.read_line(producer, "up")
    out = tmp_path / "remuxed.mp4"
    import cuframes.av

    with cuframes.av.open(f"cuframes://{key}") as source, av.open(str(out), "w") as sink:
        video = source.streams.video[0]
        assert video.time_base == Fraction(1, 90_000) and video.average_rate == FPS
        copy = sink.add_stream_from_template(video)
        times = []
        for packet in source.demux(video):
            if packet.size == 0:
                continue
            times.append(float(packet.pts * packet.time_base))
            packet.stream = copy
            sink.mux(packet)
    children.wait(producer)
    assert times == pytest.approx([n / FPS for n in range(frames)])
    probed = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert float(probed.stdout) == pytest.approx(3.0, abs=1 / FPS)
    with av.open(str(out)) as check:
        decoded = [frame.time for frame in check.decode(video=0)]
    assert len(decoded) == frames and decoded[-1] == pytest.approx((frames - 1) / FPS, abs=1e-3)


def test_cuframes_publish_publishes_the_sources_facts(children, key, backend) -> None:
    publisher = children.spawn_module(
        "cuframes", "publish", "testsrc:160x96@25", "--key", key, "--backend", backend, "--frames", "100"
    )
    with cuframes.Subscriber(key, connect_timeout=30) as sub, sub.next(timeout=10) as frame:
        assert (sub.time_base, sub.frame_rate, sub.color) == (Fraction(1, 90_000), 25, ColorInfo.BT709)
        assert frame.time == pytest.approx(frame.pts / 90_000)
        assert frame.pts % (90_000 // 25) == 0  # testsrc's pts: one frame is 3600 ticks
    children.wait(publisher, timeout=60)


def test_an_rtsp_camera_gives_its_time_base_and_rate(rtsp_server) -> None:
    """The camera's RTP clock (90 kHz) is the published time base: the frames' pts are in it."""
    from cuframes.sources import RtspSource

    with RtspSource(rtsp_server.url, open_timeout=5, read_timeout=3) as source:
        assert source.facts.time_base == Fraction(1, 90_000) == source.time_base
        assert source.facts.frame_rate == 25
        pts = [item.pts for item, _ in zip((i for i in source if hasattr(i, "on_device")), range(3))]
    assert [b - a for a, b in zip(pts, pts[1:])] == [3600, 3600]
