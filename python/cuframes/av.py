"""PyAV over a stream's packet ring: ``cuframes.av.open("cuframes://cam1")``.

The packets are fed to FFmpeg's H.264/H.265 elementary-stream demuxer through a
file object, so the result is an ordinary PyAV input container: decode it,
remux it (``-c copy`` style), seek nowhere. It starts at a keyframe with the
parameter sets in front of it. An elementary stream carries no timestamps, so
``demux()`` and ``decode()`` give each packet the pts and dts the producer
published with it (the demuxer returns access units in the order they were
written), and the video stream takes the producer's stream facts: its
``time_base`` (FFmpeg's raw demuxer would say 1/1200000), its nominal rate
(``average_rate``) and, in the codec context, its colours and aspect ratio. So
``packet.time``, ``frame.time`` and remuxed files come out right. Needs PyAV
(``pip install av``); not imported by ``import cuframes``.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Iterator
from typing import Any

from ._formats import FFMPEG_DEMUXERS
from ._handle import Handle
from ._mux import apply_facts
from .errors import DisconnectedError, ProducerDiedError
from .packets import Packet, PacketSubscriber
from .stream_facts import StreamFacts
from .urls import parse_url

__all__ = ["open", "PacketStream", "PacketContainer"]


class PacketStream(io.RawIOBase):
    """A stream's packets as one byte stream (Annex-B), read-only and not
    seekable; end of file when the producer closes (or after ``count``
    packets). ``overruns`` counts packets lost by falling behind; the stream
    then resumes at a keyframe."""

    def __init__(
        self, url: str, *, timeout: float | None = 10.0, count: int | None = None, idle_timeout: float | None = None
    ) -> None:
        # Set before anything can raise: IOBase's finalizer calls close() on a half-made
        # object too (3.13 reports what it raises, older versions only under -X dev).
        self._subscriber: PacketSubscriber | None = None
        super().__init__()
        address = parse_url(url)
        self._subscriber = PacketSubscriber(address.key, dir=address.dir, connect_timeout=timeout)
        self._timeout = timeout  # for the producer and the first packet; then idle_timeout
        self._idle_timeout = idle_timeout
        self._remaining = count
        self._pending = memoryview(b"")
        # (pts, dts) of each packet handed to the demuxer, oldest first.
        self.timestamps: deque[tuple[int, int]] = deque()
        self.overruns = 0
        self.packets = 0
        self.first: Packet | None = None
        try:
            self.facts: StreamFacts = self._subscriber.facts
            # The first packet says which codec this is; it is read again below.
            self.first = self._next_packet()
        except BaseException:
            self._subscriber.close()
            raise
        if self.first is not None:
            self._pending = memoryview(self.first.data)
            self.timestamps.append((self.first.pts, self.first.dts))

    @property
    def codec(self) -> str:
        return self.first.codec if self.first is not None else ""

    def _next_packet(self) -> Packet | None:
        assert self._subscriber is not None  # set in __init__ before any read
        if self._remaining is not None and self._remaining <= 0:
            return None
        try:
            packet = self._subscriber.next(self._timeout if self.packets == 0 else self._idle_timeout)
        except ProducerDiedError:
            raise  # a crash is an error, never the end of the stream (docs/reliability.md)
        except DisconnectedError:
            return None  # a clean close: end of file
        self.packets += 1
        self.overruns += packet.overruns
        if self._remaining is not None:
            self._remaining -= 1
        return packet

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        while not self._pending:
            packet = self._next_packet()
            if packet is None:
                return 0
            self._pending = memoryview(packet.data)
            self.timestamps.append((packet.pts, packet.dts))
        size = min(len(target), len(self._pending))
        target[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def close(self) -> None:
        if self._subscriber is not None:
            self._subscriber.close()
        super().close()


class PacketContainer(Handle):
    """PyAV's input container over a stream's packets, and the subscription
    behind it: closing one (or leaving the ``with`` block) closes both.
    Everything else (``streams``, ``demux``, ``decode``...) is the container's;
    ``container`` is PyAV's own object, for APIs that need it."""

    def __init__(self, container: Any, stream: PacketStream) -> None:
        self.container = container
        self.packet_stream = stream

    def __getattr__(self, name: str) -> Any:
        return getattr(self.container, name)

    def demux(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        """PyAV's demux, each packet stamped with the producer's pts, dts and time base."""
        timestamps = self.packet_stream.timestamps
        time_base = self.facts.time_base
        for packet in self.container.demux(*args, **kwargs):
            if packet.size and packet.pts is None and timestamps:
                packet.pts, packet.dts = timestamps.popleft()
                if time_base is not None:
                    packet.time_base = time_base
            yield packet

    def decode(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        """PyAV's decode, over the stamped packets: frames carry the producer's pts."""
        for packet in self.demux(*args, **kwargs):
            yield from packet.decode()

    @property
    def facts(self) -> StreamFacts:
        """The producer's stream facts (time base, nominal rate, colour, aspect ratio)."""
        return self.packet_stream.facts

    @property
    def overruns(self) -> int:
        """Packets lost so far by falling behind (the stream resumed at a keyframe)."""
        return self.packet_stream.overruns

    def _release(self) -> None:
        try:
            self.container.close()
        finally:
            self.packet_stream.close()

    def __repr__(self) -> str:
        return f"<cuframes.av.PacketContainer {self.packet_stream.codec} over {self.container!r}>"


def open(
    url: str,
    *,
    timeout: float | None = 10.0,
    count: int | None = None,
    idle_timeout: float | None = None,
    **av_options: Any,
) -> PacketContainer:
    """A PyAV input container over the packets of ``url`` (``cuframes://KEY[?dir=DIR]``
    or a bare key). ``timeout``: seconds to wait for the producer and its first
    packet; ``idle_timeout``: then for each next one (None: as long as the
    producer lives; a live input ends when its producer does). ``count``: end
    after that many packets. Other keyword arguments go to :func:`av.open`
    (e.g. ``options={"framerate": "30"}``, which the producer's nominal rate
    fills in when it has one). Close it (or use ``with``) to drop the
    subscription."""
    import av  # optional: pip install av

    stream = PacketStream(url, timeout=timeout, count=count, idle_timeout=idle_timeout)
    if stream.first is None:
        stream.close()
        raise DisconnectedError(f"the producer of {url!r} closed before its first packet")
    facts = stream.facts
    if facts.frame_rate is not None:  # the raw demuxer's rate (its default: 25)
        options = dict(av_options.get("options") or {})
        options.setdefault("framerate", f"{facts.frame_rate.numerator}/{facts.frame_rate.denominator}")
        av_options["options"] = options
    try:
        container = av.open(stream, mode="r", format=FFMPEG_DEMUXERS[stream.codec], **av_options)
        _apply_facts(container.streams.video[0], facts)
    except BaseException:
        stream.close()
        raise
    return PacketContainer(container, stream)


def _apply_facts(video: Any, facts: StreamFacts) -> None:
    """Gives PyAV's video stream the producer's facts, where the producer stated them."""
    if facts.time_base is not None:
        video.time_base = facts.time_base
    apply_facts(video.codec_context, facts)
