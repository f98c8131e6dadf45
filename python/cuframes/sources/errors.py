"""Errors of the video sources.

Each is a :class:`cuframes.Error` (so ``except cuframes.Error`` catches them with
the core's) and also the builtin that matches it, as the core's errors are:
``except FileNotFoundError`` catches a missing file, ``except ConnectionError``
an unreachable camera.
"""

from __future__ import annotations

from ..errors import ERR_DISCONNECTED, ERR_INVALID_ARGUMENT, ERR_NOT_FOUND, ERR_OS, Error

__all__ = [
    "SourceError",
    "SourceNotFoundError",
    "SourceUnreachableError",
    "UnsupportedSourceError",
    "DecoderUnavailableError",
    "nothing_to_loop",
    "ffmpeg_reason",
]


class SourceError(Error):
    """A video source could not be opened, read or decoded."""

    default_status = ERR_OS


class SourceNotFoundError(SourceError, FileNotFoundError):
    """The file named as the source does not exist."""

    default_status = ERR_NOT_FOUND


class SourceUnreachableError(SourceError, ConnectionError):
    """A network source (rtsp://) refused, timed out or failed while opening."""

    default_status = ERR_DISCONNECTED


class UnsupportedSourceError(SourceError, ValueError):
    """A SOURCE string, codec, pixel layout or option combination that is not supported."""

    default_status = ERR_INVALID_ARGUMENT


class DecoderUnavailableError(SourceError, ImportError):
    """An optional package the source needs (PyAV, PyNvVideoCodec) is not installed."""

    default_status = ERR_INVALID_ARGUMENT


def ffmpeg_reason(error: BaseException) -> str:
    """What FFmpeg said went wrong ("Invalid data found when processing input"), without
    PyAV's "[Errno 1094995529]" (an AVERROR code nobody can look up) or the file name."""
    return getattr(error, "strerror", None) or str(error)


def nothing_to_loop(path: str) -> UnsupportedSourceError:
    """A looped file that gave no picture: looping it would spin."""
    return UnsupportedSourceError(f"{path!r} gave no decodable frame; nothing to loop")
