"""One opened PyAV input (a pass over a file, or one RTSP connection): demuxes its
first video stream into Annex-B access units and decodes it on the CPU into packed NV12."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from fractions import Fraction
from typing import Any

import numpy as np

from ..stream_facts import ColorInfo, StreamFacts
from .annexb import has_parameter_sets, is_annexb, is_length_prefixed, starts_random_access
from .errors import DecoderUnavailableError, UnsupportedSourceError
from .items import Codec, SourceItem, VideoFrame, VideoPacket
from .timeline import PtsTimeline, ticks_per_frame
from .timestamps import TimestampFiller

__all__ = ["import_av", "PyAVSession", "PACKET_CODECS", "adopt_stream_facts", "stream_facts_of"]

log = logging.getLogger("cuframes.sources")

#: PyAV codec name -> the packet ring's codec name.
PACKET_CODECS: dict[str, Codec] = {"h264": "h264", "hevc": "hevc"}  # tests/test_formats.py: == CODECS


def import_av() -> Any:
    """PyAV, or an error that says how to install it (imported late: only these sources need it)."""
    try:
        import av
    except ImportError as error:
        raise DecoderUnavailableError(
            f"reading video files and RTSP needs PyAV, which is not installed ({error}): pip install av"
        ) from error
    return av


def adopt_stream_facts(source: Any, first: PyAVSession) -> None:
    """Gives a PyAV-backed source the facts of its first session: size, rate,
    time base, codec, and the pts timeline later sessions (loops, reconnects)
    continue. Later sessions must keep the size (``source._out_size``)."""
    source.width, source.height = source._out_size = (first.width, first.height)
    source.fps = first.fps
    source.time_base = first.time_base
    source.facts = first.facts
    source.codec = first.codec
    source.codec_name = first.codec_name
    source._timeline = PtsTimeline(ticks_per_frame(first.fps, first.time_base))


def _code_point(value: Any, kind: str) -> int | None:
    """FFmpeg's int for a colour fact, or None (unspecified) for one ColorInfo does not take."""
    try:
        ColorInfo(**{kind: int(value)})
    except Exception:
        return None
    return int(value)


def color_of(context: Any) -> ColorInfo:
    """The colour a decoder context reports; a JPEG-range pixel format (yuvj420p) is full range."""
    color_range = _code_point(context.color_range, "range")
    if str(getattr(context, "pix_fmt", "") or "").startswith("yuvj"):
        color_range = 2
    return ColorInfo(
        matrix=_code_point(context.colorspace, "matrix"),
        range=color_range,
        primaries=_code_point(context.color_primaries, "primaries"),
        transfer=_code_point(context.color_trc, "transfer"),
    )


def stream_facts_of(stream: Any, time_base: Fraction) -> StreamFacts:
    """The facts of a PyAV video stream whose items are published in ``time_base``
    units: the container's nominal rate, the codec's colours and aspect ratio."""
    context = stream.codec_context
    rate = stream.average_rate or stream.guessed_rate
    aspect = context.sample_aspect_ratio or stream.sample_aspect_ratio
    return StreamFacts.of(time_base=time_base, frame_rate=rate, color=color_of(context), sample_aspect_ratio=aspect)


class _AnnexB:
    """Turns a stream's packets into Annex-B access units with in-band parameter sets.

    MP4/MKV packets are length-prefixed (avcC/hvcC extradata): FFmpeg's
    mp4toannexb filter rewrites them and inserts SPS/PPS before each keyframe.
    Annex-B inputs (RTSP, .h264 files) may keep their parameter sets out of band
    (the SDP's sprop-parameter-sets): those are put back before keyframes that lack them.
    """

    def __init__(self, av: Any, stream: Any, codec: Codec) -> None:
        self.codec = codec
        extradata = stream.codec_context.extradata
        self._filter = None
        self._parameter_sets = b""
        if is_length_prefixed(extradata):
            self._filter = av.bitstream.BitStreamFilterContext(f"{codec}_mp4toannexb", stream)
        elif extradata and is_annexb(extradata):
            self._parameter_sets = bytes(extradata)

    def convert(self, packet: Any) -> Iterator[tuple[bytes, int | None, int | None, bool]]:
        for out in self._filter.filter(packet) if self._filter is not None else (packet,):
            data = bytes(out)
            if not data:
                continue
            keyframe = bool(out.is_keyframe) or starts_random_access(data, self.codec)
            if keyframe and self._parameter_sets and not has_parameter_sets(data, self.codec):
                data = self._parameter_sets + data
            yield data, out.pts, out.dts, keyframe


class PyAVSession:
    """An open input. ``width``/``height`` are the input's (rounded down to even);
    frames come out scaled to ``out_size`` when given (a later session of a camera
    whose resolution changed still fills the publisher's slots)."""

    def __init__(
        self,
        url: str,
        *,
        options: dict[str, str],
        timeout: tuple[float, float] | None,
        out_size: tuple[int, int] | None = None,
        frame_threads: bool = False,
        count_missing_timestamps: bool = True,
        name: str | None = None,
    ) -> None:
        av = import_av()
        self._av = av
        self.url = url
        self.name = name or url  # for messages: a URL without its password
        self.container = av.open(url, options=options, timeout=timeout)
        try:
            if not self.container.streams.video:
                raise UnsupportedSourceError(f"{self.name} has no video stream")
            self.stream = self.container.streams.video[0]
            context = self.stream.codec_context
            if frame_threads:
                context.thread_type = "AUTO"  # throughput for files; live input keeps slice threads (no frame delay)
            self.codec_name = context.name
            self.codec: Codec | None = PACKET_CODECS.get(context.name)
            self.width, self.height = int(context.width) & ~1, int(context.height) & ~1
            if self.width <= 0 or self.height <= 0:
                raise UnsupportedSourceError(
                    f"{self.name}: the video stream's size is unknown ({context.width}x"
                    f"{context.height}); is it a video at all?"
                )
            self.out_width, self.out_height = out_size or (self.width, self.height)
            self.time_base: Fraction = self.stream.time_base or Fraction(1, 90_000)
            rate = self.stream.average_rate or self.stream.guessed_rate or self.stream.base_rate
            self.fps = float(rate) if rate else 25.0
            self.facts = stream_facts_of(self.stream, self.time_base)
            self._annexb = _AnnexB(av, self.stream, self.codec) if self.codec else None
        except BaseException:
            self.container.close()
            raise
        self.frames = 0
        self.packets = 0
        self._timestamps = TimestampFiller(
            ticks_per_frame(self.fps, self.time_base), count_from_zero=count_missing_timestamps
        )
        self._decode_errors = 0
        # Only inputs whose timestamps get counted (files) can be warned about (RTSP's come later).
        self._warned_reordering = not count_missing_timestamps

    def items(self, timeline: PtsTimeline) -> Iterator[SourceItem]:
        """Packets and frames, their timestamps filled in (see TimestampFiller) and
        mapped onto ``timeline``, until the input ends (read errors propagate as
        PyAV's exceptions: the caller knows whether they are fatal)."""
        for raw in self._raw_items():
            for item in self._timestamps.place(raw):
                if isinstance(item, VideoPacket):
                    pts, dts = timeline.map_packet(item.pts, item.dts)
                    self.packets += 1
                    yield replace(item, pts=pts, dts=dts)
                else:
                    self.frames += 1
                    yield replace(item, pts=timeline.map_frame(item.pts))

    def _raw_items(self) -> Iterator[SourceItem]:
        """Packets and frames with the input's own timestamps (None where it has none)."""
        for packet in self.container.demux(self.stream):
            if packet.size == 0:  # the end: drain the decoder's delayed frames
                yield from self._decode(None)
                return
            # Decoded first: the mp4toannexb filter takes the packet's data away.
            frames = list(self._decode(packet))
            if self._annexb is not None:
                for data, pts, dts, keyframe in self._annexb.convert(packet):
                    yield VideoPacket(data, pts, dts, keyframe, self._annexb.codec)
            yield from frames

    def _decode(self, packet: Any) -> Iterator[VideoFrame]:
        try:
            frames = self.stream.codec_context.decode(packet)
        except self._av.error.InvalidDataError as error:
            # A damaged packet, or a camera stream joined between keyframes: skip, keep going.
            self._decode_errors += 1
            if self._decode_errors == 1:
                log.warning(
                    "%s: a packet did not decode (%s); skipping such packets", self.name, error.strerror or error
                )
            return
        if packet is not None and not self._warned_reordering:
            self._warn_if_reordered_without_timestamps(packet)
        for frame in frames:
            yield VideoFrame(self._packed_nv12(frame), frame.pts)

    def _warn_if_reordered_without_timestamps(self, packet: Any) -> None:
        """Counted timestamps (see TimestampFiller) number packets in decode order and
        frames in display order: with B-frames, a packet and the frame of the same
        pts are then not the same picture. Said once, for such inputs only."""
        if packet.pts is None and packet.dts is None and self.stream.codec_context.has_b_frames:
            self._warned_reordering = True
            log.warning(
                "%s has no timestamps and reorders frames (B-frames): its packets and frames get counted "
                "pts that may not match picture for picture; an MP4/MKV keeps them joined",
                self.name,
            )

    def _packed_nv12(self, frame: Any) -> np.ndarray:
        # The same range on both sides: swscale then keeps the samples' range (a
        # yuvj420p input stays full range), which is the one the facts announce.
        kept_range = self.facts.color.range or None
        converted = frame.reformat(
            width=self.out_width,
            height=self.out_height,
            format="nv12",
            src_color_range=kept_range,
            dst_color_range=kept_range,
        )
        # (height * 3/2, width): the Y rows then the UV rows, without the decoder's row padding.
        return np.ascontiguousarray(converted.to_ndarray()).reshape(-1)

    def close(self) -> None:
        self.container.close()
