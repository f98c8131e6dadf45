"""The one home of format facts on the Python side.

What the core knows comes from it (``_core.FORMATS``, ``_core.CODECS``,
``_core.layout``): a new pixel format or codec is added in C++ and appears here.
What only Python needs is kept here once: FFmpeg's names for them (cuframes.av,
the conversions, snapshots and ``cuframes cat`` share them), and the ``Literal``
types for type checkers, which cannot be computed; tests/test_formats.py checks
that every table here covers exactly what the core knows.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from . import _core

__all__ = [
    "FORMATS",
    "CODECS",
    "Format",
    "Codec",
    "FFMPEG_PIXEL_FORMATS",
    "FFMPEG_DEMUXERS",
    "packed_shape",
    "to_shaped_array",
]

#: Pixel formats the core knows, e.g. "nv12".
FORMATS: tuple[str, ...] = tuple(_core.FORMATS)
#: Codecs the packet ring carries (Annex-B), e.g. "h264".
CODECS: tuple[str, ...] = tuple(_core.CODECS)

Format = Literal["nv12", "p010", "i420", "rgb24", "bgr24", "rgba", "bgra", "gray8"]
Codec = Literal["h264", "hevc"]

# cuframes format -> ffmpeg pix_fmt of the same packed layout.
FFMPEG_PIXEL_FORMATS = {
    "nv12": "nv12",
    "p010": "p010le",
    "i420": "yuv420p",
    "rgb24": "rgb24",
    "bgr24": "bgr24",
    "rgba": "rgba",
    "bgra": "bgra",
    "gray8": "gray",
}

# cuframes codec -> ffmpeg's demuxer of its Annex-B elementary stream.
FFMPEG_DEMUXERS = {"h264": "h264", "hevc": "hevc"}


def packed_shape(format: str, width: int, height: int) -> tuple[tuple[int, ...], np.dtype]:
    """The natural shape and dtype of a packed frame, from the core's layout: one
    plane is (h, w, channels), or (h, w) with one channel; several planes stacked
    as rows of ``width`` samples, e.g. (h*3/2, w) for nv12, p010 and i420."""
    planes = _core.layout(format, width, height)
    itemsize = planes[0].itemsize
    dtype = np.dtype(np.uint8) if itemsize == 1 else np.dtype(f"<u{itemsize}")
    if len(planes) == 1:
        plane = planes[0]
        shape = (plane.height, plane.width) if plane.channels == 1 else (plane.height, plane.width, plane.channels)
        return shape, dtype
    rows = _core.packed_size(format, width, height) // (width * itemsize)
    return (rows, width), dtype


def to_shaped_array(packed: np.ndarray, format: str, width: int, height: int) -> np.ndarray:
    """Views a packed frame (uint8, planes back to back) with its natural shape (:func:`packed_shape`)."""
    shape, dtype = packed_shape(format, width, height)
    return packed.view(dtype).reshape(shape)
