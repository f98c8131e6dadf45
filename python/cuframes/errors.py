"""The cuframes exception hierarchy.

Every error raised by cuframes derives from :class:`cuframes.Error`; each
subclass also inherits the builtin exception that matches it, so
``except FileNotFoundError`` or ``except ConnectionError`` work as expected.
Every instance carries ``status`` (the core's status code, shared with the C
ABI) and ``errno`` (the failing system call's errno, or ``None``).
"""

from __future__ import annotations

import builtins
from typing import Any

__all__ = [
    "Error",
    "InvalidArgumentError",
    "FormatError",
    "NotFoundError",
    "TimeoutError",
    "DisconnectedError",
    "ProducerDiedError",
    "KeyInUseError",
    "PermissionDeniedError",
    "ProtocolError",
    "VersionMismatchError",
    "CudaError",
    "CudaUnavailableError",
    "LimitError",
    "StateError",
    "SystemCallError",
]

# Status codes of cuframes.h (cuframes_status); kept here so that this module
# imports without the compiled extension.
OK = 0
ERR_INVALID_ARGUMENT = 1
ERR_FORMAT = 2
ERR_NOT_FOUND = 3
ERR_TIMEOUT = 4
ERR_DISCONNECTED = 5
ERR_KEY_IN_USE = 6
ERR_PERMISSION = 7
ERR_PROTOCOL = 8
ERR_VERSION_MISMATCH = 9
ERR_CUDA = 10
ERR_CUDA_UNAVAILABLE = 11
ERR_LIMIT = 12
ERR_STATE = 13
ERR_OS = 14
ERR_PRODUCER_DIED = 15


class Error(Exception):
    """Base class of every cuframes error."""

    #: Status code for instances created without one.
    default_status: int = ERR_OS

    status: int
    errno: int | None

    def __init__(self, message: str = "", *, status: int | None = None, errno: int | None = None) -> None:
        super().__init__(message)
        self.status = self.default_status if status is None else status
        self.errno = errno

    def __str__(self) -> str:
        # OSError subclasses would otherwise format as "[Errno None] ...".
        return str(self.args[0]) if self.args else ""

    def __reduce__(self) -> tuple[Any, ...]:  # pickles across multiprocessing queues with status/errno intact
        return (_rebuild, (type(self), str(self), self.status, self.errno))


def _rebuild(cls: type[Error], message: str, status: int, errno: int | None) -> Error:
    return cls(message, status=status, errno=errno)


class InvalidArgumentError(Error, ValueError):
    """A bad key, dimension, slot count or option."""

    default_status = ERR_INVALID_ARGUMENT


class FormatError(Error, ValueError):
    """An unknown or unsupported pixel format, or data of the wrong size for it."""

    default_status = ERR_FORMAT


class NotFoundError(Error, FileNotFoundError):
    """No producer for the key (after waiting the connect timeout)."""

    default_status = ERR_NOT_FOUND


class TimeoutError(Error, builtins.TimeoutError):
    """No frame arrived within the timeout."""

    default_status = ERR_TIMEOUT


class DisconnectedError(Error, ConnectionError):
    """The producer has gone: it closed its stream, or (as :class:`ProducerDiedError`) it died."""

    default_status = ERR_DISCONNECTED


class ProducerDiedError(DisconnectedError):
    """The producer died without closing its stream (killed, crashed): iterating a
    subscriber raises it, where a clean close just ends the loop."""

    default_status = ERR_PRODUCER_DIED


class KeyInUseError(Error, FileExistsError):
    """Another live producer owns the key."""

    default_status = ERR_KEY_IN_USE


class PermissionDeniedError(Error, PermissionError):
    """Refused by file mode or peer credentials."""

    default_status = ERR_PERMISSION


class ProtocolError(Error):
    """A malformed message or shared header from the peer."""

    default_status = ERR_PROTOCOL


class VersionMismatchError(ProtocolError):
    """The peers speak different protocol versions."""

    default_status = ERR_VERSION_MISMATCH


class CudaError(Error, RuntimeError):
    """A CUDA driver call failed."""

    default_status = ERR_CUDA


class CudaUnavailableError(CudaError):
    """The cuda backend was asked for but no driver or GPU is usable."""

    default_status = ERR_CUDA_UNAVAILABLE


class LimitError(Error, RuntimeError):
    """Too many subscribers, held frames or open files."""

    default_status = ERR_LIMIT


class StateError(Error, RuntimeError):
    """The call is not valid now (a closed object, a released frame, publish without acquire)."""

    default_status = ERR_STATE


class SystemCallError(Error, OSError):
    """Another system call failed; ``errno`` says which error."""

    default_status = ERR_OS


#: Status code -> exception class; the compiled module raises through this.
_by_status: dict[int, type[Error]] = {
    cls.default_status: cls
    for cls in (
        InvalidArgumentError,
        FormatError,
        NotFoundError,
        TimeoutError,
        DisconnectedError,
        ProducerDiedError,
        KeyInUseError,
        PermissionDeniedError,
        ProtocolError,
        VersionMismatchError,
        CudaError,
        CudaUnavailableError,
        LimitError,
        StateError,
        SystemCallError,
    )
}
