"""One increasing pts timeline over the passes of a looped file and the sessions
of a reconnected camera."""

from __future__ import annotations

from fractions import Fraction

__all__ = ["PtsTimeline", "ticks_per_frame"]


def ticks_per_frame(fps: float, time_base: Fraction) -> int:
    """One frame's duration in ``time_base`` units (at least 1)."""
    return max(1, round(1 / (Fraction(fps).limit_denominator(1_000_000) * time_base)))


class PtsTimeline:
    """Shifts each segment's timestamps so the published pts keep growing.

    Every pass over a file starts again at its first timestamp, and a camera's
    new RTSP session starts wherever its clock says; but subscribers expect pts
    to grow, and a frame and its packet must keep sharing one pts. So all the
    timestamps of a segment move by one offset, chosen at the segment's first
    timestamp: the segment begins one frame after the latest timestamp so far,
    plus the gap (time without pictures) when there was one. The first segment
    keeps its own timestamps.
    """

    def __init__(self, frame_ticks: int) -> None:
        self._frame_ticks = max(1, int(frame_ticks))
        self._offset = 0
        self._latest: int | None = None
        self._pending_gap: int | None = None  # set by new_segment(), used at its first timestamp

    def new_segment(self, gap_ticks: int = 0) -> None:
        """The next timestamp starts a segment; ``gap_ticks`` of lost time go before it."""
        self._pending_gap = max(0, int(gap_ticks))

    def map_packet(self, pts: int | None, dts: int | None) -> tuple[int | None, int | None]:
        # Anchor on the earlier of the two: a dts before the pts must not land before the previous segment.
        self._anchor(min((t for t in (pts, dts) if t is not None), default=None))
        return self._shift(pts), self._shift(dts)

    def map_frame(self, pts: int | None) -> int | None:
        self._anchor(pts)
        return self._shift(pts)

    def _anchor(self, first: int | None) -> None:
        if self._pending_gap is None or first is None:
            return
        if self._latest is not None:
            self._offset = self._latest + self._frame_ticks + self._pending_gap - first
        self._pending_gap = None

    def _shift(self, ts: int | None) -> int | None:
        if ts is None:
            return None
        out = ts + self._offset
        if self._latest is None or out > self._latest:
            self._latest = out
        return out
