"""What a video source is and what it yields.

A source is an iterable of items in the order it produces them: decoded frames
(:class:`VideoFrame`, packed NV12) and, where the source has compressed video,
Annex-B access units (:class:`VideoPacket`). A frame and the packet of the same
picture carry the same ``pts`` (in the source's ``time_base``), so consumers of
the two rings can join them. Sources only produce; :func:`~cuframes.sources.run_publish`
feeds the items to a publisher, paces them and counts them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, TypeVar

from .._formats import Codec
from ..stream_facts import StreamFacts

__all__ = ["VideoFrame", "VideoPacket", "SourceItem", "SourceHealth", "VideoSource", "Codec", "warn_frames_only"]

log = logging.getLogger("cuframes.sources")

#: Compressed codecs whose access units go to the packet ring.


def warn_frames_only(name: str, codec_name: object) -> None:
    """The one warning of a source whose codec the packet ring does not take."""
    log.warning("%s: codec %s is not H.264/H.265: publishing frames only, no packets", name, codec_name)


@dataclass(frozen=True)
class VideoFrame:
    """One decoded picture, packed NV12 (the Y plane, then the interleaved UV plane, no row padding).

    ``data`` is a 1-D numpy uint8 array on the host, or, when ``on_device``, an
    object exposing ``__cuda_array_interface__`` (GPU memory). Either way it is
    valid only until the source is asked for its next item: publish (copy) it first.
    """

    data: Any
    #: None only on a raw item, before the source's TimestampFiller places it;
    #: every item a source yields has one.
    pts: int | None
    on_device: bool = False


@dataclass(frozen=True)
class VideoPacket:
    """One Annex-B access unit (start codes, parameter sets in-band on keyframes)."""

    data: bytes
    pts: int | None  # as VideoFrame.pts
    dts: int | None
    keyframe: bool
    codec: Codec


SourceItem = VideoFrame | VideoPacket
_Source = TypeVar("_Source", bound="VideoSource")


@dataclass
class SourceHealth:
    """What a live source lost. Stays at zero for files and the test pattern."""

    #: Times the source came back after a loss.
    reconnects: int = 0
    #: Seconds without pictures, summed over the gaps (last picture before a loss
    #: to first picture after it comes back).
    seconds_lost: float = 0.0
    #: Connection attempts that failed while the source was away.
    failed_attempts: int = 0
    #: True while the source is away and retrying.
    reconnecting: bool = False


class VideoSource:
    """The common interface of every source; subclasses fill the attributes in ``__init__``.

    ``width``/``height`` are the size of every yielded frame; ``codec`` is the
    codec of the yielded packets, or None when the source yields none (another
    codec than H.264/H.265). ``live`` sources produce in real time by themselves
    and are never paced; the others are paced by :func:`run_publish` from their pts.
    ``facts`` are the stream facts to publish with (``Publisher(..., facts=source.facts)``):
    their ``time_base`` is the items' pts unit (``time_base``), their rate the
    nominal one (None when the input does not say; ``fps`` then holds a guess).
    """

    width: int
    height: int
    pixel_format: str = "nv12"
    fps: float
    codec: Codec | None
    time_base: Fraction
    live: bool = False
    facts: StreamFacts = StreamFacts()
    #: One line saying what this is, e.g. "file clip.mp4 (h264 1920x1080 25 fps)".
    description: str = ""

    def __init__(self) -> None:
        self.health = SourceHealth()
        self._closed = False

    def __iter__(self) -> Iterator[SourceItem]:
        raise NotImplementedError

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Releases the decoder, the connection or the file. Idempotent."""
        if not self._closed:
            self._closed = True
            self._release()

    def _release(self) -> None:
        """What close() frees; runs once."""

    def __enter__(self: _Source) -> _Source:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # a safety net must never raise
            pass

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} {self.description or '?'} {state}>"
