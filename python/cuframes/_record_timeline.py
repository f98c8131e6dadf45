"""One recording timeline over the packets of a stream: through outages, losses
and producer restarts, in one time base."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction

from .packets import Packet

__all__ = ["RecordingTimeline", "Stamp", "FALLBACK_TIME_BASE", "DEFAULT_GAP_S"]

log = logging.getLogger("cuframes.record")

#: The time base assumed for a producer that states none: the 90 kHz clock of
#: MPEG-TS and RTP, which most cameras' timestamps count.
FALLBACK_TIME_BASE = Fraction(1, 90_000)
#: Seconds of the producer's clock between two packets, beyond what their
#: timestamps say, that count as an outage.
DEFAULT_GAP_S = 1.0


@dataclass(frozen=True)
class Stamp:
    """A packet's place on the recording timeline (time-base units, 0 = the first packet's pts)."""

    pts: int
    dts: int
    #: seconds of wall-clock time put before this packet because the stream's
    #: own timestamps did not count them (an outage, a producer restart); 0 otherwise
    gap: float = 0.0


class RecordingTimeline:
    """Maps each producer's pts and dts onto one increasing timeline.

    The producer's timestamps are kept as they are (rescaled to the recording's
    time base), so B-frames keep their order and a producer whose pts jump over
    an outage (an RTSP camera's source does) keeps that gap. The timeline is
    re-anchored where the timestamps cannot be followed: a restarted producer
    (its pts may start again from 0), timestamps that go back, and an outage
    the timestamps do not show (more than ``gap_threshold`` seconds of the
    producer's own clock, the packets' CLOCK_MONOTONIC write times, between two
    packets whose dts are closer). The next packet then comes as long after the
    previous one as it did on that clock: the outage stays a gap, never
    collapsed.
    """

    def __init__(
        self, time_base: Fraction, *, frame_rate: Fraction | None, gap_threshold: float = DEFAULT_GAP_S
    ) -> None:
        self.time_base = time_base
        self._gap_threshold = gap_threshold
        self._frame_ticks = max(1, round(1 / (frame_rate * time_base))) if frame_rate else 1
        self._offset: int | None = None
        self._last_in_dts = 0  # the previous packet's dts, rescaled, before the offset
        self._last_ns = 0
        self._last_dts = 0  # on the timeline
        self._latest_pts = 0  # the largest pts on the timeline so far
        self._warned_order = False

    def _rescaled(self, ts: int, time_base: Fraction | None) -> int:
        if time_base is None or time_base == self.time_base:
            return ts
        return round(ts * time_base / self.time_base)

    def place(self, packet: Packet) -> Stamp:
        """The packet's pts and dts on the timeline, and the gap put before it."""
        time_base = packet.time_base or FALLBACK_TIME_BASE
        pts, dts = self._rescaled(packet.pts, time_base), self._rescaled(packet.dts, time_base)
        gap = 0.0
        if self._offset is None:
            self._offset = -pts  # the recording starts at its first packet's pts
            self._last_dts = dts - pts - 1
            self._latest_pts = -1
        else:
            wall = (packet.timestamp_ns - self._last_ns) / 1e9
            stream = float((dts - self._last_in_dts) * self.time_base)
            if packet.reconnected or stream < 0 or wall - stream > self._gap_threshold:
                ticks = max(self._frame_ticks, round(wall / self.time_base))
                # After the previous dts by the wall-clock time between them, and
                # after every pts so far, so that nothing overlaps.
                self._offset = max(self._last_dts + ticks - dts, self._latest_pts + self._frame_ticks - pts)
                gap = max(0.0, wall - float(self._frame_ticks * self.time_base))
        self._last_in_dts, self._last_ns = dts, packet.timestamp_ns
        out_pts, out_dts = pts + self._offset, dts + self._offset
        if out_dts <= self._last_dts or out_pts < out_dts:
            # A producer that gives no dts (they default to the pts) with B-frames: the
            # muxers need increasing dts, at most the pts.
            if not self._warned_order:
                log.warning(
                    "the producer's dts do not increase or exceed the pts (a B-frame stream published "
                    "without its dts?); they are adjusted, and frames may show out of order"
                )
                self._warned_order = True
            out_dts = self._last_dts + 1
            out_pts = max(out_pts, out_dts)
        self._last_dts = out_dts
        self._latest_pts = max(self._latest_pts, out_pts)
        return Stamp(out_pts, out_dts, gap)

    def seconds(self, ticks: int) -> float:
        return float(ticks * self.time_base)
