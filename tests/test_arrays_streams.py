"""How the facade finds memory and streams in foreign objects (no GPU needed:
the protocols are exercised with stand-in objects)."""

from __future__ import annotations

import numpy as np
import pytest

import cuframes
from cuframes._arrays import buffer_of
from cuframes._streams import stream_handle


class CudaStreamProtocol:
    def __cuda_stream__(self):
        return (0, 0xABC)


class TorchLikeStream:
    cuda_stream = 0xDEF


class FakeCai:
    """Something exposing only __cuda_array_interface__ (like a cupy or numba array)."""

    def __init__(self, shape, strides=None, ptr=0x7000_0000, readonly=False, stream=None):
        self.__cuda_array_interface__ = {
            "shape": shape,
            "typestr": "|u1",
            "strides": strides,
            "data": (ptr, readonly),
            "version": 3,
            "stream": stream,
        }


class DLPackOnly:
    """Something exposing only DLPack (wraps a numpy array)."""

    def __init__(self, array):
        self._array = array

    def __dlpack__(self, **kwargs):
        return self._array.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._array.__dlpack_device__()


def test_stream_spellings() -> None:
    assert stream_handle(None) == 0
    assert stream_handle(0) == 0
    assert stream_handle(0x1234) == 0x1234
    assert stream_handle(CudaStreamProtocol()) == 0xABC
    assert stream_handle(TorchLikeStream()) == 0xDEF
    cupy_like = type("Stream", (), {"__module__": "cupy.cuda.stream", "ptr": 0x55})()
    assert stream_handle(cupy_like) == 0x55
    with pytest.raises(TypeError):
        stream_handle("default")
    with pytest.raises(TypeError):
        stream_handle(True)
    with pytest.raises(ValueError):
        stream_handle(-1)


def test_numpy_buffers() -> None:
    array = np.zeros((4, 8), np.uint16)
    buf = buffer_of(array, nbytes=64, writable=True)
    assert (buf.ptr, buf.nbytes, buf.is_device) == (array.ctypes.data, 64, False)
    with pytest.raises(cuframes.FormatError, match="64 bytes"):
        buffer_of(array, nbytes=63, writable=True)
    with pytest.raises(cuframes.InvalidArgumentError, match="contiguous"):
        buffer_of(array[:, ::2], nbytes=32, writable=True)
    array.flags.writeable = False
    assert buffer_of(array, nbytes=64, writable=False).ptr == array.ctypes.data
    with pytest.raises(cuframes.InvalidArgumentError, match="read-only"):
        buffer_of(array, nbytes=64, writable=True)


def test_cuda_array_interface_buffers() -> None:
    buf = buffer_of(FakeCai((2, 3), stream=7), nbytes=6, writable=True)
    assert (buf.ptr, buf.nbytes, buf.is_device, buf.stream) == (0x7000_0000, 6, True, 7)
    assert buffer_of(FakeCai((2, 3), strides=(3, 1)), nbytes=6, writable=True).is_device
    with pytest.raises(cuframes.InvalidArgumentError, match="contiguous"):
        buffer_of(FakeCai((2, 3), strides=(6, 2)), nbytes=6, writable=True)
    with pytest.raises(cuframes.InvalidArgumentError, match="read-only"):
        buffer_of(FakeCai((2, 3), readonly=True), nbytes=6, writable=True)


def test_dlpack_only_buffers() -> None:
    array = np.arange(24, dtype=np.uint8).reshape(4, 6)
    buf = buffer_of(DLPackOnly(array), nbytes=24, writable=False)
    assert (buf.ptr, buf.nbytes, buf.is_device) == (array.ctypes.data, 24, False)
    with pytest.raises(cuframes.InvalidArgumentError, match="contiguous"):
        buffer_of(DLPackOnly(array[:, ::2]), nbytes=12, writable=False)


def test_bytes_like_buffers() -> None:
    data = bytearray(b"abcdef")
    assert buffer_of(data, nbytes=6, writable=True).nbytes == 6
    with pytest.raises(cuframes.InvalidArgumentError, match="read-only"):
        buffer_of(b"abcdef", nbytes=6, writable=True)
    with pytest.raises(TypeError, match="cannot use"):
        buffer_of(object(), nbytes=6, writable=False)
