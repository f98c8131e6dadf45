"""The SOURCE string of ``cuframes publish``, and opening the source it names.

testsrc                      the moving test pattern (size and rate from options)
testsrc:1280x720             ... at this size
testsrc:1280x720@30          ... at this size and rate
testsrc:@60                  ... at this rate
rtsp://[user:pass@]host[:port]/path   an RTSP camera (rtsps:// too)
file:///path/clip.mp4        a video file
/path/clip.mp4, clip.mkv     a video file (any path without a scheme)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit

from .errors import UnsupportedSourceError
from .items import VideoSource
from .rtsp import DEFAULT_BACKOFF, Backoff

__all__ = ["SourceSpec", "parse_source", "open_source", "Decoder"]

Decoder = Literal["cpu", "nvdec"]

_TESTSRC = re.compile(r"^testsrc(?::(?:(?P<width>\d+)x(?P<height>\d+))?(?:@(?P<fps>\d+(?:\.\d+)?))?)?$")
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
_RTSP_SCHEMES = ("rtsp", "rtsps")


@dataclass(frozen=True)
class SourceSpec:
    """What a SOURCE string names. ``location`` is the path or URL ("" for testsrc);
    ``width``/``height``/``fps`` are what a ``testsrc:...`` string set, else None."""

    kind: Literal["testsrc", "file", "rtsp"]
    location: str = ""
    width: int | None = None
    height: int | None = None
    fps: float | None = None


def parse_source(text: str) -> SourceSpec:
    """Parses a SOURCE string (see the module's doc); raises UnsupportedSourceError naming what is wrong."""
    if not text:
        raise UnsupportedSourceError("the source is empty: give testsrc, an rtsp:// URL or a file path")
    if text == "testsrc" or text.startswith("testsrc:"):
        match = _TESTSRC.match(text)
        if match is None or text == "testsrc:":
            raise UnsupportedSourceError(
                f"cannot read {text!r}: the test pattern is testsrc, testsrc:WIDTHxHEIGHT, "
                "testsrc:WIDTHxHEIGHT@FPS or testsrc:@FPS"
            )
        width, height, fps = match.group("width"), match.group("height"), match.group("fps")
        spec = SourceSpec(
            "testsrc",
            width=int(width) if width else None,
            height=int(height) if height else None,
            fps=float(fps) if fps else None,
        )
        if 0 in (spec.width, spec.height):
            raise UnsupportedSourceError(
                f"{text!r} asks for a {spec.width}x{spec.height} picture: give a width "
                "and height of at least 2 (even numbers), e.g. testsrc:1280x720"
            )
        if spec.fps == 0:
            raise UnsupportedSourceError(
                f"{text!r} asks for 0 frames per second: give a positive rate, e.g. testsrc:@30"
            )
        return spec
    scheme = _SCHEME.match(text)
    if scheme is None:
        return SourceSpec("file", text)
    name = scheme.group("scheme").lower()
    if name in _RTSP_SCHEMES:
        if not urlsplit(text).hostname:
            raise UnsupportedSourceError(f"{text!r} names no host")
        return SourceSpec("rtsp", text)
    if name == "file":
        path = unquote(urlsplit(text).path)
        if not path:
            raise UnsupportedSourceError(f"{text!r} names no file")
        return SourceSpec("file", path)
    raise UnsupportedSourceError(
        f"unsupported source scheme {name!r} in {text!r}: give testsrc, an rtsp:// URL or a file path"
    )


def open_source(
    source: SourceSpec | str,
    *,
    decoder: Decoder = "cpu",
    width: int = 1280,
    height: int = 720,
    fps: float = 30.0,
    gop: int | None = None,
    loop: bool = False,
    rtsp_transport: str = "tcp",
    timeout: float = 10.0,
    backoff: Backoff = DEFAULT_BACKOFF,
    device: int = 0,
) -> VideoSource:
    """Opens the source named by ``source`` (a SOURCE string or a parsed spec).

    ``width``/``height``/``fps``/``gop`` shape the test pattern (a ``testsrc:...``
    string overrides them); ``loop`` replays files; ``rtsp_transport``, ``timeout``
    (seconds to connect and to wait for data) and ``backoff`` apply to RTSP;
    ``decoder="nvdec"`` decodes files on GPU ``device`` (PyNvVideoCodec).
    Errors (a missing file, an unreachable camera, a missing package) are
    :class:`~cuframes.sources.SourceError` subclasses.
    """
    spec = parse_source(source) if isinstance(source, str) else source
    if decoder not in ("cpu", "nvdec"):
        raise UnsupportedSourceError(f"decoder must be cpu or nvdec, got {decoder!r}")
    if spec.kind == "testsrc":
        if decoder == "nvdec":
            raise UnsupportedSourceError("the test pattern is not decoded: --decoder nvdec applies to files only")
        from .testsrc import TestPatternSource

        # "is None", not "or": a 0 the string gave must be refused, not replaced by the default.
        return TestPatternSource(
            width if spec.width is None else spec.width,
            height if spec.height is None else spec.height,
            fps if spec.fps is None else spec.fps,
            gop=gop,
        )
    if spec.kind == "rtsp":
        if decoder == "nvdec":
            raise UnsupportedSourceError("--decoder nvdec reads files only; RTSP is decoded on the CPU (--decoder cpu)")
        from .rtsp import RtspSource

        return RtspSource(
            spec.location, transport=rtsp_transport, open_timeout=timeout, read_timeout=timeout, backoff=backoff
        )
    if decoder == "nvdec":
        from .nvdec import NvdecFileSource

        return NvdecFileSource(spec.location, loop=loop, device=device)
    from .file import FileSource

    return FileSource(spec.location, loop=loop)
