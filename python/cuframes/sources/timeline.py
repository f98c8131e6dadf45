"""One increasing pts timeline over the passes of a looped file and the sessions
of a reconnected camera."""

from __future__ import annotations

from fractions import Fraction

__all__ = ["PtsTimeline", "ticks_per_frame", "rate_fraction"]


def rate_fraction(fps: float) -> Fraction:
    """A frame rate given as a float as the rational it stands for (30000/1001 stays 30000/1001)."""
    return Fraction(fps).limit_denominator(1001)


def ticks_per_frame(fps: float, time_base: Fraction) -> int:
    """One frame's duration in ``time_base`` units (at least 1)."""
    return max(1, round(1 / (Fraction(fps).limit_denominator(1_000_000) * time_base)))


class PtsTimeline:
    """Shifts each segment's timestamps so the published pts keep growing.

    Every pass over a file starts again at its first timestamp, and a camera's
    new RTSP session starts wherever its clock says; but subscribers expect pts
    to grow, and a frame and its packet must keep sharing one pts. So all the
    timestamps of a segment move by one offset, chosen at the segment's first
    timestamp: its first pts comes one frame after the latest pts so far, plus
    the gap (time without pictures) when there was one, and its first dts after
    the latest dts. The pts and the dts are followed apart: a B-frame stream's
    dts run behind its pts, and anchoring both on the earlier would leave a hole
    in the pts at each loop. The first segment keeps its own timestamps.
    """

    def __init__(self, frame_ticks: int) -> None:
        self._frame_ticks = max(1, int(frame_ticks))
        self._offset = 0
        self._latest_pts: int | None = None
        self._latest_dts: int | None = None
        self._pending_gap: int | None = None  # set by new_segment(), used at its first timestamp

    def new_segment(self, gap_ticks: int = 0) -> None:
        """The next timestamp starts a segment; ``gap_ticks`` of lost time go before it."""
        self._pending_gap = max(0, int(gap_ticks))

    def map_packet(self, pts: int | None, dts: int | None) -> tuple[int | None, int | None]:
        self._anchor(pts, dts)
        out_pts, out_dts = self._shift(pts), self._shift(dts)
        self._latest_pts = _later(self._latest_pts, out_pts)
        self._latest_dts = _later(self._latest_dts, out_dts)
        return out_pts, out_dts

    def map_frame(self, pts: int | None) -> int | None:
        self._anchor(pts, None)
        out = self._shift(pts)
        self._latest_pts = _later(self._latest_pts, out)
        return out

    def _anchor(self, pts: int | None, dts: int | None) -> None:
        if self._pending_gap is None or (pts is None and dts is None):
            return
        # The smallest offset that puts the pts a frame after the latest pts, and the
        # dts (which only need to grow) after the latest dts.
        candidates = []
        if pts is not None and self._latest_pts is not None:
            candidates.append(self._latest_pts + self._frame_ticks - pts)
        if dts is not None and self._latest_dts is not None:
            candidates.append(self._latest_dts + 1 - dts)
        if candidates:
            self._offset = max(candidates) + self._pending_gap
        self._pending_gap = None

    def _shift(self, ts: int | None) -> int | None:
        return None if ts is None else ts + self._offset


def _later(latest: int | None, ts: int | None) -> int | None:
    if ts is None:
        return latest
    return ts if latest is None or ts > latest else latest
