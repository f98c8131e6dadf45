"""Turns the many spellings of a CUDA stream into the raw handle the core takes."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["StreamLike", "stream_handle"]


@runtime_checkable
class _CudaStreamProtocol(Protocol):
    def __cuda_stream__(self) -> tuple[int, int]: ...


#: Anything accepted where cuframes takes a stream: None or 0 (the legacy
#: default stream), a raw CUstream as an int, an object with
#: ``__cuda_stream__`` (cuda.core), a ``torch.cuda.Stream`` or a cupy stream.
StreamLike = int | _CudaStreamProtocol | Any | None


def stream_handle(stream: StreamLike) -> int:
    """Returns the CUstream handle of ``stream`` as an int (0 for the default stream)."""
    if stream is None:
        return 0
    if isinstance(stream, bool):
        raise TypeError("a stream cannot be a bool")
    if isinstance(stream, int):
        if stream < 0:
            raise ValueError(f"a stream handle cannot be negative, got {stream}")
        return stream
    protocol = getattr(stream, "__cuda_stream__", None)
    if protocol is not None:
        # cuda.core: a method returning (version, handle); tolerate a plain attribute too.
        value = protocol() if callable(protocol) else protocol
        try:
            _version, handle = value
        except (TypeError, ValueError):
            raise TypeError(
                f"__cuda_stream__ of {type(stream).__name__} returned {value!r}, not (version, handle)"
            ) from None
        return int(handle)
    handle = getattr(stream, "cuda_stream", None)  # torch.cuda.Stream
    if isinstance(handle, int):
        return handle
    module = type(stream).__module__ or ""
    if module.startswith("cupy"):
        ptr = getattr(stream, "ptr", None)  # cupy.cuda.Stream / ExternalStream
        if isinstance(ptr, int):
            return ptr
    raise TypeError(
        f"cannot use a {type(stream).__module__}.{type(stream).__name__} as a CUDA stream: pass None, an int "
        "handle, an object with __cuda_stream__, a torch.cuda.Stream or a cupy stream"
    )
