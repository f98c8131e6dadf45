"""Feeds a source's items to a publisher: frames to the frame ring, packets to the
packet ring, paced in real time for sources that are not live, with limits and counts."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import InvalidArgumentError
from .items import SourceHealth, SourceItem, VideoFrame, VideoPacket, VideoSource
from .source_reader import END, SourceReader

__all__ = ["run_publish", "PublishStats", "PacketPublisher"]

# A non-live source running this far behind its clock (a slow decode, a paused
# process) restarts the clock instead of bursting to catch up.
_MAX_LAG_S = 1.0
_FPS_WINDOW_S = 2.0
# How often the loop looks at its limits, ``stop`` and the progress while no item comes.
_POLL_S = 0.1
# How long a stopped run waits for the reader to finish (it is left behind when in a blocking read).
_JOIN_S = 0.25
# With max_frames reached, the run also ends when the source gives nothing for this
# long (a camera away), instead of waiting for a next frame to stop at.
_QUIET_S = 1.0

log = logging.getLogger("cuframes.sources")


class PacketPublisher(Protocol):
    """What run_publish needs of a publisher (cuframes.Publisher has it)."""

    def send(self, src: Any, *, pts: int = 0) -> int: ...

    def publish_packet(
        self, data: bytes, *, pts: int, dts: int | None = None, keyframe: bool = False, codec: str = "h264"
    ) -> int: ...


@dataclass
class PublishStats:
    """What a run published; handed to ``on_progress`` while it runs, returned at the end."""

    frames: int = 0
    packets: int = 0
    packet_bytes: int = 0
    keyframes: int = 0
    #: Packets not published: the publisher has no packet ring, or the packet is too large for it.
    packets_dropped: int = 0
    #: Of those, packets larger than the packet ring takes (half its size).
    packets_too_large: int = 0
    started: float = field(default_factory=time.monotonic)
    elapsed: float = 0.0
    #: Frames per second over the last couple of seconds.
    fps: float = 0.0
    #: Why the run ended: "frames", "duration", "stopped", "interrupted" or "end of source"
    #: ("" while it runs).
    ended: str = ""
    health: SourceHealth = field(default_factory=SourceHealth)
    _recent: list[float] = field(default_factory=list, repr=False)

    def _count_frame(self, now: float) -> None:
        self.frames += 1
        self._recent.append(now)
        while self._recent and now - self._recent[0] > _FPS_WINDOW_S:
            self._recent.pop(0)
        span = self._recent[-1] - self._recent[0]
        self.fps = (len(self._recent) - 1) / span if span > 0 else 0.0

    def summary(self) -> str:
        """One line: frames, fps, packets, reconnects, seconds lost, how it ended."""
        average = self.frames / self.elapsed if self.elapsed > 0 else 0.0
        line = (
            f"{self.frames} frames in {self.elapsed:.1f} s ({average:.1f} fps), {self.packets} packets "
            f"({self.packet_bytes / 1e6:.1f} MB, {self.keyframes} keyframe(s))"
        )
        if self.packets_too_large:
            line += f", {self.packets_too_large} packets dropped (too large for the packet ring)"
        if self.packets_dropped > self.packets_too_large:
            line += f", {self.packets_dropped - self.packets_too_large} packets dropped (no packet ring)"
        if self.health.reconnects or self.health.failed_attempts:
            line += f", {self.health.reconnects} reconnects, {self.health.seconds_lost:.1f} s lost"
        return line + (f"; {self.ended}" if self.ended else "")


class _Pacer:
    """Holds each frame until its pts is due on the wall clock (times ``speed``)."""

    def __init__(self, time_base: Any, speed: float, clock: Callable[[], float], wait: Callable[[float], bool]) -> None:
        self._time_base = time_base
        self._speed = speed
        self._clock, self._wait = clock, wait
        self._origin: tuple[float, int] | None = None  # (wall time, pts) the clock started at

    def wait_for(self, pts: int) -> bool:
        """Waits until ``pts`` is due; False when the wait was interrupted (stop)."""
        now = self._clock()
        if self._origin is None:
            self._origin = (now, pts)
            return True
        wall0, pts0 = self._origin
        due = wall0 + float((pts - pts0) * self._time_base) / self._speed
        if due - now > 0:
            return not self._wait(due - now)
        if now - due > _MAX_LAG_S:
            self._origin = (now, pts)
        return True


def run_publish(
    source: VideoSource,
    publisher: PacketPublisher,
    *,
    pace: bool = True,
    speed: float = 1.0,
    publish_packets: bool = True,
    max_frames: int | None = None,
    duration: float | None = None,
    stop: threading.Event | None = None,
    on_progress: Callable[[PublishStats], None] | None = None,
    progress_interval: float = 0.25,
    clock: Callable[[], float] = time.monotonic,
) -> PublishStats:
    """Publishes ``source``'s frames (``publisher.send``) and packets
    (``publisher.publish_packet``) until it ends, ``max_frames`` frames were
    published, ``duration`` seconds passed, or ``stop`` is set.

    ``pace``: sources that are not live are held to their own rate (pts), times
    ``speed``; live sources always go as they come. ``publish_packets=False``
    (a publisher without a packet ring) counts packets as dropped instead, and so
    is a packet too large for the packet ring (with one warning).
    With ``max_frames``, the packets of the last frame are still published: the
    run stops at the next frame, or after a second without any item. ``on_progress``
    gets the stats at most every ``progress_interval`` seconds, and once at the end.

    The source is read in a daemon thread (see SourceReader), so the limits,
    ``stop`` and the progress are checked every few tenths of a second even while
    the source is blocked (a camera away or stalled). Ctrl-C (KeyboardInterrupt)
    ends the run like ``stop``, with ``ended == "interrupted"``, so the caller
    still gets the counts. The run closes the source when it ends: a read in
    progress in the reader cannot be taken back, so the source cannot be iterated again.
    """
    stop = stop or threading.Event()
    stats = PublishStats(started=clock(), health=source.health)
    pacer = _Pacer(source.time_base, speed, clock, stop.wait) if pace and not source.live else None
    deadline = stats.started + duration if duration is not None else None
    next_progress = stats.started
    reader = SourceReader(source)
    last_item_at = stats.started
    try:
        while True:
            now = clock()
            if on_progress is not None and now >= next_progress:
                stats.elapsed = now - stats.started
                on_progress(stats)
                next_progress = now + progress_interval
            if stop.is_set():
                stats.ended = "stopped"
                break
            if deadline is not None and now >= deadline:
                stats.ended = "duration"
                break
            wait = _POLL_S if deadline is None else max(0.0, min(_POLL_S, deadline - now))
            item = reader.get(timeout=wait)
            if item is END:
                break
            if item is None:
                if max_frames is not None and stats.frames >= max_frames and clock() - last_item_at >= _QUIET_S:
                    stats.ended = "frames"
                    break
                continue
            last_item_at = clock()
            if stop.is_set():
                stats.ended = "stopped"
                break
            if isinstance(item, VideoFrame):
                try:
                    if not _publish_frame(item, publisher, pacer, max_frames, stats, clock):
                        break
                finally:
                    reader.frame_done()
            elif isinstance(item, VideoPacket):
                _publish_packet(item, publisher, publish_packets, stats)
    except KeyboardInterrupt:
        stats.ended = "interrupted"
    finally:
        reader.stop()
        source.close()  # ends a backoff wait, and the iteration at its next item
        reader.join(_JOIN_S)  # a reader in a blocking read is left behind: it is a daemon
    stats.ended = stats.ended or "end of source"
    stats.elapsed = clock() - stats.started
    if on_progress is not None:
        on_progress(stats)
    return stats


def placed_pts(item: SourceItem) -> int:
    """The pts of an item a source yielded: its TimestampFiller gave it one."""
    if item.pts is None:
        raise AssertionError(f"a source yielded an item without a pts: {item!r}")
    return item.pts


def _publish_frame(
    frame: VideoFrame,
    publisher: PacketPublisher,
    pacer: _Pacer | None,
    max_frames: int | None,
    stats: PublishStats,
    clock: Callable[[], float],
) -> bool:
    """Publishes one frame when it is due; False (and ``stats.ended`` set) when the run ends instead."""
    if max_frames is not None and stats.frames >= max_frames:
        stats.ended = "frames"
        return False
    pts = placed_pts(frame)
    if pacer is not None and not pacer.wait_for(pts):
        stats.ended = "stopped"
        return False
    publisher.send(frame.data, pts=pts)
    stats._count_frame(clock())
    return True


def _publish_packet(
    packet: VideoPacket, publisher: PacketPublisher, publish_packets: bool, stats: PublishStats
) -> None:
    if not publish_packets:
        stats.packets_dropped += 1
        return
    try:
        publisher.publish_packet(
            packet.data, pts=placed_pts(packet), dts=packet.dts, keyframe=packet.keyframe, codec=packet.codec
        )
    except InvalidArgumentError as error:
        # One huge access unit (a 4K keyframe) must not end the run: the frames still
        # go out, and the packet ring starts again at the next keyframe that fits.
        if "exceeds the largest" not in str(error):
            raise
        stats.packets_dropped += 1
        stats.packets_too_large += 1
        if stats.packets_too_large == 1:
            log.warning(
                "a %d-byte packet does not fit the packet ring (%s); dropping such packets: give a larger "
                "--packet-ring-bytes (packet_ring_bytes), at least twice the largest keyframe",
                len(packet.data),
                error,
            )
        return
    stats.packets += 1
    stats.packet_bytes += len(packet.data)
    stats.keyframes += packet.keyframe
