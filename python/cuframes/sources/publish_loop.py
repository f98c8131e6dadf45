"""Feeds a source's items to a publisher: frames to the frame ring, packets to the
packet ring, paced in real time for sources that are not live, with limits and counts."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from .items import SourceHealth, VideoFrame, VideoPacket, VideoSource

__all__ = ["run_publish", "PublishStats", "PacketPublisher"]

# A non-live source running this far behind its clock (a slow decode, a paused
# process) restarts the clock instead of bursting to catch up.
_MAX_LAG_S = 1.0
_FPS_WINDOW_S = 2.0


class PacketPublisher(Protocol):
    """What run_publish needs of a publisher (cuframes.Publisher has it)."""

    def send(self, src: Any, *, pts: int = 0) -> int: ...

    def publish_packet(self, data: bytes, *, pts: int, dts: int | None = None, keyframe: bool = False,
                       codec: str = "h264") -> int: ...


@dataclass
class PublishStats:
    """What a run published; handed to ``on_progress`` while it runs, returned at the end."""

    frames: int = 0
    packets: int = 0
    packet_bytes: int = 0
    keyframes: int = 0
    #: Packets not published: the publisher has no packet ring.
    packets_dropped: int = 0
    #: pts of the newest frame (None before the first).
    last_pts: int | None = None
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
        line = (f"{self.frames} frames in {self.elapsed:.1f} s ({average:.1f} fps), {self.packets} packets "
                f"({self.packet_bytes / 1e6:.1f} MB, {self.keyframes} keyframe(s))")
        if self.packets_dropped:
            line += f", {self.packets_dropped} packets dropped (no packet ring)"
        if self.health.reconnects or self.health.failed_attempts:
            line += f", {self.health.reconnects} reconnects, {self.health.seconds_lost:.1f} s lost"
        return line + (f"; {self.ended}" if self.ended else "")


class _Pacer:
    """Holds each frame until its pts is due on the wall clock (times ``speed``)."""

    def __init__(self, time_base: Any, speed: float, clock: Callable[[], float],
                 wait: Callable[[float], bool]) -> None:
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


def run_publish(source: VideoSource, publisher: PacketPublisher, *, pace: bool = True, speed: float = 1.0,
                publish_packets: bool = True, max_frames: int | None = None, duration: float | None = None,
                stop: threading.Event | None = None, on_progress: Callable[[PublishStats], None] | None = None,
                progress_interval: float = 0.25, clock: Callable[[], float] = time.monotonic) -> PublishStats:
    """Publishes ``source``'s frames (``publisher.send``) and packets
    (``publisher.publish_packet``) until it ends, ``max_frames`` frames were
    published, ``duration`` seconds passed, or ``stop`` is set.

    ``pace``: sources that are not live are held to their own rate (pts), times
    ``speed``; live sources always go as they come. ``publish_packets=False``
    (a publisher without a packet ring) counts packets as dropped instead.
    With ``max_frames``, the packets of the last frame are still published: the
    run stops at the next frame. ``on_progress`` gets the stats at most every
    ``progress_interval`` seconds, and once at the end.

    Ctrl-C (KeyboardInterrupt) ends the run like ``stop``, with ``ended ==
    "interrupted"``, so the caller still gets the counts. The source is left open:
    its owner closes it.
    """
    stop = stop or threading.Event()
    stats = PublishStats(started=clock(), health=source.health)
    pacer = _Pacer(source.time_base, speed, clock, stop.wait) if pace and not source.live else None
    deadline = stats.started + duration if duration is not None else None
    next_progress = stats.started
    items = iter(source)
    try:
        for item in items:
            now = clock()
            if stop.is_set():
                stats.ended = "stopped"
                break
            if deadline is not None and now >= deadline:
                stats.ended = "duration"
                break
            if isinstance(item, VideoFrame):
                if max_frames is not None and stats.frames >= max_frames:
                    stats.ended = "frames"
                    break
                if pacer is not None and not pacer.wait_for(item.pts):
                    stats.ended = "stopped"
                    break
                publisher.send(item.data, pts=item.pts)
                stats.last_pts = item.pts
                stats._count_frame(clock())
            elif isinstance(item, VideoPacket):
                if publish_packets:
                    publisher.publish_packet(item.data, pts=item.pts, dts=item.dts, keyframe=item.keyframe,
                                             codec=item.codec)
                    stats.packets += 1
                    stats.packet_bytes += len(item.data)
                    stats.keyframes += item.keyframe
                else:
                    stats.packets_dropped += 1
            if on_progress is not None and now >= next_progress:
                stats.elapsed = now - stats.started
                on_progress(stats)
                next_progress = now + progress_interval
    except KeyboardInterrupt:
        stats.ended = "interrupted"
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()  # a generator's own clean-up (its open input) runs now, not at garbage collection
    stats.ended = stats.ended or "end of source"
    stats.elapsed = clock() - stats.started
    if on_progress is not None:
        on_progress(stats)
    return stats
