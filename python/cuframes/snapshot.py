"""One frame as an image file (`cuframes snapshot`): packed frame bytes -> RGB -> PNG,
JPEG, BMP, TIFF, PPM or WebP, chosen by the file's extension.

FFmpeg (through PyAV) does the colour conversion, the one ``frame.to_ndarray`` uses
(cuframes.convert), and the encoding, so no image library is needed. Each image encoder
emits a whole file per frame, so the file is written from Python, atomically: a reader
never sees half an image.
"""

from __future__ import annotations

import dataclasses
import errno as errno_codes
import os
import secrets
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal, Protocol

import av
import numpy as np

from .convert import convert_video_frame, to_video_frame
from .errors import FormatError, InvalidArgumentError, SystemCallError
from .stream_facts import ColorInfo

__all__ = [
    "PackedFrame",
    "FrameLike",
    "Colorspace",
    "IMAGE_ENCODERS",
    "image_encoder_for",
    "to_video_frame",
    "encode_image",
    "save_snapshot",
]

#: File extension -> FFmpeg image encoder.
IMAGE_ENCODERS = {
    ".png": "png",
    ".jpg": "mjpeg",
    ".jpeg": "mjpeg",
    ".bmp": "bmp",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".ppm": "ppm",
    ".webp": "libwebp",
}
# mjpeg's default rate control makes a blurry still; a fixed quantizer of 2 (ffmpeg's -q:v 2) does not.
_ENCODER_OPTIONS = {"mjpeg": {"flags": "+qscale", "global_quality": str(2 * 118)}}  # 118: FF_QP2LAMBDA
# The encoder's input pixel format: RGB when it takes it, else what it lists first.
_PREFERRED_ENCODER_FORMATS = ("rgb24", "bgr24")

# "auto": the stream's colour facts, read as FFmpeg reads them (unspecified matrix: BT.601 at any
# size; unspecified range: limited); "bt601"/"bt709" override the matrix, the range stays the stream's.
Colorspace = Literal["auto", "bt601", "bt709"]


class FrameLike(Protocol):
    """What save_snapshot needs of a frame: a cuframes.Frame (either backend) or a PackedFrame."""

    @property
    def format(self) -> str: ...

    @property
    def width(self) -> int: ...

    @property
    def height(self) -> int: ...

    def to_numpy(self) -> np.ndarray: ...

    # A frame may also have ``color`` (a ColorInfo, the stream's colour facts); without one it is unspecified.


@dataclass(frozen=True)
class PackedFrame:
    """A frame already on the host: packed bytes (planes back to back, no row padding), and
    the stream's colour facts (``frame.color`` of the frame it was copied from)."""

    pixels: np.ndarray
    format: str
    width: int
    height: int
    color: ColorInfo = dataclasses.field(default_factory=ColorInfo)

    def to_numpy(self) -> np.ndarray:
        return self.pixels


def _to_rgb(frame: FrameLike, colorspace: Colorspace) -> av.VideoFrame:
    """The frame as a full-range RGB PyAV frame: the conversion to_ndarray uses, its YUV read
    with the stream's colour facts (FFmpeg's rules where they are unspecified) unless
    ``colorspace`` names the matrix."""
    if colorspace not in ("auto", "bt601", "bt709"):
        raise InvalidArgumentError(f"unknown colorspace {colorspace!r}; choose auto, bt601 or bt709")
    color = getattr(frame, "color", None) or ColorInfo()
    if colorspace != "auto":
        color = dataclasses.replace(color, matrix={"bt601": 6, "bt709": 1}[colorspace])
    packed = to_video_frame(frame.to_numpy(), frame.format, frame.width, frame.height)
    return convert_video_frame(packed, frame.format, color, "rgb24")


def image_encoder_for(path: Path) -> str:
    """The FFmpeg image encoder that the extension of ``path`` asks for; InvalidArgumentError if none does."""
    encoder = IMAGE_ENCODERS.get(path.suffix.lower())
    if encoder is None:
        raise InvalidArgumentError(
            f"cannot tell the image format of {str(path)!r} from its extension; "
            f"use one of {', '.join(sorted(IMAGE_ENCODERS))}"
        )
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
        raise SystemCallError(
            f"cannot write {str(path)!r}: the folder {str(folder)!r} does not exist", errno=errno_codes.ENOENT
        )
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


def save_snapshot(frame: FrameLike, path: str | os.PathLike[str], *, colorspace: Colorspace = "auto") -> Path:
    """Writes ``frame`` (a cuframes.Frame on either backend, or a PackedFrame) as an RGB image
    whose format follows the extension of ``path`` (.png, .jpg, .bmp, .tif, .ppm, .webp).

    YUV frames (nv12, p010, i420) are read with the stream's colour matrix and range
    (``frame.color``; FFmpeg's rules where unspecified: BT.601, limited range), as
    ``ffmpeg -i ... -pix_fmt rgb24`` reads them; ``colorspace`` "bt601" or "bt709"
    overrides the matrix. Returns the path written. Raises InvalidArgumentError for an
    unknown pixel format, extension or colorspace, FormatError for data of the wrong size,
    SystemCallError when the file cannot be written."""
    target = Path(path)
    encoder = image_encoder_for(target)  # before any work: a wrong extension is the cheapest mistake
    _write_atomically(target, encode_image(_to_rgb(frame, colorspace), encoder))
    return target
