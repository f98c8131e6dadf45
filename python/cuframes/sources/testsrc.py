"""The moving test pattern as a source: decoded frames, and the same frames
encoded with libx264 so that the packet ring has content."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

import numpy as np

from .._pattern import TestPattern
from ..stream_facts import ColorInfo, StreamFacts
from .errors import UnsupportedSourceError
from .items import SourceItem, VideoFrame, VideoPacket, VideoSource
from .timeline import rate_fraction
from .x264_encoder import X264Encoder

__all__ = ["TestPatternSource", "TIME_BASE"]

#: The 90 kHz clock of RTP video: whole ticks for the usual rates, 29.97 included.
TIME_BASE = Fraction(1, 90_000)


class TestPatternSource(VideoSource):
    """The pattern of ``cuframes demo`` (each frame carries its sequence number,
    see :mod:`cuframes._pattern`) at ``width``x``height``, ``fps`` frames per
    second, with an H.264 keyframe every ``gop`` frames (default: 2 seconds).

    Frame ``n`` has pts ``round(n * 90000 / fps)`` (time base 1/90000), and so
    has its packet. Not live: the publish loop paces it. With ``encode=False``
    only frames are produced (``codec`` is then None).

    The pattern is synthetic YUV (bars and noise between 16 and 240, barcodes
    at 16 and 235), so no matrix is "right"; it is published as what an HD
    clip is, BT.709 limited range, square pixels, in the stream facts and in
    the H.264 stream's VUI alike, so that a converter and a decoder agree.
    """

    __test__ = False  # not a pytest test class
    live = False

    def __init__(
        self, width: int = 1280, height: int = 720, fps: float = 30.0, *, gop: int | None = None, encode: bool = True
    ) -> None:
        super().__init__()
        self._encoder: X264Encoder | None = None
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise UnsupportedSourceError(f"the test pattern needs an even width and height, got {width}x{height}")
        if not fps > 0:
            raise UnsupportedSourceError(f"the test pattern needs a positive frame rate, got {fps}")
        try:
            self._pattern = TestPattern("nv12", width, height)
        except ValueError as error:  # too small for its barcodes
            raise UnsupportedSourceError(str(error)) from error
        self.width, self.height, self.fps = width, height, float(fps)
        self.gop = gop if gop is not None else max(1, round(2 * self.fps))
        if self.gop < 1:
            raise UnsupportedSourceError(f"the keyframe interval must be at least 1 frame, got {self.gop}")
        self.time_base = TIME_BASE
        self.facts = StreamFacts(
            time_base=TIME_BASE,
            frame_rate=rate_fraction(self.fps),
            color=ColorInfo.BT709,
            sample_aspect_ratio=Fraction(1),
        )
        self._encoder = (
            X264Encoder(width, height, fps=self.fps, time_base=TIME_BASE, gop=self.gop, color=self.facts.color)
            if encode
            else None
        )
        self.codec = "h264" if encode else None
        encoded = f", h264 keyframe every {self.gop} frames" if encode else ""
        self.description = f"testsrc {width}x{height} {self.fps:g} fps{encoded}"

    def pts(self, index: int) -> int:
        """The pts of frame ``index`` (0, 1, 2, ...)."""
        return round(index * 90_000 / self.fps)

    def __iter__(self) -> Iterator[SourceItem]:
        index = 0
        # One buffer, reused: the encoder reads the frame after it was published
        # (a yielded frame stays valid until the next item is asked for).
        buffer = np.empty(self._pattern.packed_size, dtype=np.uint8)
        while not self.closed:
            pts = self.pts(index)
            self._pattern.render(index, buffer)
            yield VideoFrame(buffer, pts)
            encoder = self._encoder
            if encoder is not None:
                for data, packet_pts, dts, keyframe in encoder.encode(buffer, pts):
                    yield VideoPacket(data, packet_pts, dts, keyframe, "h264")
            index += 1

    def _release(self) -> None:
        encoder, self._encoder = self._encoder, None
        if encoder is not None:
            encoder.close()
