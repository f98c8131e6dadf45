"""H.264 encoding with PyAV's libx264, tuned for a live stream's packet ring."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import numpy as np

from ..stream_facts import ColorInfo
from .errors import DecoderUnavailableError
from .pyav_session import import_av

__all__ = ["X264Encoder"]


class X264Encoder:
    """Encodes packed NV12 frames into Annex-B access units, one per frame.

    - Annex-B with SPS/PPS repeated on every keyframe: the codec context gets no
      GLOBAL_HEADER flag, so x264 writes its headers in-band.
    - ``tune=zerolatency``: no B-frames and no lookahead, so each frame's packet
      comes out of ``encode`` at once, with that frame's pts.
    - A keyframe every ``gop`` frames exactly (scene-cut detection off), so a
      consumer knows when it can start.
    """

    def __init__(
        self,
        width: int,
        height: int,
        *,
        fps: float,
        time_base: Fraction,
        gop: int,
        color: ColorInfo | None = None,
        preset: str = "ultrafast",
    ) -> None:
        av = import_av()
        try:
            self._context = av.CodecContext.create("libx264", "w")
        except av.error.FFmpegError as error:  # a PyAV build without libx264
            raise DecoderUnavailableError(
                f"this PyAV has no libx264 encoder ({error}); install the PyAV wheel from PyPI, which bundles it"
            ) from error
        context = self._context
        context.width, context.height = width, height
        context.pix_fmt = "nv12"  # libx264 takes NV12 as is: no conversion
        context.time_base = time_base
        context.framerate = Fraction(fps).limit_denominator(1_000_000)
        context.gop_size = gop
        context.max_b_frames = 0
        if color is not None:  # written into the SPS's VUI
            context.colorspace, context.color_range = color.matrix, color.range
            context.color_primaries, context.color_trc = color.primaries, color.transfer
        context.options = {
            "preset": preset,
            "tune": "zerolatency",
            "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0",
        }
        self._av = av
        self.width, self.height = width, height
        self.time_base = time_base

    def encode(self, packed: np.ndarray, pts: int) -> Iterator[tuple[bytes, int, int, bool]]:
        """(data, pts, dts, keyframe) for each access unit the frame produced."""
        frame = self._av.VideoFrame.from_ndarray(packed.reshape(self.height * 3 // 2, self.width), format="nv12")
        frame.pts = pts
        frame.time_base = self.time_base
        for packet in self._context.encode(frame):
            yield from self._unpack(packet)

    @staticmethod
    def _unpack(packet: Any) -> Iterator[tuple[bytes, int, int, bool]]:
        yield bytes(packet), packet.pts, packet.dts, bool(packet.is_keyframe)

    def close(self) -> None:
        self._context = None
