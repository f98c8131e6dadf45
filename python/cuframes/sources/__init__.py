"""Video sources for ``cuframes publish``: the test pattern, video files and
RTSP cameras (through PyAV, decoded on the CPU), and video files decoded on the
GPU with NVDEC (PyNvVideoCodec, ``pip install cuframes[nvdec]``).

A source yields decoded frames (:class:`VideoFrame`, packed NV12) and, for
H.264/H.265, Annex-B access units (:class:`VideoPacket`) with the same pts as
their frames; :func:`run_publish` feeds them to a :class:`cuframes.Publisher`::

    from cuframes.sources import open_source, run_publish

    with open_source("rtsp://camera/stream") as source, \\
            cuframes.Publisher("cam1", source.width, source.height, "nv12",
                               packet_ring_bytes=8 << 20, facts=source.facts) as pub:
        stats = run_publish(source, pub)

PyAV and PyNvVideoCodec are imported only when a source needs them, so this
package imports without either.
"""

from __future__ import annotations

from .errors import (
    DecoderUnavailableError,
    SourceError,
    SourceNotFoundError,
    SourceUnreachableError,
    UnsupportedSourceError,
)
from .file import FileSource
from .items import SourceHealth, SourceItem, VideoFrame, VideoPacket, VideoSource
from .nvdec import NvdecFileSource
from .publish_loop import PublishStats, run_publish
from .rtsp import Backoff, RtspSource
from .spec import SourceSpec, open_source, parse_source
from .testsrc import TestPatternSource

__all__ = [
    "Backoff",
    "DecoderUnavailableError",
    "FileSource",
    "NvdecFileSource",
    "PublishStats",
    "RtspSource",
    "SourceError",
    "SourceHealth",
    "SourceItem",
    "SourceNotFoundError",
    "SourceSpec",
    "SourceUnreachableError",
    "TestPatternSource",
    "UnsupportedSourceError",
    "VideoFrame",
    "VideoPacket",
    "VideoSource",
    "open_source",
    "parse_source",
    "run_publish",
]
