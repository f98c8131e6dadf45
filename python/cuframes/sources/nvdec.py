"""A video file decoded on the GPU with NVDEC, through PyNvVideoCodec 2.x (the
optional extra ``cuframes[nvdec]``, imported only when this source is used).

The decoded NV12 surface never leaves the GPU: the publish loop copies it
device-to-device into the publisher's slot (``Publisher(backend="cuda")``),
the way ``bench/harness/alt_nvdec.py`` measured it. Packets come from
PyNvVideoCodec's demuxer, which gives Annex-B with in-band parameter sets.
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .._formats import FFMPEG_DEMUXERS
from .annexb import is_annexb, starts_random_access
from .errors import (
    DecoderUnavailableError,
    SourceError,
    SourceNotFoundError,
    UnsupportedSourceError,
    ffmpeg_reason,
    nothing_to_loop,
)
from .items import Codec, SourceItem, VideoFrame, VideoPacket, VideoSource, warn_frames_only
from .pyav_session import import_av, stream_facts_of
from .timeline import PtsTimeline, ticks_per_frame

__all__ = ["NvdecFileSource", "import_nvc"]

log = logging.getLogger("cuframes.sources")

_INSTALL_HINT = "pip install cuframes[nvdec]"
_NO_TIMESTAMP = -(2**63)  # FFmpeg's AV_NOPTS_VALUE, as the demuxer passes it on
# FFmpeg's demuxers of raw elementary streams, which give no timestamps.
_RAW_FORMATS = tuple(FFMPEG_DEMUXERS.values())


def import_nvc() -> Any:
    """PyNvVideoCodec, or an error that says how to install it."""
    try:
        import PyNvVideoCodec as nvc
    except ImportError as error:
        raise DecoderUnavailableError(
            f"--decoder nvdec needs PyNvVideoCodec, which is not installed ({error}): {_INSTALL_HINT}"
        ) from error
    for name in ("CreateDemuxer", "CreateDecoder"):
        if not hasattr(nvc, name):
            raise DecoderUnavailableError(
                f"PyNvVideoCodec {getattr(nvc, '__version__', '?')} has no {name} "
                f"(cuframes uses the 2.x API): pip install -U cuframes[nvdec]"
            )
    return nvc


class _DeviceNv12:
    """A packed NV12 frame in GPU memory, read-only, as ``__cuda_array_interface__``
    (what ``WritableFrame.copy_from`` takes). Keeps the decoded frame alive."""

    def __init__(self, address: int, nbytes: int, owner: Any) -> None:
        self.__cuda_array_interface__ = {
            "shape": (nbytes,),
            "typestr": "|u1",
            "data": (address, True),
            "strides": None,
            "version": 3,
        }
        self._owner = owner


def _packed_address(frame: Any, width: int, height: int) -> int:
    """The address of a decoded frame whose planes form one packed NV12 block.

    PyNvVideoCodec's decoder packs its device-memory output (pitch = width, UV
    right after the Y rows); its per-plane views say so, and GetPtrToPlane(0) with
    framesize() is the fallback, as in bench/harness/alt_nvdec.py.
    """
    try:
        views = [view.__cuda_array_interface__ for view in frame.cuda()]
        if len(views) == 2:
            (y, uv) = views
            y_pitch = (y.get("strides") or (width,))[0]
            uv_pitch = (uv.get("strides") or (width,))[0]
            if y_pitch == width and uv_pitch == width and uv["data"][0] == y["data"][0] + width * height:
                return int(y["data"][0])
    except Exception:
        pass
    size = int(frame.framesize())
    if size != width * height * 3 // 2:
        raise UnsupportedSourceError(
            f"NVDEC gave a {size}-byte frame, not a packed {width}x{height} NV12 frame "
            f"({width * height * 3 // 2} bytes): only 8-bit 4:2:0 video is supported"
        )
    return int(frame.GetPtrToPlane(0))


def _codec_of(codec_id: Any) -> Codec | None:
    name = str(codec_id).upper()  # e.g. "cudaVideoCodec.H264"
    if name.endswith("HEVC"):
        return "hevc"
    if name.endswith("H264"):
        return "h264"
    return None


class NvdecFileSource(VideoSource):
    """Plays ``path`` once, or forever with ``loop``, decoding on GPU ``device``.

    Frames are yielded on the device (``VideoFrame.on_device``): publish them to a
    cuda-backend publisher on the same GPU. Each pass uses a new demuxer and
    decoder, flushed at the end, so that no frame of one pass comes out in the next.
    """

    live = False

    def __init__(self, path: str, *, loop: bool = False, device: int = 0) -> None:
        super().__init__()
        if not os.path.exists(path):
            raise SourceNotFoundError(f"no video file at {path!r}")
        if os.path.isdir(path):
            raise UnsupportedSourceError(f"{path!r} is a folder, not a video file")
        self._nvc = import_nvc()
        self.path, self.loop, self.device = path, loop, device
        with _nvdec_errors(f"cannot open {path!r} for NVDEC"):
            demuxer = self._nvc.CreateDemuxer(filename=path)
            self.width, self.height = int(demuxer.Width()), int(demuxer.Height())
        if self.width % 2 or self.height % 2:
            raise UnsupportedSourceError(f"{path!r} is {self.width}x{self.height}; NV12 needs an even size")
        with _nvdec_errors(f"cannot open {path!r} for NVDEC"):
            bit_depth = int(demuxer.BitDepth())
            self._codec_id = demuxer.GetNvCodecId()
            frame_rate = float(demuxer.FrameRate())
        if bit_depth != 8:
            raise UnsupportedSourceError(f"{path!r} is {bit_depth}-bit video; the NV12 publisher takes 8-bit only")
        self.codec = _codec_of(self._codec_id)
        # PyNvVideoCodec's demuxer is FFmpeg's: its timestamps are in the stream's
        # time base, which it does not expose; PyAV reads the same header.
        av = import_av()
        try:
            with av.open(path) as container:
                if container.format.name in _RAW_FORMATS:
                    raise UnsupportedSourceError(
                        f"{path!r} is a raw {container.format.name} stream without "
                        "timestamps; --decoder nvdec needs them: use an MP4/MKV (or "
                        "--decoder cpu)"
                    )
                if not container.streams.video:
                    raise UnsupportedSourceError(f"{path!r} has no video stream")
                stream = container.streams.video[0]
                self.time_base = stream.time_base
                rate = stream.average_rate or stream.guessed_rate
                # NVDEC's NV12 keeps the coded samples: the stream's colours hold for them.
                self.facts = stream_facts_of(stream, self.time_base)
        except av.error.FFmpegError as error:
            raise UnsupportedSourceError(
                f"{path!r} is not a video file PyAV can read: {ffmpeg_reason(error)}"
            ) from error
        self.fps = float(rate) if rate else frame_rate
        self._timeline = PtsTimeline(ticks_per_frame(self.fps, self.time_base))
        self._warned_packets = False
        self.description = (
            f"file {os.path.basename(path)} ({self.codec or self._codec_id} {self.width}x{self.height} "
            f"{self.fps:g} fps, nvdec on GPU {device}{', looped' if loop else ''})"
        )
        if self.codec is None:
            warn_frames_only(path, self._codec_id)

    def __iter__(self) -> Iterator[SourceItem]:
        while not self.closed:
            frames = 0
            for item in self._one_pass():
                frames += isinstance(item, VideoFrame)
                yield item
            if not self.loop:
                return
            if frames == 0:
                raise nothing_to_loop(self.path)
            self._timeline.new_segment()

    def _one_pass(self) -> Iterator[SourceItem]:
        nvc = self._nvc
        with _nvdec_errors(f"cannot start NVDEC on GPU {self.device} for {self.path!r}"):
            demuxer = nvc.CreateDemuxer(filename=self.path)  # kept alive while its packets are decoded
            decoder = nvc.CreateDecoder(gpuid=self.device, codec=self._codec_id, usedevicememory=True)
        packets = iter(demuxer)
        while True:
            with _nvdec_errors(f"reading {self.path!r} failed"):
                packet = next(packets, None)
            if packet is None:
                return
            if packet.bsl:
                packet_item = self._packet_item(packet)
                if packet_item is not None:
                    yield packet_item
            with _nvdec_errors(f"decoding {self.path!r} with NVDEC failed"):
                # The empty end-of-stream packet flushes the decoder's last frames.
                decoded = decoder.Decode(packet)
                if decoded and hasattr(decoder, "WaitOnCUStream"):
                    # The copy into the slot runs on the default stream (copy_from without a
                    # stream): order it after the decoder's writes to these frames.
                    decoder.WaitOnCUStream(0)
            for frame in decoded or ():
                address = _packed_address(frame, self.width, self.height)
                pts = _timestamp(frame.getPTS())
                if pts is None:
                    raise UnsupportedSourceError(
                        f"{self.path!r} gave a frame without a timestamp; --decoder nvdec "
                        "needs them: use an MP4/MKV (or --decoder cpu)"
                    )
                yield VideoFrame(
                    _DeviceNv12(address, self.width * self.height * 3 // 2, frame),
                    self._timeline.map_frame(pts),
                    on_device=True,
                )
            if self.closed:
                return

    def _packet_item(self, packet: Any) -> VideoPacket | None:
        if self.codec is None:
            return None
        data = ctypes.string_at(int(packet.bsl_data), int(packet.bsl))
        if not is_annexb(data):
            if not self._warned_packets:
                log.warning("%s: the demuxer gave packets that are not Annex-B; publishing frames only", self.path)
                self._warned_packets = True
            return None
        keyframe = bool(getattr(packet, "key", 0)) or starts_random_access(data, self.codec)
        pts, dts = _timestamp(packet.pts), _timestamp(packet.dts)
        pts, dts = self._timeline.map_packet(pts if pts is not None else dts, dts)
        if pts is None:
            return None  # no timestamp to join a frame to
        return VideoPacket(data, pts, dts, keyframe, self.codec)


@contextmanager
def _nvdec_errors(doing: str) -> Iterator[None]:
    """PyNvVideoCodec's and FFmpeg's exceptions (RuntimeError, ValueError, ...) as a
    SourceError that says what was being done, so `cuframes publish` prints one line."""
    try:
        yield
    except SourceError:
        raise
    except Exception as error:
        raise SourceError(f"{doing}: {error or type(error).__name__}") from error


def _timestamp(value: Any) -> int | None:
    value = int(value)
    return None if value == _NO_TIMESTAMP else value
