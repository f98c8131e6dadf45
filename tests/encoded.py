"""Real encoded video for the packet tests: PyAV's libx264/libx265 (bundled
in the PyAV wheel) encoding a small moving pattern into Annex-B access units."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pytest

av = pytest.importorskip("av", reason="PyAV is a test dependency (pip install cuframes[test])")

_ENCODERS = {"h264": "libx264", "hevc": "libx265"}


@dataclass(frozen=True)
class EncodedPacket:
    data: bytes
    pts: int
    keyframe: bool


def encode(
    codec: str = "h264",
    *,
    frames: int = 50,
    gop: int = 10,
    width: int = 160,
    height: int = 96,
    in_band_headers: bool = True,
) -> tuple[list[EncodedPacket], bytes]:
    """(packets, extradata as Annex-B). With in_band_headers=False the encoder
    keeps its parameter sets out of the keyframes (global header), as MP4
    files do: a joining subscriber then needs the kept ones."""
    context = av.CodecContext.create(_ENCODERS[codec], "w")
    context.width, context.height, context.pix_fmt = width, height, "yuv420p"
    context.time_base = Fraction(1, 25)
    context.gop_size = gop
    if codec == "h264":
        context.options = {
            "tune": "zerolatency",
            "preset": "ultrafast",
            "sc_threshold": "0",
            "bf": "0",
            "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0",
        }
    else:
        context.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "x265-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:log-level=error",
        }
    if not in_band_headers:
        context.flags |= av.codec.context.Flags.global_header
    packets: list[EncodedPacket] = []
    rows = np.arange(height)[:, None]
    cols = np.arange(width)[None, :]
    for index in range(frames):
        image = ((rows + cols + 3 * index) % 256).astype(np.uint8)
        frame = av.VideoFrame(width, height, "yuv420p")
        frame.planes[0].update(
            np.ascontiguousarray(image).tobytes()
            if frame.planes[0].line_size == width
            else _padded(image, frame.planes[0].line_size)
        )
        for plane in (1, 2):
            chroma = np.full((height // 2, width // 2), 128, np.uint8)
            line = frame.planes[plane].line_size
            frame.planes[plane].update(chroma.tobytes() if line == width // 2 else _padded(chroma, line))
        frame.pts = index
        for packet in context.encode(frame):
            packets.append(EncodedPacket(bytes(packet), int(packet.pts), bool(packet.is_keyframe)))
    for packet in context.encode(None):
        packets.append(EncodedPacket(bytes(packet), int(packet.pts), bool(packet.is_keyframe)))
    return packets, bytes(context.extradata or b"")


def _padded(plane: np.ndarray, line_size: int) -> bytes:
    padded = np.zeros((plane.shape[0], line_size), np.uint8)
    padded[:, : plane.shape[1]] = plane
    return padded.tobytes()


def decode(codec: str, stream: bytes) -> list[av.VideoFrame]:
    """Every frame a fresh decoder gets from an Annex-B byte stream."""
    context = av.CodecContext.create(codec, "r")
    frames = []
    for packet in [*context.parse(stream), *context.parse(None)]:
        frames.extend(context.decode(packet))
    frames.extend(context.decode(None))
    return frames
