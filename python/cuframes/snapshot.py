"""One frame as an image file (`cuframes snapshot`): packed frame bytes -> RGB -> PNG,
JPEG, BMP, TIFF, PPM or WebP, chosen by the file's extension.

FFmpeg (through PyAV) does the colour conversion and the encoding, so no image
library is needed. Each image encoder emits a whole file per frame, so the file
is written from Python, atomically: a reader never sees half an image.
"""

from __future__ import annotations

import errno as errno_codes
import os
import secrets
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal, Protocol

import av
import numpy as np

from . import _core
from .cat import FFMPEG_PIXEL_FORMATS
from .errors import FormatError, InvalidArgumentError, SystemCallError

__all__ = ["PackedFrame", "FrameLike", "Colorspace", "IMAGE_ENCODERS", "image_encoder_for", "to_video_frame",
           "encode_image", "save_snapshot"]

#: File extension -> FFmpeg image encoder.
IMAGE_ENCODERS = {
    ".png": "png", ".jpg": "mjpeg", ".jpeg": "mjpeg", ".bmp": "bmp", ".tif": "tiff", ".tiff": "tiff",
    ".ppm": "ppm", ".webp": "libwebp",
}
# mjpeg's default rate control makes a blurry still; a fixed quantizer of 2 (ffmpeg's -q:v 2) does not.
_ENCODER_OPTIONS = {"mjpeg": {"flags": "+qscale", "global_quality": str(2 * 118)}}  # 118: FF_QP2LAMBDA
# The encoder's input pixel format: RGB when it takes it, else what it lists first.
_PREFERRED_ENCODER_FORMATS = ("rgb24", "bgr24")

# YUV frames carry no colour matrix tag; "auto" guesses as players do: HD and up is BT.709.
Colorspace = Literal["auto", "bt601", "bt709"]
_HD_HEIGHT = 720
_YUV_FORMATS = ("nv12", "p010", "i420")


class FrameLike(Protocol):
    """What save_snapshot needs of a frame: a cuframes.Frame (either backend) or a PackedFrame."""

    @property
    def format(self) -> str: ...

    @property
    def width(self) -> int: ...

    @property
    def height(self) -> int: ...

    def to_numpy(self) -> np.ndarray: ...


@dataclass(frozen=True)
class PackedFrame:
    """A frame already on the host: packed bytes (planes back to back, no row padding)."""

    pixels: np.ndarray
    format: str
    width: int
    height: int

    def to_numpy(self) -> np.ndarray:
        return self.pixels


def to_video_frame(packed: np.ndarray, format: str, width: int, height: int) -> av.VideoFrame:
    """A PyAV frame of the packed frame's own pixel format, its planes copied in row by row
    (PyAV's planes have padded rows, cuframes' packed planes do not)."""
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
            raise FormatError(f"plane {info.name!r} of {format} {width}x{height} does not fit FFmpeg's {pix_fmt}: "
                              f"{info.row_bytes}x{info.height} bytes vs rows of {plane.line_size} x {plane.height}")
        rows = data[offset:offset + info.row_bytes * info.height].reshape(info.height, info.row_bytes)
        padded = np.zeros((plane.height, plane.line_size), dtype=np.uint8)
        padded[:, :info.row_bytes] = rows
        plane.update(padded)
        offset += info.row_bytes * info.height
    return frame


def _to_rgb(frame: av.VideoFrame, format: str, colorspace: Colorspace) -> av.VideoFrame:
    if colorspace not in ("auto", "bt601", "bt709"):
        raise InvalidArgumentError(f"unknown colorspace {colorspace!r}; choose auto, bt601 or bt709")
    if format not in _YUV_FORMATS:
        return frame.reformat(format="rgb24")
    if colorspace == "auto":
        colorspace = "bt709" if frame.height >= _HD_HEIGHT else "bt601"
    matrix = {"bt601": "ITU601", "bt709": "ITU709"}[colorspace]
    # Video decoders produce limited-range ("MPEG") YUV; the image gets full-range RGB.
    return frame.reformat(format="rgb24", src_colorspace=matrix, src_color_range="MPEG", dst_color_range="JPEG")


def image_encoder_for(path: Path) -> str:
    """The FFmpeg image encoder that the extension of ``path`` asks for; InvalidArgumentError if none does."""
    encoder = IMAGE_ENCODERS.get(path.suffix.lower())
    if encoder is None:
        raise InvalidArgumentError(f"cannot tell the image format of {str(path)!r} from its extension; "
                                   f"use one of {', '.join(sorted(IMAGE_ENCODERS))}")
    return encoder


def encode_image(rgb: av.VideoFrame, encoder: str) -> bytes:
    """One RGB frame encoded as a whole image file by an FFmpeg image encoder ("png", "mjpeg", ...)."""
    try:
        codec = av.codec.Codec(encoder, "w")
    except av.codec.codec.UnknownCodecError as error:
        raise FormatError(f"this FFmpeg build has no {encoder} encoder ({error})") from None
    formats = [f.name for f in codec.video_formats or ()]
    pix_fmt = next((f for f in _PREFERRED_ENCODER_FORMATS if f in formats), formats[0] if formats else "rgb24")
    context = av.CodecContext.create(codec)
    context.width, context.height, context.pix_fmt = rgb.width, rgb.height, pix_fmt
    context.time_base = Fraction(1, 1)  # one still: any time base will do, but one is required
    context.options = dict(_ENCODER_OPTIONS.get(encoder, {}))
    try:
        packets = context.encode(rgb.reformat(format=pix_fmt)) + context.encode(None)
    except av.error.FFmpegError as error:
        raise FormatError(f"the {encoder} encoder failed on a {rgb.width}x{rgb.height} image: {error}") from None
    return b"".join(bytes(packet) for packet in packets)


def _write_atomically(path: Path, data: bytes) -> None:
    folder = path.parent
    if not folder.is_dir():
        raise SystemCallError(f"cannot write {str(path)!r}: the folder {str(folder)!r} does not exist",
                              errno=errno_codes.ENOENT)
    # Beside the target, so that the rename is atomic; mode 0666 so the umask decides, as for any new file.
    temporary = folder / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.partial"
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    except OSError as error:
        raise SystemCallError(f"cannot write {str(path)!r}: {error.strerror}", errno=error.errno) from None
    try:
        with os.fdopen(fd, "wb") as sink:
            sink.write(data)
        os.replace(temporary, path)
    except BaseException as error:  # Ctrl-C too: never leave the .partial file behind
        try:
            os.unlink(temporary)
        except OSError:
            pass
        if not isinstance(error, OSError):
            raise
        raise SystemCallError(f"cannot write {str(path)!r}: {error.strerror or error}", errno=error.errno) from None


def save_snapshot(frame: FrameLike, path: str | os.PathLike[str], *,
                  colorspace: Colorspace = "auto") -> Path:
    """Writes ``frame`` (a cuframes.Frame on either backend, or a PackedFrame) as an RGB image
    whose format follows the extension of ``path`` (.png, .jpg, .bmp, .tif, .ppm, .webp).

    ``colorspace`` is the YUV matrix of nv12/p010/i420 frames ("auto": BT.709 from 720
    lines up, else BT.601). Returns the path written. Raises InvalidArgumentError for an
    unknown pixel format, extension or colorspace, FormatError for data of the wrong size,
    SystemCallError when the file cannot be written."""
    target = Path(path)
    encoder = image_encoder_for(target)  # before any work: a wrong extension is the cheapest mistake
    video_frame = to_video_frame(frame.to_numpy(), frame.format, frame.width, frame.height)
    _write_atomically(target, encode_image(_to_rgb(video_frame, frame.format, colorspace), encoder))
    return target
