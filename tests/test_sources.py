"""The video sources of `cuframes publish` (cuframes.sources): the test pattern and
its libx264 packets, video files (H.264/H.265 in MP4/MKV, raw Annex-B, other
codecs), a real RTSP server that dies and comes back, NVDEC, and the publish
loop that feeds a publisher. Most tests publish into a fake publisher that
records what it gets; one feeds a real cuframes.Publisher and reads it back."""

from __future__ import annotations

import importlib.util
import itertools
import logging
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from rtsp_server import free_port

import cuframes
from cuframes._pattern import TestPattern
from cuframes.sources import (
    Backoff,
    DecoderUnavailableError,
    FileSource,
    NvdecFileSource,
    RtspSource,
    SourceError,
    SourceNotFoundError,
    SourceUnreachableError,
    TestPatternSource,
    UnsupportedSourceError,
    VideoFrame,
    VideoPacket,
    open_source,
    parse_source,
    run_publish,
)
from cuframes.sources.annexb import has_parameter_sets, is_annexb, nal_unit_types, starts_random_access
from cuframes.sources.rtsp import redact
from cuframes.sources.source_reader import readers_left_behind
from cuframes.sources.timeline import PtsTimeline
from cuframes.sources.timestamps import MAX_HELD_FRAMES, TimestampFiller

av = pytest.importorskip("av", reason="the video sources read and encode through PyAV (pip install av)")

W, H = 320, 240
CLIP_FRAMES, CLIP_GOP = 50, 25


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


@dataclass
class FakePublisher:
    """Records what run_publish gives a publisher (copies: the source reuses its buffers)."""

    frames: list[tuple[bytes, int]] = field(default_factory=list)
    packets: list[VideoPacket] = field(default_factory=list)

    def send(self, src, *, pts: int = 0) -> int:
        self.frames.append((np.asarray(src, dtype=np.uint8).tobytes(), pts))
        return len(self.frames)

    def publish_packet(
        self, data, *, pts: int, dts: int | None = None, keyframe: bool = False, codec: str = "h264"
    ) -> int:
        self.packets.append(VideoPacket(bytes(data), pts, dts, keyframe, codec))
        return len(self.packets)

    @property
    def frame_pts(self) -> list[int]:
        return [pts for _, pts in self.frames]


def decode_packets(packets: list[VideoPacket], codec: str) -> list[np.ndarray]:
    """Decodes Annex-B access units with a fresh PyAV decoder (no extradata: the
    parameter sets must be in-band) into packed NV12 frames."""
    decoder = av.CodecContext.create(codec, "r")
    out = [frame for packet in packets for frame in decoder.decode(av.Packet(packet.data))]
    out += decoder.decode(None)
    return [np.ascontiguousarray(f.reformat(format="nv12").to_ndarray()).reshape(-1) for f in out]


def collect(items: Iterator, frames: int) -> tuple[list[VideoFrame], list[VideoPacket]]:
    """Takes items until ``frames`` frames came (frame data copied)."""
    got_frames, got_packets = [], []
    for item in items:
        if isinstance(item, VideoFrame):
            got_frames.append(VideoFrame(np.array(item.data, copy=True), item.pts))
            if len(got_frames) >= frames:
                break
        else:
            got_packets.append(item)
    return got_frames, got_packets


def has_ffmpeg_encoder(name: str) -> bool:
    if shutil.which("ffmpeg") is None:
        return False
    listed = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=30)
    return any(line.split()[1:2] == [name] for line in listed.stdout.splitlines() if line.strip())


CLIPS = {  # name -> (ffmpeg encoder, container, codec in the packet ring)
    "h264.mp4": ("libx264", "mp4", "h264"),
    "h264.mkv": ("libx264", "matroska", "h264"),
    "hevc.mp4": ("libx265", "mp4", "hevc"),
    "mpeg4.mp4": ("mpeg4", "mp4", None),
    "h264.h264": ("libx264", "h264", "h264"),
}


def encode_clip_with_pyav(path: Path, encoder: str) -> None:
    """The clip's shape (W x H, 25 fps, CLIP_FRAMES frames, a keyframe every CLIP_GOP) in an MP4."""
    av = pytest.importorskip("av")
    with av.open(str(path), "w") as out:
        stream = out.add_stream(encoder, rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.codec_context.gop_size = CLIP_GOP
        params = f"keyint={CLIP_GOP}:min-keyint={CLIP_GOP}:scenecut=0"
        stream.codec_context.options = (
            {"x265-params": params + ":log-level=error"} if encoder == "libx265" else {"x264-params": params, "bf": "0"}
        )
        rows, cols = np.mgrid[0:H, 0:W]
        for index in range(CLIP_FRAMES):
            rgb = np.stack([(cols + 4 * index) % 256, (rows + 2 * index) % 256, (cols + rows) % 256], axis=-1)
            frame = av.VideoFrame.from_ndarray(rgb.astype(np.uint8), format="rgb24")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory):
    """Returns clip(name): a 320x240 25 fps clip of 50 frames, keyframe every 25, made by ffmpeg once."""
    folder = tmp_path_factory.mktemp("clips")

    def make(name: str) -> Path:
        encoder, container, _ = CLIPS[name]
        path = folder / name
        if not has_ffmpeg_encoder(encoder):
            # The GPU machine has no ffmpeg command: PyAV's bundled encoders make the MP4s.
            if container == "mp4" and encoder in ("libx264", "libx265"):
                if not path.exists():
                    encode_clip_with_pyav(path, encoder)
                return path
            pytest.skip(f"ffmpeg with the {encoder} encoder is not installed")
        if not path.exists():
            extra = ["-x265-params", "log-level=error"] if encoder == "libx265" else []
            done = subprocess.run(
                [
                    "ffmpeg",
                    "-v",
                    "error",
                    "-y",
                    "-f",
                    "lavfi",
                    "-i",
                    f"testsrc2=size={W}x{H}:rate=25",
                    "-frames:v",
                    str(CLIP_FRAMES),
                    "-c:v",
                    encoder,
                    "-g",
                    str(CLIP_GOP),
                    *extra,
                    "-f",
                    container,
                    str(path),
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, done.stderr
        return path

    return make


# --------------------------------------------------------------------------------------
# Annex-B helpers, SOURCE strings, the pts timeline
# --------------------------------------------------------------------------------------


def test_annexb_units_and_types_are_found():
    sps, pps, idr, slice_ = b"\x67\x42\x00", b"\x68\xce", b"\x65\x88\x00\x00", b"\x41\x9a"
    access_unit = b"\x00\x00\x00\x01" + sps + b"\x00\x00\x01" + pps + b"\x00\x00\x00\x01" + idr
    assert is_annexb(access_unit) and not is_annexb(b"\x00\x00\x00\x10" + idr)
    assert nal_unit_types(access_unit, "h264") == [7, 8, 5]
    assert has_parameter_sets(access_unit, "h264") and starts_random_access(access_unit, "h264")
    later = b"\x00\x00\x01" + slice_
    assert not has_parameter_sets(later, "h264") and not starts_random_access(later, "h264")
    vps, hevc_sps, hevc_pps, cra = b"\x40\x01", b"\x42\x01", b"\x44\x01", b"\x2a\x01"
    hevc_unit = b"".join(b"\x00\x00\x00\x01" + unit for unit in (vps, hevc_sps, hevc_pps, cra))
    assert nal_unit_types(hevc_unit, "hevc") == [32, 33, 34, 21]
    assert has_parameter_sets(hevc_unit, "hevc") and starts_random_access(hevc_unit, "hevc")


@pytest.mark.parametrize(
    "text, kind, location, size",
    [
        ("testsrc", "testsrc", "", (None, None, None)),
        ("testsrc:640x480", "testsrc", "", (640, 480, None)),
        ("testsrc:640x480@25", "testsrc", "", (640, 480, 25.0)),
        ("testsrc:@59.94", "testsrc", "", (None, None, 59.94)),
        ("rtsp://user:pw@cam.local:554/stream1", "rtsp", "rtsp://user:pw@cam.local:554/stream1", (None, None, None)),
        ("RTSPS://cam/x", "rtsp", "RTSPS://cam/x", (None, None, None)),
        ("file:///videos/a%20b.mp4", "file", "/videos/a b.mp4", (None, None, None)),
        ("clip.mkv", "file", "clip.mkv", (None, None, None)),
    ],
)
def test_source_strings_name_a_kind_and_a_place(text, kind, location, size):
    spec = parse_source(text)
    assert (spec.kind, spec.location, (spec.width, spec.height, spec.fps)) == (kind, location, size)


@pytest.mark.parametrize(
    "text, complaint",
    [
        ("", "empty"),
        ("testsrc:", "testsrc:WIDTHxHEIGHT"),
        ("testsrc:640", "testsrc:WIDTHxHEIGHT"),
        ("testsrc:640x480@", "testsrc:WIDTHxHEIGHT"),
        ("http://cam/x", "unsupported source scheme 'http'"),
        ("srt://cam:9000", "unsupported source scheme 'srt'"),
        ("rtsp:///stream", "names no host"),
    ],
)
def test_bad_source_strings_say_what_is_wrong(text, complaint):
    with pytest.raises(UnsupportedSourceError, match=complaint) as caught:
        parse_source(text)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, cuframes.Error)


def test_timeline_keeps_pts_growing_across_segments_and_gaps():
    timeline = PtsTimeline(frame_ticks=10)
    assert [timeline.map_frame(t) for t in (0, 10, 20)] == [0, 10, 20]  # the first segment keeps its own
    timeline.new_segment()
    assert timeline.map_packet(0, -10) == (30, 20)  # the pts one frame after the latest (20); no dts before
    assert timeline.map_frame(0) == 30
    timeline.new_segment(gap_ticks=1000)
    assert timeline.map_frame(5000) == 30 + 10 + 1000
    assert timeline.map_frame(5010) == 1050
    assert timeline.map_frame(None) is None


def test_timeline_loops_a_b_frame_stream_without_a_hole():
    """A B-frame MP4's dts run two frames behind its pts (edit list: pts from 0, dts
    from -2 frames). Each pass must follow the last with no missing frame."""
    frames, tick = 6, 10
    display = [0, 3, 1, 2, 5, 4]  # decode order -> display index (I P B B P B)

    def one_pass(timeline):
        pts = []
        for decode_index, shown in enumerate(display):
            packet_pts, _ = timeline.map_packet(shown * tick, (decode_index - 2) * tick)
            pts.append(packet_pts)
        return sorted(pts)

    timeline = PtsTimeline(frame_ticks=tick)
    first = one_pass(timeline)
    timeline.new_segment()
    second = one_pass(timeline)
    assert first == [n * tick for n in range(frames)]
    assert second == [n * tick for n in range(frames, 2 * frames)], "a hole at the loop"


# --------------------------------------------------------------------------------------
# testsrc
# --------------------------------------------------------------------------------------


def test_testsrc_frames_carry_the_pattern_and_packets_share_their_pts():
    pattern = TestPattern("nv12", W, H)
    with TestPatternSource(W, H, 25, gop=10) as source:
        assert (source.width, source.height, source.codec, source.time_base) == (W, H, "h264", Fraction(1, 90_000))
        pub = FakePublisher()
        stats = run_publish(source, pub, pace=False, max_frames=30)
    assert stats.ended == "frames" and stats.frames == 30 and stats.packets == 30
    assert pub.frame_pts == [round(n * 90_000 / 25) for n in range(30)]
    for index, (data, _) in enumerate(pub.frames):
        assert pattern.check(index, np.frombuffer(data, dtype=np.uint8)) == []
    assert [p.pts for p in pub.packets] == pub.frame_pts, "each frame's packet must carry the frame's pts"
    assert all(p.codec == "h264" and is_annexb(p.data) for p in pub.packets)


def test_testsrc_keyframes_come_every_gop_with_sps_and_pps():
    with TestPatternSource(W, H, 25, gop=10) as source:
        pub = FakePublisher()
        run_publish(source, pub, pace=False, max_frames=30)
    keyframes = [index for index, packet in enumerate(pub.packets) if packet.keyframe]
    assert keyframes == [0, 10, 20]
    for index, packet in enumerate(pub.packets):
        assert packet.keyframe == starts_random_access(packet.data, "h264"), f"packet {index}: flag and IDR disagree"
        assert has_parameter_sets(packet.data, "h264") == packet.keyframe, (
            f"packet {index}: SPS/PPS must be in every keyframe (and only there)"
        )


def test_testsrc_packets_decode_to_the_published_pictures():
    pattern = TestPattern("nv12", W, H)
    with TestPatternSource(W, H, 25, gop=10) as source:
        pub = FakePublisher()
        run_publish(source, pub, pace=False, max_frames=20)
    decoded = decode_packets(pub.packets[10:], "h264")  # from the second keyframe: a decoder can start there
    assert len(decoded) == 10
    assert all(frame.size == W * H * 3 // 2 for frame in decoded)
    # The barcodes survive the (lossy) encode: each decoded picture is the frame with its pts.
    assert [pattern.decode_stamps(frame)[0] for frame in decoded] == list(range(10, 20))


def test_testsrc_default_gop_is_two_seconds():
    with TestPatternSource(W, H, 15) as source:
        assert source.gop == 30


@pytest.mark.parametrize("size", [(321, 240), (320, 0), (16, 16)])
def test_testsrc_rejects_sizes_it_cannot_make(size):
    with pytest.raises(UnsupportedSourceError):
        TestPatternSource(*size, 25)


# --------------------------------------------------------------------------------------
# The publish loop
# --------------------------------------------------------------------------------------


def test_publish_loop_paces_sources_that_are_not_live():
    with TestPatternSource(W, H, 50, encode=False) as source:
        started = time.monotonic()
        stats = run_publish(source, FakePublisher(), max_frames=11)
        paced = time.monotonic() - started
    assert stats.frames == 11
    assert paced >= 0.19, f"11 frames at 50 fps span 0.2 s; published in {paced:.3f} s"
    with TestPatternSource(W, H, 50, encode=False) as source:
        started = time.monotonic()
        run_publish(source, FakePublisher(), max_frames=11, speed=4.0)
        faster = time.monotonic() - started
    assert 0.04 <= faster < paced, f"speed=4 took {faster:.3f} s, speed=1 {paced:.3f} s"


def test_publish_loop_stops_on_duration_and_on_stop():
    with TestPatternSource(W, H, 100, encode=False) as source:
        stats = run_publish(source, FakePublisher(), duration=0.3)
    assert stats.ended == "duration" and 20 <= stats.frames <= 32 and stats.elapsed >= 0.3
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    with TestPatternSource(W, H, 100, encode=False) as source:
        stats = run_publish(source, FakePublisher(), stop=stop)
    assert stats.ended == "stopped" and stats.frames >= 10


def test_publish_loop_counts_packets_it_cannot_publish():
    class FramesOnly(FakePublisher):
        def publish_packet(self, *args, **kwargs):
            raise AssertionError("publish_packets=False must not publish packets")

    with TestPatternSource(W, H, 25, gop=5) as source:
        stats = run_publish(source, FramesOnly(), pace=False, publish_packets=False, max_frames=10)
    assert (stats.frames, stats.packets, stats.packets_dropped) == (10, 0, 10)
    assert "10 packets dropped" in stats.summary()


def test_publish_loop_reports_progress_and_ends_with_a_summary():
    seen = []
    with TestPatternSource(W, H, 25) as source:
        stats = run_publish(
            source,
            FakePublisher(),
            pace=False,
            max_frames=5,
            on_progress=lambda s: seen.append((s.frames, s.ended)),
            progress_interval=0,
        )
    assert seen[-1] == (5, "frames") and len(seen) >= 5
    assert stats.summary().startswith("5 frames in ") and stats.summary().endswith("; frames")


class _TooLargeKeyframes(FakePublisher):
    """A packet ring that takes no keyframe: the core's error for a packet over half the ring."""

    def publish_packet(self, data, **kwargs) -> int:
        if kwargs.get("keyframe"):
            raise cuframes.InvalidArgumentError(
                f"a packet of {len(data)} bytes exceeds the largest 32768 this "
                "packet ring takes (half of packet_ring_bytes)"
            )
        return super().publish_packet(data, **kwargs)


def test_publish_loop_drops_packets_too_large_for_the_ring_and_keeps_publishing(caplog):
    caplog.set_level(logging.WARNING, logger="cuframes.sources")
    pub = _TooLargeKeyframes()
    with TestPatternSource(W, H, 25, gop=5) as source:
        stats = run_publish(source, pub, pace=False, max_frames=12)
    assert stats.frames == 12 and len(pub.frames) == 12, "frames go on when a packet does not fit"
    assert (stats.packets_dropped, stats.packets_too_large, stats.packets) == (3, 3, 9)  # keyframes 0, 5, 10
    assert "3 packets dropped (too large for the packet ring)" in stats.summary()
    warnings = [r.getMessage() for r in caplog.records if "does not fit the packet ring" in r.getMessage()]
    assert len(warnings) == 1 and "--packet-ring-bytes" in warnings[0], warnings


def test_publish_loop_raises_other_packet_errors():
    class Refusing(FakePublisher):
        def publish_packet(self, data, **kwargs):
            raise cuframes.InvalidArgumentError("packets must be Annex-B")

    with TestPatternSource(W, H, 25) as source, pytest.raises(cuframes.InvalidArgumentError, match="Annex-B"):
        run_publish(source, Refusing(), pace=False, max_frames=3)


def test_publish_loop_hands_each_frame_over_before_the_next_is_read():
    """The test pattern renders every frame into one buffer: the reader thread must
    not ask for the next frame while the loop still publishes this one."""
    pattern = TestPattern("nv12", W, H)

    class Slow(FakePublisher):
        def send(self, src, *, pts: int = 0) -> int:
            time.sleep(0.01)  # were the next frame rendered meanwhile, this copy would show it
            return super().send(src, pts=pts)

    pub = Slow()
    with TestPatternSource(W, H, 25, encode=False) as source:
        run_publish(source, pub, pace=False, max_frames=10)
    assert [
        pattern.check(index, np.frombuffer(data, dtype=np.uint8)) for index, (data, _) in enumerate(pub.frames)
    ] == [[]] * 10


def test_publish_loop_raises_the_source_error_and_closes_the_source():
    class Failing(TestPatternSource):
        def __iter__(self):
            yield from itertools.islice(super().__iter__(), 4)
            raise SourceError("the camera caught fire")

    with Failing(W, H, 25, encode=False) as source:
        with pytest.raises(SourceError, match="caught fire"):
            run_publish(source, FakePublisher(), pace=False)
    source = TestPatternSource(W, H, 25, encode=False)
    run_publish(source, FakePublisher(), pace=False, max_frames=2)
    assert source.closed, "the run closes the source it read in its thread"


# --------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["h264.mp4", "h264.mkv", "hevc.mp4"])
def test_file_packets_are_annexb_access_units_of_the_frames(clips, name):
    codec = CLIPS[name][2]
    with FileSource(str(clips(name))) as source:
        assert (source.width, source.height, source.codec, round(source.fps)) == (W, H, codec, 25)
        pub = FakePublisher()
        stats = run_publish(source, pub, pace=False)
    assert stats.ended == "end of source"
    assert len(pub.frames) == CLIP_FRAMES and all(len(data) == W * H * 3 // 2 for data, _ in pub.frames)
    assert len(pub.packets) == CLIP_FRAMES
    assert all(is_annexb(p.data) and p.codec == codec for p in pub.packets), "packets must start with a start code"
    keyframes = [p for p in pub.packets if p.keyframe]
    assert len(keyframes) == CLIP_FRAMES // CLIP_GOP
    assert all(has_parameter_sets(p.data, codec) for p in keyframes), "every keyframe carries its parameter sets"
    assert sorted(p.pts for p in pub.packets) == sorted(pub.frame_pts), "frames and packets join on pts"
    assert pub.frame_pts == sorted(pub.frame_pts)
    # The packets alone (no container, no extradata) decode to exactly the published frames.
    decoded = decode_packets(pub.packets, codec)
    assert [frame.tobytes() for frame in decoded] == [data for data, _ in pub.frames]


def test_raw_annexb_file_without_timestamps_gets_counted_pts(clips):
    with FileSource(str(clips("h264.h264"))) as source:
        pub = FakePublisher()
        run_publish(source, pub, pace=False)
    assert len(pub.frames) == CLIP_FRAMES
    assert pub.frame_pts == sorted(set(pub.frame_pts)), "pts must grow"
    assert set(pub.frame_pts) <= {p.pts for p in pub.packets}, "every frame has its packet's pts"


def test_raw_annexb_file_with_b_frames_warns_that_pts_may_not_join(clips, caplog):
    caplog.set_level(logging.WARNING, logger="cuframes.sources")
    with FileSource(str(clips("h264.h264"))) as source:  # ffmpeg's libx264 defaults to B-frames
        run_publish(source, FakePublisher(), pace=False)
    warnings = [r.getMessage() for r in caplog.records if "reorders frames" in r.getMessage()]
    assert len(warnings) == 1 and "h264.h264" in warnings[0], warnings
    caplog.clear()
    with FileSource(str(clips("h264.mp4"))) as source:  # has timestamps: nothing to say
        run_publish(source, FakePublisher(), pace=False)
    assert not [r for r in caplog.records if "reorders frames" in r.getMessage()]


def test_timestamp_filler_stops_holding_after_a_bound():
    filler = TimestampFiller(10, count_from_zero=False)
    out = []
    for index in range(MAX_HELD_FRAMES + 5):
        out += filler.place(VideoPacket(b"\0\0\1", None, None, False, "h264"))
        got = filler.place(VideoFrame(None, None))
        if index < MAX_HELD_FRAMES - 1:
            assert got == [], "held while a first timestamp may still come"
        out += got
    frames = [item.pts for item in out if isinstance(item, VideoFrame)]
    packets = [item.pts for item in out if isinstance(item, VideoPacket)]
    assert frames == packets == [10 * n for n in range(MAX_HELD_FRAMES + 5)]


def test_looped_file_keeps_pts_growing_and_joined(clips):
    with FileSource(str(clips("h264.mp4")), loop=True) as source:
        pub = FakePublisher()
        stats = run_publish(source, pub, pace=False, max_frames=CLIP_FRAMES * 2 + 20)
    assert stats.frames == CLIP_FRAMES * 2 + 20
    pts = pub.frame_pts
    assert all(b > a for a, b in zip(pts, pts[1:])), "pts must keep growing over the passes"
    assert len({b - a for a, b in zip(pts, pts[1:])}) == 1, "one frame apart, at the loops too (B-frames)"
    assert set(pts) <= {p.pts for p in pub.packets}
    assert sum(p.keyframe for p in pub.packets) >= 5  # 2 per pass, and the third pass's first


def test_file_is_paced_at_its_own_rate(clips):
    with FileSource(str(clips("h264.mp4"))) as source:
        started = time.monotonic()
        run_publish(source, FakePublisher(), max_frames=11)
        elapsed = time.monotonic() - started
    assert elapsed >= 0.38, f"10 frame intervals at 25 fps are 0.4 s; took {elapsed:.3f} s"


def test_other_codecs_publish_frames_and_warn_once_about_packets(clips, caplog):
    with caplog.at_level(logging.WARNING, logger="cuframes.sources"), FileSource(str(clips("mpeg4.mp4"))) as source:
        assert source.codec is None
        pub = FakePublisher()
        run_publish(source, pub, pace=False)
    assert len(pub.frames) == CLIP_FRAMES and pub.packets == []
    warnings = [r.getMessage() for r in caplog.records if "not H.264/H.265" in r.getMessage()]
    assert len(warnings) == 1 and "mpeg4" in warnings[0]


def test_missing_or_unreadable_files_are_clear_errors(tmp_path):
    with pytest.raises(SourceNotFoundError, match="no video file") as caught:
        FileSource(str(tmp_path / "nope.mp4"))
    assert isinstance(caught.value, FileNotFoundError)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(UnsupportedSourceError, match="garbage.mp4"):
        FileSource(str(garbage))
    with pytest.raises(UnsupportedSourceError, match="folder"):
        FileSource(str(tmp_path))


def test_open_source_picks_the_source_of_the_string(clips):
    with open_source("testsrc:128x96@10", width=999) as source:
        assert isinstance(source, TestPatternSource) and (source.width, source.height, source.fps) == (128, 96, 10)
    with open_source("testsrc", width=320, height=240, fps=12, gop=3) as source:
        assert (source.width, source.height, source.fps, source.gop) == (320, 240, 12, 3)
    with open_source(f"file://{clips('h264.mp4')}", loop=True) as source:
        assert isinstance(source, FileSource) and source.loop
    with pytest.raises(UnsupportedSourceError, match="nvdec"):
        open_source("testsrc", decoder="nvdec")
    with pytest.raises(UnsupportedSourceError, match="nvdec"):
        open_source("rtsp://127.0.0.1/x", decoder="nvdec")


# --------------------------------------------------------------------------------------
# RTSP, against a real server (GStreamer's gst-rtsp-server) on loopback
# --------------------------------------------------------------------------------------

# The `rtsp_server` fixture (tests/conftest.py) starts one.


@pytest.mark.timeout(60)
def test_rtsp_source_yields_packets_and_frames_and_reconnects(rtsp_server, caplog):
    caplog.set_level(logging.WARNING, logger="cuframes.sources")
    source = RtspSource(rtsp_server.url, open_timeout=5, read_timeout=3, backoff=Backoff(0.2, 1.0))
    with source:
        assert (source.width, source.height, source.codec, source.live) == (W, H, "h264", True)
        items = iter(source)
        frames, packets = collect(items, 20)
        assert len(frames) == 20 and all(f.data.size == W * H * 3 // 2 for f in frames)
        assert {f.pts for f in frames} <= {p.pts for p in packets}, "frames and packets join on pts"
        assert any(p.keyframe and has_parameter_sets(p.data, "h264") for p in packets)
        assert source.health.reconnects == 0

        rtsp_server.kill()  # the camera dies...
        killed = time.monotonic()
        time.sleep(0.5)
        rtsp_server.start()  # ...and comes back on the same address
        more_frames, more_packets = collect(items, 20)
        assert len(more_frames) == 20
        health = source.health
        assert health.reconnects == 1 and not health.reconnecting
        assert 0.4 < health.seconds_lost < time.monotonic() - killed + 1.0
    messages = [r.getMessage() for r in caplog.records]
    assert any("lost" in m for m in messages), messages
    assert any("back after a" in m and "gap" in m for m in messages), messages
    pts = [f.pts for f in frames + more_frames]
    assert all(b > a for a, b in zip(pts, pts[1:])), "pts must keep growing across the gap"
    # (frames read before the kill may still be in flight: the gap is wherever it is)
    assert max(b - a for a, b in zip(pts, pts[1:])) / 90_000 >= 0.4, "the pts jump over the time lost"
    assert {f.pts for f in more_frames} <= {p.pts for p in more_packets}
    assert any(p.keyframe for p in more_packets), "the new session starts with a keyframe's packets"


@pytest.mark.timeout(60)
def test_stalled_rtsp_counts_as_lost_after_the_read_timeout(rtsp_server, caplog):
    caplog.set_level(logging.WARNING, logger="cuframes.sources")
    with RtspSource(rtsp_server.url, open_timeout=1, read_timeout=1, backoff=Backoff(0.2, 0.5)) as source:
        items = iter(source)
        collect(items, 30)  # past the burst FFmpeg buffered while it probed the stream
        rtsp_server.signal(signal.SIGSTOP)  # the camera hangs, its connection stays open
        stalled = time.monotonic()
        threading.Timer(3.0, rtsp_server.signal, (signal.SIGCONT,)).start()
        frames, _ = collect(items, 10)
        assert len(frames) == 10 and time.monotonic() - stalled >= 3.0
        assert source.health.reconnects == 1 and source.health.seconds_lost >= 2.0
    lost = [r.getMessage() for r in caplog.records if ": lost (" in r.getMessage()]
    assert len(lost) == 1 and "nothing received for 1 s" in lost[0], lost


def test_rtsp_packets_decode_on_their_own(rtsp_server):
    with RtspSource(rtsp_server.url, open_timeout=5, read_timeout=3) as source:
        _frames, packets = collect(iter(source), 30)
    start = next(i for i, p in enumerate(packets) if p.keyframe)
    decoded = decode_packets(packets[start:], "h264")
    assert decoded and all(frame.size == W * H * 3 // 2 for frame in decoded)


@pytest.mark.timeout(30)
def test_unreachable_rtsp_is_a_clear_error_at_once():
    url = f"rtsp://127.0.0.1:{free_port()}/nothing"
    started = time.monotonic()
    with pytest.raises(SourceUnreachableError, match="cannot open") as caught:
        RtspSource(url, open_timeout=2, read_timeout=2)
    assert isinstance(caught.value, ConnectionError)
    assert time.monotonic() - started < 5


def test_rtsp_urls_keep_passwords_out_of_errors():
    url = f"rtsp://admin:hunter2@127.0.0.1:{free_port()}/x"
    with pytest.raises(SourceUnreachableError) as caught:
        RtspSource(url, open_timeout=2, read_timeout=2)
    assert "hunter2" not in str(caught.value) and "admin:***@" in str(caught.value)


def test_backoff_doubles_up_to_its_maximum():
    delays = Backoff(0.5, 3.0).delays()
    assert [next(delays) for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    with pytest.raises(UnsupportedSourceError):
        Backoff(2.0, 1.0)


@pytest.mark.timeout(30)
def test_publish_loop_ends_on_time_while_the_camera_is_away(rtsp_server):
    with RtspSource(rtsp_server.url, open_timeout=1, read_timeout=1, backoff=Backoff(0.1, 0.2)) as source:
        rtsp_server.kill()  # gone before the run: the source is reconnecting all along, nothing arrives
        progress = []
        started = time.monotonic()
        stats = run_publish(source, FakePublisher(), duration=1.5, on_progress=progress.append, progress_interval=0.2)
        took = time.monotonic() - started
    assert stats.ended == "duration" and 1.5 <= took < 2.5, f"--duration 1.5 ran {took:.1f} s"
    assert len(progress) >= 5, "the progress line goes on while nothing arrives"


@pytest.mark.timeout(30)
def test_publish_loop_stops_at_once_on_a_stalled_camera(rtsp_server):
    with RtspSource(rtsp_server.url, open_timeout=5, read_timeout=5) as source:
        stop = threading.Event()
        stop_set_at: list[float] = []
        pub = FakePublisher()

        def stall_then_stop():
            while len(pub.frames) < 30:  # past the burst FFmpeg buffered while it probed
                time.sleep(0.01)
            rtsp_server.signal(signal.SIGSTOP)  # the connection stays open: reads block until the read timeout
            time.sleep(0.5)
            stop_set_at.append(time.monotonic())
            stop.set()

        threading.Thread(target=stall_then_stop, daemon=True).start()
        stats = run_publish(source, pub, stop=stop)
        took = time.monotonic() - stop_set_at[0]
        # The reader is still in the stalled read: `cuframes publish` must leave with
        # os._exit rather than finalize the interpreter under it.
        left_behind = readers_left_behind()
    rtsp_server.signal(signal.SIGCONT)
    assert stats.ended == "stopped" and stats.frames >= 30 and source.closed
    assert took < 1.0, f"stopping took {took:.1f} s (the read timeout is 5 s)"
    assert left_behind


@pytest.mark.timeout(30)
def test_close_from_another_thread_ends_an_rtsp_iteration(rtsp_server):
    with RtspSource(rtsp_server.url, open_timeout=5, read_timeout=3) as source:
        items = iter(source)
        collect(items, 5)
        threading.Thread(target=source.close).start()
        time.sleep(0.2)
        rest = list(itertools.islice(items, 200))  # a stream that keeps sending: bounded by the close
    assert len(rest) <= 2, f"{len(rest)} items after close()"


def test_close_ends_a_looped_file_iteration(clips):
    with FileSource(str(clips("h264.mp4")), loop=True) as source:
        items = iter(source)
        collect(items, 5)
        source.close()
        assert list(itertools.islice(items, 500)) == []


# A scripted camera, without a server: each connection gives some frames, or fails to open.


@dataclass(frozen=True)
class RecordingBackoff(Backoff):
    waits: list = field(default_factory=list, compare=False)

    def delays(self):
        for delay in super().delays():
            self.waits.append(delay)
            yield delay


class ScriptedCamera:
    """Stands in for PyAVSession: connection n follows script[n] (a frame count, or an exception to raise)."""

    def __init__(self, script: list) -> None:
        self.script = list(script)

    def __call__(self, url, **kwargs):
        step = self.script.pop(0) if self.script else OSError("refused")
        if isinstance(step, BaseException):
            raise step
        return _ScriptedSession(step)


class _ScriptedSession:
    width, height, fps, time_base, codec, codec_name = W, H, 25.0, Fraction(1, 90_000), "h264", "h264"
    facts = cuframes.StreamFacts(time_base=Fraction(1, 90_000), frame_rate=Fraction(25))

    def __init__(self, frames: int) -> None:
        self._frames = frames

    def items(self, timeline):
        for index in range(self._frames):
            yield VideoFrame(np.zeros(W * H * 3 // 2, np.uint8), timeline.map_frame(index * 3600))

    def close(self) -> None:
        pass


@pytest.mark.timeout(15)
def test_a_booting_camera_is_retried_not_fatal(monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="cuframes.sources")
    booting = UnsupportedSourceError("rtsp://cam has no video stream")
    monkeypatch.setattr("cuframes.sources.rtsp.PyAVSession", ScriptedCamera([3, booting, booting, 3]))
    with RtspSource("rtsp://cam/x", backoff=Backoff(0.01, 0.02)) as source:
        frames, _ = collect(iter(source), 6)
        assert len(frames) == 6
        assert (source.health.reconnects, source.health.failed_attempts) == (1, 2)
    failed = [r for r in caplog.records if "reconnect attempt failed" in r.getMessage()]
    assert len(failed) == 2 and all(r.levelno == logging.INFO and "no video stream" in r.getMessage() for r in failed)


@pytest.mark.timeout(15)
def test_a_camera_that_accepts_then_drops_is_retried_ever_more_slowly(monkeypatch):
    monkeypatch.setattr("cuframes.sources.rtsp.PyAVSession", ScriptedCamera([3, 0, 0, 0, 3, 0, 3]))
    backoff = RecordingBackoff(0.01, 0.04)
    with RtspSource("rtsp://cam/x", backoff=backoff) as source:
        items = iter(source)
        collect(items, 6)
        assert backoff.waits == [0.01, 0.02, 0.04, 0.04], "the waits must not start again at each open"
        assert source.health.reconnects == 1, "a reconnect counts when pictures come back, not at each open"
        collect(items, 3)
        assert backoff.waits[4:] == [0.01, 0.02], "after pictures came back, a new loss starts from the first wait"
        assert source.health.reconnects == 2


@pytest.mark.parametrize(
    "url, shown",
    [
        ("rtsp://admin:hunter2@[fe80::1]:554/s", "rtsp://admin:***@[fe80::1]:554/s"),
        ("rtsp://admin:hunter2@cam.local/s", "rtsp://admin:***@cam.local/s"),
        ("rtsp://cam/s?user=a&password=hunter2&channel=1", "rtsp://cam/s?user=a&password=***&channel=1"),
        ("rtsp://cam/s?PWD=hunter2;token=abc", "rtsp://cam/s?PWD=***;token=***"),
        ("rtsp://[::1]/s?passage=1", "rtsp://[::1]/s?passage=1"),
    ],
)
def test_redact_hides_passwords_and_keeps_the_rest(url, shown):
    assert redact(url) == shown


# --------------------------------------------------------------------------------------
# NVDEC (PyNvVideoCodec)
# --------------------------------------------------------------------------------------


def _has_pynvvideocodec() -> bool:
    return importlib.util.find_spec("PyNvVideoCodec") is not None


@pytest.mark.skipif(_has_pynvvideocodec(), reason="PyNvVideoCodec is installed: nothing is missing")
def test_nvdec_without_pynvvideocodec_says_how_to_install_it(clips):
    with pytest.raises(DecoderUnavailableError, match=r"pip install cuframes\[nvdec\]") as caught:
        NvdecFileSource(str(clips("h264.mp4")))
    assert isinstance(caught.value, ImportError)


class FakeNvc:
    """A stand-in for PyNvVideoCodec 2.x that fails where it is told to (``fail``:
    "demuxer", "decoder" or "decode"); NVDEC cannot run here, its error handling can."""

    def __init__(self, fail: str) -> None:
        self.fail = fail

    def CreateDemuxer(self, filename):
        if self.fail == "demuxer":
            raise RuntimeError("Demuxer: avformat_open_input failed")
        return _FakeDemuxer()

    def CreateDecoder(self, **kwargs):
        if self.fail == "decoder":
            raise RuntimeError("CUDA_ERROR_NO_DEVICE")
        return _FakeDecoder()


class _FakeDemuxer:
    def Width(self):
        return W

    def Height(self):
        return H

    def BitDepth(self):
        return 8

    def GetNvCodecId(self):
        return "cudaVideoCodec.H264"

    def FrameRate(self):
        return 25.0

    def __iter__(self):
        yield type("Packet", (), {"bsl": 0})()


class _FakeDecoder:
    def Decode(self, packet):
        raise ValueError("cuvidDecodePicture failed")


@pytest.mark.parametrize(
    "fail, complaint",
    [("demuxer", "cannot open"), ("decoder", "cannot start NVDEC"), ("decode", "decoding .* with NVDEC failed")],
)
def test_nvdec_failures_are_source_errors(clips, monkeypatch, fail, complaint):
    monkeypatch.setattr("cuframes.sources.nvdec.import_nvc", lambda: FakeNvc(fail))
    with pytest.raises(SourceError, match=complaint) as caught:
        with NvdecFileSource(str(clips("h264.mp4"))) as source:
            run_publish(source, FakePublisher(), pace=False)
    assert str(caught.value.__cause__) in str(caught.value)


def test_nvdec_refuses_folders_and_inputs_without_timestamps(clips, monkeypatch, tmp_path):
    monkeypatch.setattr("cuframes.sources.nvdec.import_nvc", lambda: FakeNvc("none"))
    with pytest.raises(UnsupportedSourceError, match="folder"):
        NvdecFileSource(str(tmp_path))
    with pytest.raises(UnsupportedSourceError, match="MP4/MKV"):
        NvdecFileSource(str(clips("h264.h264")))


def test_a_looped_file_without_pictures_is_an_error_not_a_spin(clips, monkeypatch):
    monkeypatch.setattr("cuframes.sources.file.PyAVSession.items", lambda self, timeline: iter(()))
    with FileSource(str(clips("h264.mp4")), loop=True) as source:
        with pytest.raises(UnsupportedSourceError, match="nothing to loop"):  # as NvdecFileSource says it
            list(source)


@pytest.mark.gpu
@pytest.mark.timeout(60)
def test_nvdec_frames_match_cpu_decoding(clips, make_key, cf_dir):
    """NVDEC and libavcodec decode H.264 bit-exactly: the frames that went through
    NVDEC and the cuda publisher must equal the CPU-decoded ones, pts for pts."""
    if not _has_pynvvideocodec():
        pytest.skip("PyNvVideoCodec is not installed (pip install cuframes[nvdec])")
    clip = str(clips("h264.mp4"))
    with FileSource(clip) as cpu_source:
        cpu = FakePublisher()
        run_publish(cpu_source, cpu, pace=False)
    expected = {pts: data for data, pts in cpu.frames}
    count = 8  # fewer than the slots: every frame stays readable after the run
    key = make_key("nvdec")
    with (
        NvdecFileSource(clip) as source,
        cuframes.Publisher(key, source.width, source.height, "nv12", backend="cuda", slots=count + 2) as pub,
        cuframes.Subscriber(key, connect_timeout=10, delivery="sequential") as sub,
    ):
        recorder = FakePublisher()

        class Both:  # the real publisher for frames, the recorder for packets
            def send(self, src, *, pts=0):
                return pub.send(src, pts=pts)

            publish_packet = recorder.publish_packet

        stats = run_publish(source, Both(), pace=False, max_frames=count)
        assert stats.frames == count
        for _ in range(count):
            with sub.next(timeout=10) as frame:
                assert frame.to_numpy().tobytes() == expected[frame.pts], f"frame pts {frame.pts} differs"
    assert all(is_annexb(p.data) for p in recorder.packets)
    assert recorder.packets[0].keyframe and has_parameter_sets(recorder.packets[0].data, "h264")


# --------------------------------------------------------------------------------------
# Into a real cuframes.Publisher
# --------------------------------------------------------------------------------------


@pytest.mark.skipif(
    not hasattr(cuframes.Publisher, "publish_packet"),
    reason="this cuframes build has no packet ring yet (Publisher.publish_packet)",
)
@pytest.mark.timeout(60)
def test_testsrc_through_a_real_publisher_joins_frames_and_packets(make_key, cf_dir, backend):
    count = 8  # fewer than the slots: every frame stays readable after the run
    pattern = TestPattern("nv12", W, H)
    key = make_key("src")
    with (
        TestPatternSource(W, H, 25, gop=4) as source,
        cuframes.Publisher(
            key,
            W,
            H,
            "nv12",
            backend=backend,
            slots=count + 2,
            packet_ring_bytes=1 << 20,
            description=source.description,
        ) as pub,
        cuframes.Subscriber(key, connect_timeout=10, delivery="sequential") as sub,
        cuframes.PacketSubscriber(key, connect_timeout=10) as packet_sub,
    ):
        stats = run_publish(source, pub, pace=False, max_frames=count)
        assert (stats.frames, stats.packets) == (count, count)
        frame_pts = []
        for index in range(count):
            with sub.next(timeout=10) as frame:
                assert pattern.check(index, frame.to_numpy().reshape(-1)) == []
                frame_pts.append(frame.pts)
        packets = [packet_sub.next(timeout=10) for _ in range(count)]
    assert frame_pts == [source.pts(n) for n in range(count)]
    assert [p.pts for p in packets] == frame_pts, "each packet has its frame's pts"
    assert [p.keyframe for p in packets] == [n % 4 == 0 for n in range(count)]
    decoded = decode_packets([VideoPacket(p.data, p.pts, p.dts, p.keyframe, "h264") for p in packets], "h264")
    assert [pattern.decode_stamps(f)[0] for f in decoded] == list(range(count))
