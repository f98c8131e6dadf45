"""What `cuframes cat` does: a stream's frames as rawvideo, or its encoded packets as
an Annex-B elementary stream (or muxed into nut or mpegts, with their timestamps),
on a byte stream; and the ffmpeg input options that read them back."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import BinaryIO

import numpy as np

from ._formats import FFMPEG_DEMUXERS, FFMPEG_PIXEL_FORMATS
from .errors import ERR_LIMIT, DisconnectedError, Error
from .packets import Packet, PacketSubscriber
from .subscriber import Subscriber
from .urls import parse_url

__all__ = [
    "write_frames",
    "write_packets",
    "ffmpeg_input_args",
    "ffmpeg_packet_input_args",
    "PACKET_FORMATS",
    "DEFAULT_FPS",
    "LossError",
    "fail_on_loss",
]

#: --format of --packets: a raw Annex-B elementary stream (no timestamps), or a
#: container with the producer's pts and dts -> ffmpeg's muxer and demuxer.
PACKET_FORMATS = {"annexb": None, "nut": "nut", "mpegts": "mpegts"}

#: The rate --ffmpeg-args states for a stream that states none (ffmpeg's own default).
DEFAULT_FPS = 25


class LossError(Error):
    """The reader fell behind and frames or packets were lost (``cat --on-loss fail``)."""

    default_status = ERR_LIMIT


def fail_on_loss(what: str) -> Callable[[int, int], None]:
    """An on_loss callback that stops the copy at the first loss, before the item after the gap."""

    def fail(lost: int, seq: int) -> None:
        raise LossError(
            f"the reader fell behind: {lost} {what}(s) lost before {what} {seq} (the producer never "
            f"waits); read faster, or use --on-loss warn to go on"
        )

    return fail


def _subscribe(url: str, timeout: float, follow: bool = False) -> Subscriber:
    address = parse_url(url)
    # sequential: a recorder wants every frame still in the pool, in order.
    return Subscriber(address.key, dir=address.dir, connect_timeout=timeout, delivery="sequential", reconnect=follow)


def _rate(fps: float | None, stated: Fraction | None, warn: Callable[[str], None]) -> str:
    """-framerate's value: ``fps`` when given, else the stream's nominal rate (exact:
    30000/1001 stays so), else DEFAULT_FPS with a warning."""
    if fps is not None:
        return f"{fps:g}"
    if stated is not None:
        return str(stated.numerator) if stated.denominator == 1 else f"{stated.numerator}/{stated.denominator}"
    warn(
        f"the stream states no frame rate (a variable rate, or an older producer); -framerate {DEFAULT_FPS} "
        f"assumed: give --fps to state it"
    )
    return str(DEFAULT_FPS)


def ffmpeg_input_args(
    url: str, *, fps: float | None = None, timeout: float, warn: Callable[[str], None] = lambda message: None
) -> list[str]:
    """``-f rawvideo -pix_fmt ... -video_size WxH -framerate RATE -i -`` for the stream at url.
    RATE: ``fps`` when given, else the producer's nominal rate, else 25 (``warn`` says so)."""
    with _subscribe(url, timeout) as sub:
        return [
            "-f",
            "rawvideo",
            "-pix_fmt",
            FFMPEG_PIXEL_FORMATS[sub.format],
            "-video_size",
            f"{sub.width}x{sub.height}",
            "-framerate",
            _rate(fps, sub.frame_rate, warn),
            "-i",
            "-",
        ]


def write_frames(
    url: str,
    out: BinaryIO,
    *,
    count: int | None,
    timeout: float,
    follow: bool = False,
    idle_timeout: float | None = None,
    on_loss: Callable[[int, int], None] = lambda lost, seq: None,
) -> int:
    """Writes each frame, packed, to out until count frames, or the producer closes
    (with ``follow``, across producer restarts instead). ``timeout`` bounds the wait
    for the producer and its first frame; after that each frame is waited for
    ``idle_timeout`` seconds (None: as long as the producer lives, as a recorder
    wants through a camera's outage). Frames come in order, the oldest unread
    first; a reader more than the pool behind loses the frames overwritten
    meanwhile: on_loss(lost, seq of the next frame) is called before that frame
    is written (it may raise to stop). Returns how many were written."""
    written = 0
    with _subscribe(url, timeout, follow) as sub:
        buffer = np.empty(sub.packed_size, dtype=np.uint8)
        while count is None or written < count:
            try:
                info = sub.read_into(buffer, timeout=timeout if written == 0 else idle_timeout)
            except DisconnectedError:
                break
            if info.missed and written:  # the first frame's count is what came before we joined
                on_loss(info.missed, info.seq)
            out.write(buffer.data)  # the array's memoryview: no copy
            written += 1
        out.flush()
    return written


def _subscribe_packets(url: str, timeout: float, follow: bool = False) -> PacketSubscriber:
    address = parse_url(url)
    return PacketSubscriber(address.key, dir=address.dir, connect_timeout=timeout, reconnect=follow)


def ffmpeg_packet_input_args(
    url: str,
    *,
    fps: float | None = None,
    timeout: float,
    format: str = "annexb",
    warn: Callable[[str], None] = lambda message: None,
) -> list[str]:
    """``-f h264|hevc -framerate RATE -i -`` for the packets at url (the codec
    is the first packet's: it waits for one; RATE as in ffmpeg_input_args), or
    ``-f nut|mpegts -i -`` for the muxed formats, which carry their timestamps."""
    muxer = PACKET_FORMATS[format]
    if muxer is not None:
        return ["-f", muxer, "-i", "-"]
    with _subscribe_packets(url, timeout) as sub:
        codec = sub.next(timeout).codec
        rate = _rate(fps, sub.frame_rate, warn)
    return ["-f", FFMPEG_DEMUXERS[codec], "-framerate", rate, "-i", "-"]


def write_packets(
    url: str,
    out: BinaryIO,
    *,
    count: int | None,
    timeout: float,
    follow: bool = False,
    idle_timeout: float | None = None,
    on_loss: Callable[[int, int], None] = lambda lost, seq: None,
    on_reconnect: Callable[[], None] = lambda: None,
    format: str = "annexb",
) -> int:
    """Writes each packet (Annex-B) to out until count packets, or the producer
    closes (with ``follow``, across producer restarts instead: on_reconnect is
    called and the stream goes on at the new producer's first keyframe). The
    stream starts at a keyframe with its parameter sets, so it decodes from
    the first byte; after falling behind it resumes at a keyframe and
    on_loss(lost packets, seq) is called before it is written. ``timeout`` and ``idle_timeout`` as in
    write_frames. ``format`` "nut" or "mpegts" muxes them with the producer's
    pts and dts (on one timeline through outages and restarts, as the
    recorder's). Returns how many were written."""
    written = 0
    muxer = PACKET_FORMATS[format]
    sink: _TimedSink | None = None
    with _subscribe_packets(url, timeout, follow) as sub:
        try:
            while count is None or written < count:
                try:
                    packet = sub.next(timeout if written == 0 else idle_timeout)
                except DisconnectedError:
                    break
                if packet.reconnected:
                    on_reconnect()
                if packet.overruns:
                    on_loss(packet.overruns, packet.seq)
                if muxer is None:
                    out.write(packet.data)
                else:
                    sink = sink or _TimedSink(out, muxer, packet, sub)
                    sink.write(packet)
                written += 1
        finally:
            if sink is not None:
                sink.close()
        out.flush()
    return written


class _TimedSink:
    """Packets muxed into a streaming container on ``out``, stamped on one timeline."""

    def __init__(self, out: BinaryIO, muxer: str, first: Packet, sub: PacketSubscriber) -> None:
        from ._mux import MuxedFile
        from ._record_timeline import FALLBACK_TIME_BASE, RecordingTimeline

        self._out = out
        self._timeline = RecordingTimeline(first.time_base or FALLBACK_TIME_BASE, frame_rate=sub.frame_rate)
        self._file = MuxedFile(
            out, muxer, keyframe=first.data, codec=first.codec, time_base=self._timeline.time_base, facts=sub.facts
        )

    def write(self, packet: Packet) -> None:
        stamp = self._timeline.place(packet)
        self._file.write(packet.data, stamp.pts, stamp.dts, packet.keyframe)
        self._out.flush()  # a live pipe: ffmpeg gets each packet as it comes

    def close(self) -> None:
        self._file.close()
