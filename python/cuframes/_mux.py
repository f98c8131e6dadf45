"""A stream's packets muxed into a container (mp4, mkv, mpegts, nut) through PyAV,
with the producer's pts and dts: the recorder's files and ``cat --packets --format``.

The output stream is made from a template: FFmpeg's H.264/H.265 elementary-stream
demuxer reads one keyframe (with its parameter sets) and gives the codec
parameters and the Annex-B extradata; the muxers convert the Annex-B packets
themselves (mp4 and mkv to length-prefixed NAL units). Needs PyAV.
"""

from __future__ import annotations

import io
import os
from fractions import Fraction
from typing import Any, BinaryIO

from .errors import ERR_OS, Error, InvalidArgumentError
from .sources.annexb import parameter_sets
from .stream_facts import StreamFacts

__all__ = ["MuxedFile", "RecordingError", "apply_facts", "container_format", "parameter_sets", "FORMATS", "EXTENSIONS"]

#: The containers, by the name --format takes: FFmpeg's muxer for each.
FORMATS = {
    "mp4": "mp4",
    "mov": "mov",
    "mkv": "matroska",
    "matroska": "matroska",
    "ts": "mpegts",
    "mpegts": "mpegts",
    "nut": "nut",
}
#: A file name's extension -> its container.
EXTENSIONS = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".ts": "mpegts",
    ".m2ts": "mpegts",
    ".nut": "nut",
}
#: Every packet is handed to the OS at once (FFmpeg's flush_packets): after a kill -9,
#: an mkv, ts or fragmented mp4 file holds everything muxed before it.
_FLUSHED = {"flush_packets": "1"}


class RecordingError(Error, OSError):
    """A file could not be opened or written, or the stream could not be muxed into it."""

    default_status = ERR_OS


def container_format(path: str, format: str | None = None) -> str:
    """FFmpeg's muxer for ``format`` (mp4, mkv, ts...), else for the extension of ``path``."""
    if format is not None:
        name = FORMATS.get(format.lower())
        if name is None:
            raise InvalidArgumentError(f"unknown container format {format!r}; use one of {', '.join(FORMATS)}")
        return name
    extension = os.path.splitext(path)[1].lower()
    name = EXTENSIONS.get(extension)
    if name is None:
        raise InvalidArgumentError(
            f"cannot tell the container from {path!r}: name it .mp4, .mkv or .ts (or give --format {'|'.join(FORMATS)})"
        )
    return name


class MuxedFile:
    """One output container holding one video stream.

    ``target`` is a path or a writable binary file object (a pipe: use a
    streaming format, mpegts or nut). ``keyframe`` is the first access unit
    (a keyframe with its parameter sets), ``time_base`` the unit of the pts
    and dts given to :meth:`write`. ``options`` go to FFmpeg's muxer (e.g.
    ``{"movflags": "frag_keyframe+empty_moov"}``). :meth:`close` writes the
    trailer (an mp4's index): a file that is never closed is only playable
    as far as its format allows (mkv, ts, fragmented mp4: up to its last packet).
    """

    def __init__(
        self,
        target: str | BinaryIO,
        format: str,
        *,
        keyframe: bytes,
        codec: str,
        time_base: Fraction,
        facts: StreamFacts | None = None,
        options: dict[str, str] | None = None,
    ) -> None:
        import av  # optional: pip install av

        self.name = target if isinstance(target, str) else getattr(target, "name", "<stream>")
        self.packets = 0
        self.bytes = 0
        self._time_base = time_base
        self._container: Any = None
        try:
            with av.open(io.BytesIO(keyframe), format=codec) as template:
                self._container = av.open(target, "w", format=format, options={**_FLUSHED, **(options or {})})
                self._stream = self._container.add_stream_from_template(template.streams.video[0])
            self._stream.time_base = time_base
            if facts is not None:
                apply_facts(self._stream.codec_context, facts)
        except (av.error.FFmpegError, OSError, ValueError) as error:
            self._abandon()
            raise RecordingError(
                f"cannot open {self.name} as {format} for {codec}: {error}", errno=getattr(error, "errno", None)
            ) from None
        self._av = av

    def write(self, data: bytes, pts: int, dts: int, keyframe: bool) -> None:
        """Muxes one access unit (Annex-B) with its pts and dts in ``time_base`` units."""
        packet = self._av.Packet(data)
        packet.pts, packet.dts, packet.time_base = pts, dts, self._time_base
        packet.is_keyframe = keyframe  # mkv's keyframe flags, an mp4's fragments and sync samples
        packet.stream = self._stream
        try:
            self._container.mux(packet)
        except BrokenPipeError:
            self._abandon()  # no trailer can reach a reader that went away
            raise  # a normal end for a pipe: the caller's to tell
        except (self._av.error.FFmpegError, OSError) as error:
            raise RecordingError(f"cannot write to {self.name}: {error}", errno=getattr(error, "errno", None)) from None
        self.packets += 1
        self.bytes += len(data)

    def close(self) -> None:
        """Writes the trailer and closes the file. Idempotent."""
        container, self._container = self._container, None
        if container is None:
            return
        try:
            container.close()
        except BrokenPipeError:
            raise
        except (self._av.error.FFmpegError, OSError) as error:
            raise RecordingError(f"cannot finish {self.name}: {error}", errno=getattr(error, "errno", None)) from None

    def _abandon(self) -> None:
        container, self._container = self._container, None
        if container is not None:
            try:
                container.close()
            except Exception:  # already failing: the first error is the one to report
                pass

    def __enter__(self) -> MuxedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def apply_facts(context: Any, facts: StreamFacts) -> None:
    """Gives a PyAV codec context the producer's nominal rate, colours and aspect
    ratio, where the producer stated them (a container's header carries them)."""
    if facts.frame_rate is not None:
        context.framerate = facts.frame_rate
    color = facts.color
    if color.specified:
        context.colorspace, context.color_range = color.matrix, color.range
        context.color_primaries, context.color_trc = color.primaries, color.transfer
    if facts.sample_aspect_ratio is not None:
        context.sample_aspect_ratio = facts.sample_aspect_ratio
