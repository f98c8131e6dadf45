"""A stand-in for ``cuda.bindings.driver`` with the calls bench/harness/cudrv.py and the peers'
sections make, so tests/test_bench_peers.py runs their producer and consumer processes on a machine
without a GPU (put tests/fake_cuda first on sys.path; spawned children inherit it).

"Device memory" is host memory: each cuMemAlloc is a file in /dev/shm mapped into the process, and
an IPC handle carries the file's name, so another process opens the same bytes. Host registration
maps a host block to itself. Copies are memmove and streams are synchronous, so what is tested is
the harness's protocol (who waits for whom, which bytes go where), not any timing.
"""

from __future__ import annotations

import ctypes
import enum
import mmap
import os
import tempfile
from typing import Any

CU_MEMHOSTREGISTER_DEVICEMAP = 2
CU_MEMHOSTREGISTER_READ_ONLY = 8
_SHM = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
_PREFIX = "fake-cuda-py-"


class CUresult(enum.IntEnum):
    CUDA_SUCCESS = 0
    CUDA_ERROR_INVALID_VALUE = 1
    CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED = 712


class CUstream_flags(enum.IntEnum):  # noqa: N801 (cuda.bindings' name)
    CU_STREAM_NON_BLOCKING = 1


class CUevent_flags(enum.IntEnum):  # noqa: N801
    CU_EVENT_DEFAULT = 0


class CUipcMem_flags(enum.IntEnum):  # noqa: N801
    CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS = 1


class CUmemorytype(enum.IntEnum):
    CU_MEMORYTYPE_HOST = 1
    CU_MEMORYTYPE_DEVICE = 2


class CUipcMemHandle:
    def __init__(self) -> None:
        self._bytes = ctypes.create_string_buffer(64)

    def getPtr(self) -> int:  # noqa: N802
        return ctypes.addressof(self._bytes)


class CUDA_MEMCPY2D:  # noqa: N801
    srcXInBytes = srcY = dstXInBytes = dstY = 0
    srcHost = srcDevice = dstHost = dstDevice = 0
    srcPitch = dstPitch = WidthInBytes = Height = 0
    srcMemoryType = dstMemoryType = CUmemorytype.CU_MEMORYTYPE_HOST


_OK = CUresult.CUDA_SUCCESS
_BAD = CUresult.CUDA_ERROR_INVALID_VALUE
_maps: dict[int, tuple[mmap.mmap, Any, str | None]] = {}  # address -> (mapping, anchor, file to unlink)
_registered: set[int] = set()


def _map(path: str, size: int, owned: bool) -> int:
    fd = os.open(path, os.O_RDWR)
    try:
        if owned:
            os.ftruncate(fd, size)
        mapping = mmap.mmap(fd, size)
    finally:
        os.close(fd)
    anchor = ctypes.c_char.from_buffer(mapping)
    address = ctypes.addressof(anchor)
    _maps[address] = (mapping, anchor, path if owned else None)
    return address


def _unmap(address: int, owned: bool) -> CUresult:
    found = _maps.get(address)
    if found is None or (found[2] is not None) != owned:
        return _BAD
    del found  # the anchor must go before the mapping can close
    mapping, anchor, path = _maps.pop(address)
    del anchor
    mapping.close()
    if path is not None:
        os.unlink(path)
    return _OK


def cuGetErrorName(err: Any) -> tuple[CUresult, bytes]:  # noqa: N802
    return _OK, CUresult(err).name.encode()


def cuInit(flags: int) -> tuple[CUresult]:  # noqa: N802
    return (_OK,)


def cuDeviceGet(ordinal: int) -> tuple[CUresult, int]:  # noqa: N802
    return (_OK, ordinal) if ordinal == 0 else (_BAD, 0)


def cuDevicePrimaryCtxRetain(device: int) -> tuple[CUresult, int]:  # noqa: N802
    return _OK, 1


def cuDevicePrimaryCtxRelease(device: int) -> tuple[CUresult]:  # noqa: N802
    return (_OK,)


def cuCtxSetCurrent(context: Any) -> tuple[CUresult]:  # noqa: N802
    return (_OK,)


def cuCtxSynchronize() -> tuple[CUresult]:  # noqa: N802
    return (_OK,)


def cuStreamCreate(flags: int) -> tuple[CUresult, object]:  # noqa: N802
    return _OK, object()


def cuStreamDestroy(stream: Any) -> tuple[CUresult]:  # noqa: N802
    return (_OK,)


def cuStreamSynchronize(stream: Any) -> tuple[CUresult]:  # noqa: N802
    return (_OK,)


def cuEventCreate(flags: int) -> tuple[CUresult, object]:  # noqa: N802
    return _OK, object()


def cuEventDestroy(event: Any) -> tuple[CUresult]:  # noqa: N802
    return (_OK,)


def cuEventRecord(event: Any, stream: Any) -> tuple[CUresult]:  # noqa: N802
    return (_OK,)


def cuEventSynchronize(event: Any) -> tuple[CUresult]:  # noqa: N802
    return (_OK,)


def cuMemAlloc(nbytes: int) -> tuple[CUresult, int]:  # noqa: N802
    fd, path = tempfile.mkstemp(prefix=_PREFIX, dir=_SHM)
    os.close(fd)
    return _OK, _map(path, nbytes, owned=True)


def cuMemFree(ptr: int) -> tuple[CUresult]:  # noqa: N802
    return (_unmap(int(ptr), owned=True),)


def cuMemsetD8(ptr: int, value: int, nbytes: int) -> tuple[CUresult]:  # noqa: N802
    ctypes.memset(int(ptr), value, nbytes)
    return (_OK,)


def cuMemsetD8Async(ptr: int, value: int, nbytes: int, stream: Any) -> tuple[CUresult]:  # noqa: N802
    return cuMemsetD8(ptr, value, nbytes)


def _copy(dst: int, src: int, nbytes: int, *stream: Any) -> tuple[CUresult]:
    ctypes.memmove(int(dst), int(src), nbytes)
    return (_OK,)


cuMemcpyDtoH = cuMemcpyDtoDAsync = cuMemcpyDtoHAsync = cuMemcpyHtoDAsync = _copy


def cuMemcpy2DAsync(copy: CUDA_MEMCPY2D, stream: Any) -> tuple[CUresult]:  # noqa: N802
    device = CUmemorytype.CU_MEMORYTYPE_DEVICE
    src = copy.srcDevice if copy.srcMemoryType == device else copy.srcHost
    dst = copy.dstDevice if copy.dstMemoryType == device else copy.dstHost
    for y in range(copy.Height):
        ctypes.memmove(dst + y * copy.dstPitch, src + y * copy.srcPitch, copy.WidthInBytes)
    return (_OK,)


def cuMemHostRegister(ptr: int, nbytes: int, flags: int) -> tuple[CUresult]:  # noqa: N802
    if ptr in _registered:
        return (CUresult.CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED,)
    _registered.add(ptr)
    return (_OK,)


def cuMemHostUnregister(ptr: int) -> tuple[CUresult]:  # noqa: N802
    if ptr not in _registered:
        return (_BAD,)
    _registered.discard(ptr)
    return (_OK,)


def cuMemHostGetDevicePointer(ptr: int, flags: int) -> tuple[CUresult, int]:  # noqa: N802
    return (_OK, ptr) if ptr in _registered else (_BAD, 0)


def cuIpcGetMemHandle(ptr: int) -> tuple[CUresult, CUipcMemHandle]:  # noqa: N802
    found = _maps.get(int(ptr))
    if found is None or found[2] is None:
        return _BAD, CUipcMemHandle()
    handle = CUipcMemHandle()
    name = f"{len(found[0])}:{found[2]}".encode()
    ctypes.memmove(handle.getPtr(), name, len(name))
    return _OK, handle


def cuIpcOpenMemHandle(handle: CUipcMemHandle, flags: int) -> tuple[CUresult, int]:  # noqa: N802
    size, path = ctypes.string_at(handle.getPtr(), 64).rstrip(b"\0").decode().split(":", 1)
    return _OK, _map(path, int(size), owned=False)


def cuIpcCloseMemHandle(ptr: int) -> tuple[CUresult]:  # noqa: N802
    return (_unmap(int(ptr), owned=False),)
