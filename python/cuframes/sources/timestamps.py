"""Timestamps for the packets and frames of an input that lacks some."""

from __future__ import annotations

import logging
from dataclasses import replace

from .items import SourceItem, VideoFrame, VideoPacket

__all__ = ["TimestampFiller", "MAX_HELD_FRAMES"]

log = logging.getLogger("cuframes.sources")

#: Frames held back waiting for a first timestamp before giving up and counting from 0
#: (the items would otherwise pile up in memory for an input that never gives one).
MAX_HELD_FRAMES = 50


class TimestampFiller:
    """Gives every packet and frame of one input a pts (in the input's units), in order.

    - An input without any (a raw .h264/.hevc file), with ``count_from_zero``:
      pts counted from 0, one frame (``step``) apart: packets in decode order,
      frames in display order, which agree when the stream has no B-frames.
    - An input whose first picture has none (an RTSP session: FFmpeg knows the
      RTP timing from the next picture on): those items are held back and placed
      one frame before the first timestamp that follows, so that the session's
      first keyframe still reaches the packet ring. After ``MAX_HELD_FRAMES``
      frames without one, they are counted from 0 instead.
    - A later item without one: one frame after the previous item of its kind.
    A packet without a pts takes its dts when it has one.
    """

    def __init__(self, step: int, *, count_from_zero: bool) -> None:
        self._step = step
        self._count_from_zero = count_from_zero
        self._last: dict[type, int] = {}
        self._held: list[SourceItem] = []

    def place(self, item: SourceItem) -> list[SourceItem]:
        """The items ready to go out now, with their pts set (none while holding back)."""
        pts = item.pts
        if pts is None and isinstance(item, VideoPacket):
            pts = item.dts
        if pts is None:
            last = self._last.get(type(item))
            if last is not None:
                pts = last + self._step
            elif self._count_from_zero:
                pts = 0
            else:
                self._held.append(item)
                if sum(isinstance(held, VideoFrame) for held in self._held) < MAX_HELD_FRAMES:
                    return []
                log.warning("no timestamp in the first %d frames; counting them from 0", MAX_HELD_FRAMES)
                self._count_from_zero = True
                return self._backdate(before=None)
        ready = self._backdate(before=pts) if self._held else []
        self._last[type(item)] = pts
        ready.append(replace(item, pts=pts))
        return ready

    def _backdate(self, before: int | None) -> list[SourceItem]:
        """The held items, each kind one frame apart: ending one frame ``before``, or from 0 when None."""
        held, self._held = self._held, []
        pts_of: dict[int, int] = {}
        for kind in (VideoPacket, VideoFrame):
            mine = [index for index, item in enumerate(held) if type(item) is kind]
            for rank, index in enumerate(mine):
                pts_of[index] = self._step * rank if before is None else before - self._step * (len(mine) - rank)
            if mine:
                self._last[kind] = pts_of[mine[-1]]
        return [replace(item, pts=pts_of[index]) for index, item in enumerate(held)]
