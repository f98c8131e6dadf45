"""Finds the memory behind numpy, torch, cupy and other array objects.

cuframes copies whole packed frames, so every source or destination must be
one C-contiguous block of exactly the frame's packed size.
"""

from __future__ import annotations

import ctypes
import math
from dataclasses import dataclass
from typing import Any

from .errors import FormatError, InvalidArgumentError

__all__ = ["Buffer", "buffer_of"]

_KDL_CPU = 1
_KDL_CUDA = 2
_KDL_CUDA_HOST = 3
_KDL_CUDA_MANAGED = 13


@dataclass(frozen=True)
class Buffer:
    """One contiguous block: its address, size, whether it is device memory,
    and the object that keeps it alive for the duration of a copy."""

    ptr: int
    nbytes: int
    is_device: bool
    keepalive: Any = None
    #: The stream the producer of a __cuda_array_interface__ said its data is on.
    stream: int | None = None


def _describe(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _c_contiguous(shape: tuple[int, ...], strides: tuple[int, ...] | None, itemsize: int) -> bool:
    if strides is None:
        return True
    expected = itemsize
    for size, stride in zip(reversed(shape), reversed(strides)):
        if size != 1 and stride != expected:
            return False
        expected *= size
    return True


def _itemsize_of_typestr(typestr: str) -> int:
    try:
        return int(typestr[2:])
    except ValueError:
        raise InvalidArgumentError(f"unsupported typestr {typestr!r}") from None


def _from_interface(obj: Any, iface: dict, *, is_device: bool, writable: bool, what: str) -> Buffer:
    shape = tuple(int(s) for s in iface["shape"])
    itemsize = _itemsize_of_typestr(iface["typestr"])
    strides = iface.get("strides")
    strides = tuple(int(s) for s in strides) if strides is not None else None
    ptr, readonly = iface["data"]
    if not _c_contiguous(shape, strides, itemsize):
        raise InvalidArgumentError(
            f"the {what} ({_describe(obj)}, shape {shape}, strides {strides}) is not "
            "C-contiguous; make a contiguous copy first"
        )
    if writable and readonly:
        raise InvalidArgumentError(f"the {what} ({_describe(obj)}) is read-only")
    stream = iface.get("stream") if is_device else None
    return Buffer(
        int(ptr or 0),
        math.prod(shape) * itemsize,
        is_device,
        obj,
        int(stream) if isinstance(stream, int) and stream > 0 else None,
    )


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", _DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", _DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


_capsule_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_get_pointer.restype = ctypes.c_void_p
_capsule_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


def _from_dlpack(obj: Any, *, stream: int, writable: bool, what: str) -> Buffer:
    device_type, _device_id = obj.__dlpack_device__()
    # DLPack: 1 is the legacy default stream (0 is not allowed).
    capsule = obj.__dlpack__(stream=stream or 1) if device_type == _KDL_CUDA else obj.__dlpack__()
    # An unconsumed capsule keeps ownership: its destructor frees the tensor
    # once `keepalive` goes, so reading the struct here takes nothing from it.
    address = _capsule_get_pointer(capsule, b"dltensor")
    tensor = _DLTensor.from_address(address)  # DLManagedTensor starts with its DLTensor
    ndim = tensor.ndim
    shape = tuple(tensor.shape[i] for i in range(ndim))
    itemsize = (tensor.dtype.bits * tensor.dtype.lanes + 7) // 8
    strides = tuple(tensor.strides[i] * itemsize for i in range(ndim)) if tensor.strides else None
    if not _c_contiguous(shape, strides, itemsize):
        raise InvalidArgumentError(
            f"the {what} ({_describe(obj)}, shape {shape}) is not C-contiguous; make a contiguous copy first"
        )
    is_device = tensor.device.device_type in (_KDL_CUDA, _KDL_CUDA_MANAGED)
    if tensor.device.device_type not in (_KDL_CPU, _KDL_CUDA, _KDL_CUDA_HOST, _KDL_CUDA_MANAGED):
        raise InvalidArgumentError(
            f"the {what} lives on DLPack device type {tensor.device.device_type}; cuframes takes CPU or CUDA memory"
        )
    ptr = (tensor.data or 0) + tensor.byte_offset
    return Buffer(ptr, math.prod(shape) * itemsize, is_device, (obj, capsule))


def buffer_of(obj: Any, *, nbytes: int, writable: bool, stream: int = 0, what: str = "array") -> Buffer:
    """Returns the memory block of ``obj``, checked to be C-contiguous, of
    exactly ``nbytes`` bytes, and writable when ``writable``.

    Takes numpy arrays, torch tensors (CPU or CUDA), cupy arrays, anything with
    ``__cuda_array_interface__``, ``__array_interface__`` or ``__dlpack__``,
    and (read-only uses) bytes-like objects.
    """
    buf = _buffer_of(obj, writable=writable, stream=stream, what=what)
    if buf.nbytes != nbytes:
        raise FormatError(
            f"the {what} ({_describe(obj)}) holds {buf.nbytes} bytes but a packed frame is "
            f"{nbytes} bytes; the sizes must match exactly"
        )
    return buf


def _buffer_of(obj: Any, *, writable: bool, stream: int, what: str) -> Buffer:
    module = type(obj).__module__ or ""
    if module.startswith("numpy"):
        iface = getattr(obj, "__array_interface__", None)
        if iface is not None:
            return _from_interface(obj, iface, is_device=False, writable=writable, what=what)
    if module.startswith("torch"):
        if not obj.is_contiguous():
            raise InvalidArgumentError(
                f"the {what} (torch tensor, shape {tuple(obj.shape)}) is not contiguous; call .contiguous() first"
            )
        return Buffer(int(obj.data_ptr()), obj.numel() * obj.element_size(), bool(obj.is_cuda), obj)
    iface = getattr(obj, "__cuda_array_interface__", None)
    if iface is not None:
        return _from_interface(obj, iface, is_device=True, writable=writable, what=what)
    iface = getattr(obj, "__array_interface__", None)
    if iface is not None:
        return _from_interface(obj, iface, is_device=False, writable=writable, what=what)
    if hasattr(obj, "__dlpack__") and hasattr(obj, "__dlpack_device__"):
        return _from_dlpack(obj, stream=stream, writable=writable, what=what)
    try:
        view = memoryview(obj)
    except TypeError:
        raise TypeError(
            f"cannot use a {_describe(obj)} as the {what}: pass a numpy, torch or cupy array, or an "
            "object with __dlpack__, __cuda_array_interface__ or __array_interface__"
        ) from None
    if not view.c_contiguous:
        raise InvalidArgumentError(f"the {what} ({_describe(obj)}) is not C-contiguous")
    if writable and view.readonly:
        raise InvalidArgumentError(f"the {what} ({_describe(obj)}) is read-only")
    import numpy as np

    arr = np.frombuffer(view, dtype=np.uint8)
    return Buffer(int(arr.ctypes.data) if arr.size else 0, view.nbytes, False, (view, arr))
