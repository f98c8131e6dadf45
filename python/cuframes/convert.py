"""Pixel conversions that read a frame's colours as the stream's facts say, the way
PyAV's ``VideoFrame.to_ndarray(format=...)`` does: ``frame.to_ndarray(format="rgb24")``
on the host, ``frame.to_tensor(format="rgb24")`` with torch (CPU or CUDA).

One reading of the colour facts serves both (:func:`resolve_color`), with FFmpeg's
rules for what the producer did not say: an unspecified (or unknown) matrix is BT.601
(SMPTE 170M) whatever the frame's size, an unspecified range is limited ("tv"). The host
side is FFmpeg's swscale through PyAV, with the bicubic scaler that the ffmpeg command
line uses, so a host conversion equals ``ffmpeg -i clip -pix_fmt rgb24`` of the same
frame. The torch side applies the same matrix (:func:`yuv_to_rgb_affine`) with torch
operations on the frame's device; see convert_torch.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _core
from ._formats import FFMPEG_PIXEL_FORMATS
from .errors import FormatError, InvalidArgumentError
from .stream_facts import ColorInfo

__all__ = [
    "OUTPUT_FORMATS",
    "ResolvedColor",
    "resolve_color",
    "yuv_to_rgb_affine",
    "luma_weights",
    "luma_scale_offset",
    "output_format",
    "to_video_frame",
    "convert_video_frame",
    "convert_packed",
    "YUV_BITS",
]

#: What to_ndarray / to_tensor convert to: name -> channels (1: (h, w), else (h, w, c)).
OUTPUT_FORMATS = {"rgb24": 3, "bgr24": 3, "rgba": 4, "bgra": 4, "gray": 1}
_ALIASES = {"gray8": "gray", "rgb": "rgb24", "bgr": "bgr24"}

#: YUV formats -> bits per sample.
YUV_BITS = {"nv12": 8, "i420": 8, "p010": 10}

# Luma weights (Kr, Kb) of the matrices swscale knows (ITU-T H.273 code -> weights); any other
# matrix, unspecified included, is read as BT.601, as swscale's SWS_CS_DEFAULT does.
_KR_KB = {
    1: (0.2126, 0.0722),
    4: (0.30, 0.11),
    5: (0.299, 0.114),
    6: (0.299, 0.114),
    7: (0.212, 0.087),
    9: (0.2627, 0.0593),
    10: (0.2627, 0.0593),
}
_BT601 = 6
_FULL_RANGE = 2
# H.273 matrix code -> swscale's SWS_CS_* (PyAV's Colorspace): 709, FCC, 601, 240M, BT.2020.
_SWS_COLORSPACE = {1: 1, 4: 4, 5: 5, 6: 5, 7: 7, 9: 9, 10: 9}
# The ffmpeg command line's default scaler (SWS_BICUBIC): with it a same-size conversion equals ffmpeg's.
_FFMPEG_CLI_SCALER = "BICUBIC"


@dataclass(frozen=True)
class ResolvedColor:
    """How a frame's YUV is read: the H.273 matrix code used and whether the range is full."""

    matrix: int
    full_range: bool


def resolve_color(color: ColorInfo | None) -> ResolvedColor:
    """The stream's matrix and range as FFmpeg reads them: unspecified or unknown matrix ->
    BT.601, unspecified range -> limited."""
    color = color if color is not None else ColorInfo()
    matrix = color.matrix if color.matrix in _KR_KB else _BT601
    return ResolvedColor(matrix, color.range == _FULL_RANGE)


def luma_weights(color: ResolvedColor) -> tuple[float, float, float]:
    """(Kr, Kg, Kb): luma from full-range R'G'B' under the matrix."""
    kr, kb = _KR_KB[color.matrix]
    return kr, 1.0 - kr - kb, kb


def _code_ranges(color: ResolvedColor, bits: int) -> tuple[float, float, float]:
    """(luma scale, luma black code, chroma scale) of ``bits``-bit codes: code -> 0..1 / -0.5..0.5."""
    if color.full_range:
        top = float((1 << bits) - 1)
        return 1.0 / top, 0.0, 1.0 / top
    step = float(1 << (bits - 8))
    return 1.0 / (219.0 * step), 16.0 * step, 1.0 / (224.0 * step)


def luma_scale_offset(color: ResolvedColor, bits: int = 8) -> tuple[float, float]:
    """``(scale, offset)``: full-range luma in 0..1 is ``code * scale + offset``."""
    y_scale, y_black, _ = _code_ranges(color, bits)
    return y_scale, -y_black * y_scale


def yuv_to_rgb_affine(color: ResolvedColor, bits: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """``(m, offset)`` such that ``rgb = m @ (y, cb, cr) + offset`` maps stored codes of
    ``bits``-bit samples to RGB in 0..1 (float64; clamp before quantising)."""
    kr, kg, kb = luma_weights(color)
    y_scale, y_offset, c_scale = _code_ranges(color, bits)
    c_offset = float(1 << (bits - 1))
    # Y'PbPr -> R'G'B' (ITU-T H.273, equations 38-40 solved for R, G, B).
    to_rgb = np.array(
        [
            [1.0, 0.0, 2.0 * (1.0 - kr)],
            [1.0, -2.0 * kb * (1.0 - kb) / kg, -2.0 * kr * (1.0 - kr) / kg],
            [1.0, 2.0 * (1.0 - kb), 0.0],
        ]
    )
    m = to_rgb * np.array([y_scale, c_scale, c_scale])
    offset = -(m @ np.array([y_offset, c_offset, c_offset]))
    return m, offset


def output_format(format: str) -> str:
    """The canonical name of an output format; InvalidArgumentError when it is not one."""
    name = _ALIASES.get(format, format) if isinstance(format, str) else format
    if name not in OUTPUT_FORMATS:
        raise InvalidArgumentError(f"cannot convert to {format!r}; choose one of {', '.join(OUTPUT_FORMATS)}")
    return name


def _pyav() -> Any:
    try:
        import av
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "converting frames on the host needs PyAV (FFmpeg's swscale): pip install 'cuframes[av]'", name="av"
        ) from None
    return av


def to_video_frame(packed: np.ndarray, format: str, width: int, height: int) -> Any:
    """A PyAV frame of the packed frame's own pixel format, its planes copied in row by row
    (PyAV's planes have padded rows, cuframes' packed planes do not)."""
    av = _pyav()
    pix_fmt = FFMPEG_PIXEL_FORMATS.get(format)
    if pix_fmt is None:
        raise InvalidArgumentError(f"unknown pixel format {format!r}; cuframes knows {', '.join(FFMPEG_PIXEL_FORMATS)}")
    planes = _core.layout(format, width, height)  # raises InvalidArgumentError on a bad size
    data = np.ascontiguousarray(packed).reshape(-1).view(np.uint8)
    expected = sum(p.row_bytes * p.height for p in planes)
    if data.nbytes != expected:
        raise FormatError(f"a packed {format} {width}x{height} frame is {expected} bytes, got {data.nbytes}")

    frame = av.VideoFrame(width, height, pix_fmt)
    if len(frame.planes) != len(planes):
        raise FormatError(f"FFmpeg's {pix_fmt} has {len(frame.planes)} planes, cuframes' {format} {len(planes)}")
    offset = 0
    for info, plane in zip(planes, frame.planes):
        if plane.line_size < info.row_bytes or plane.height != info.height:
            raise FormatError(
                f"plane {info.name!r} of {format} {width}x{height} does not fit FFmpeg's {pix_fmt}: "
                f"{info.row_bytes}x{info.height} bytes vs rows of {plane.line_size} x {plane.height}"
            )
        rows = data[offset : offset + info.row_bytes * info.height].reshape(info.height, info.row_bytes)
        padded = np.zeros((plane.height, plane.line_size), dtype=np.uint8)
        padded[:, : info.row_bytes] = rows
        plane.update(padded)
        offset += info.row_bytes * info.height
    return frame


def convert_video_frame(frame: Any, format: str, color: ColorInfo | None, to: str) -> Any:
    """A PyAV frame (of cuframes format ``format``) converted by swscale to ``to`` (an
    OUTPUT_FORMATS name), its YUV read with the stream's ``color``; RGB comes out full range."""
    to = output_format(to)
    resolved = resolve_color(color)
    colorspace = _SWS_COLORSPACE[resolved.matrix]
    if format in YUV_BITS:
        source_range = "JPEG" if resolved.full_range else "MPEG"
        # gray is the luma alone, made full range; it needs no matrix, and a matrix other than the
        # default one would make swscale go through RGB and back (a different luma).
        if to == "gray":
            colorspace = _SWS_COLORSPACE[_BT601]
    else:
        source_range = "JPEG"  # RGB and gray sources; the matrix only weighs R, G, B into gray
    return frame.reformat(
        format=to,
        src_colorspace=colorspace,
        dst_colorspace=colorspace,
        src_color_range=source_range,
        dst_color_range="JPEG",
        interpolation=_FFMPEG_CLI_SCALER,
    )


def convert_packed(
    packed: np.ndarray, format: str, width: int, height: int, color: ColorInfo | None, to: str
) -> np.ndarray:
    """A packed host frame (planes back to back) converted to ``to``: (h, w, c) uint8, or
    (h, w) for gray. The YUV matrix and range come from ``color`` (the stream's facts)."""
    to = output_format(to)
    converted = convert_video_frame(to_video_frame(packed, format, width, height), format, color, to)
    array = converted.to_ndarray()
    expected = (height, width) if OUTPUT_FORMATS[to] == 1 else (height, width, OUTPUT_FORMATS[to])
    return np.ascontiguousarray(array.reshape(expected))
