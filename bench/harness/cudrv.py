"""Checked CUDA driver calls through cuda.bindings, for the sections that work below the frameworks
(floor, legacy IPC, host path).

Everything runs on the device's *primary* context, the one cuframes and torch use, so that memory
and streams made here are usable by cuframes in the same process. A :class:`CudaSession` remembers
everything it made (allocations, streams, events, host registrations, opened IPC handles) and
undoes it in reverse order when it closes; a failed cleanup call is an error, not a silent leak.

``cuda.bindings`` is imported inside functions only, so this module imports on a machine without a
GPU. Its calls return tuples ``(CUresult, *outputs)``; :func:`check` turns a failure into
:class:`CudaCallError` with the error's name.
"""

from __future__ import annotations

import ctypes
import itertools
import os
from collections.abc import Callable, Sequence
from typing import Any

IPC_HANDLE_BYTES = 64  # sizeof(CUipcMemHandle)


class CudaCallError(RuntimeError):
    """A CUDA driver call returned something other than CUDA_SUCCESS."""

    def __init__(self, what: str, code: Any, name: str) -> None:
        super().__init__(f"{what} failed: {name}")
        self.code = code
        self.name = name


def driver() -> Any:
    from cuda.bindings import driver as drv

    return drv


def error_name(err: Any) -> str:
    drv = driver()
    try:
        status, name = drv.cuGetErrorName(err)
        if status == drv.CUresult.CUDA_SUCCESS and name:
            return name.decode() if isinstance(name, bytes) else str(name)
    except (TypeError, ValueError, AttributeError, UnicodeDecodeError):  # naming the error must not hide it
        return str(err)
    return str(err)


def check(result: Any, what: str) -> Any:
    """The outputs of a cuda.bindings call (None, one value, or a tuple), or CudaCallError."""
    drv = driver()
    if isinstance(result, tuple):
        err, values = result[0], result[1:]
    else:
        err, values = result, ()
    if err != drv.CUresult.CUDA_SUCCESS:
        raise CudaCallError(what, err, error_name(err))
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def fill_value(index: int) -> int:
    """The byte source buffer ``index`` is filled with: distinct, non-zero."""
    return (37 * (index + 1)) % 251 + 1


class CudaSession:
    """The primary context of ``device``, current in this thread, and what was made through it.

    Use as a context manager. Leaving it synchronizes the context, then frees, destroys,
    unregisters and closes everything still recorded (newest first) and releases the primary
    context; failures there are raised (unless an exception is already on its way)."""

    def __init__(self, device: int = 0) -> None:
        self.drv = driver()
        self.ordinal = device
        self._undo: dict[int, tuple[str, Callable[[], Any]]] = {}
        self._ids = itertools.count()
        self._ptr_tokens: dict[tuple[str, int], int] = {}
        check(self.drv.cuInit(0), "cuInit")
        self.device = check(self.drv.cuDeviceGet(device), f"cuDeviceGet({device})")
        self.context = check(self.drv.cuDevicePrimaryCtxRetain(self.device), "cuDevicePrimaryCtxRetain")
        self._retained = True
        try:
            check(self.drv.cuCtxSetCurrent(self.context), "cuCtxSetCurrent(primary)")
        except BaseException:
            self._release_context()
            raise
        self.cleanup_errors: list[str] = []

    # --- bookkeeping ---
    def _remember(self, what: str, undo: Callable[[], Any], kind: str | None = None, ptr: int | None = None) -> int:
        token = next(self._ids)
        self._undo[token] = (what, undo)
        if kind is not None and ptr is not None:
            self._ptr_tokens[(kind, ptr)] = token
        return token

    def _undo_now(self, kind: str, ptr: int) -> None:
        token = self._ptr_tokens.pop((kind, ptr), None)
        if token is None:
            raise KeyError(f"no {kind} at {ptr:#x} in this session")
        what, undo = self._undo.pop(token)
        check(undo(), what)

    def _release_context(self) -> None:
        if self._retained:
            self._retained = False
            check(self.drv.cuDevicePrimaryCtxRelease(self.device), "cuDevicePrimaryCtxRelease")

    def close(self) -> list[str]:
        """Undoes everything (newest first) and releases the context; returns the failures."""
        errors: list[str] = []
        if self._retained:
            try:
                check(self.drv.cuCtxSynchronize(), "cuCtxSynchronize")
            except CudaCallError as error:
                errors.append(str(error))
        for token in sorted(self._undo, reverse=True):
            what, undo = self._undo.pop(token)
            try:
                check(undo(), what)
            except CudaCallError as error:
                errors.append(str(error))
        self._ptr_tokens.clear()
        try:
            self._release_context()
        except CudaCallError as error:
            errors.append(str(error))
        self.cleanup_errors = errors
        return errors

    def __enter__(self) -> CudaSession:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        errors = self.close()
        if errors and exc_type is None:
            raise RuntimeError("CUDA cleanup failed: " + "; ".join(errors))

    # --- memory ---
    def alloc(self, nbytes: int) -> int:
        ptr = int(check(self.drv.cuMemAlloc(nbytes), f"cuMemAlloc({nbytes})"))
        self._remember(f"cuMemFree({ptr:#x})", lambda: self.drv.cuMemFree(ptr), "alloc", ptr)
        return ptr

    def free(self, ptr: int) -> None:
        self._undo_now("alloc", ptr)

    def fill(self, ptr: int, nbytes: int, value: int) -> None:
        """cuMemsetD8, synchronous."""
        check(self.drv.cuMemsetD8(ptr, value, nbytes), "cuMemsetD8")
        check(self.drv.cuCtxSynchronize(), "cuCtxSynchronize after cuMemsetD8")

    def touch(self, ptr: int, stream: Any, value: int = 0) -> None:
        """The smallest GPU work there is: cuMemsetD8Async of one byte."""
        check(self.drv.cuMemsetD8Async(ptr, value, 1, stream), "cuMemsetD8Async")

    def peek(self, ptr: int, nbytes: int = 1) -> bytes:
        """The first bytes at a device pointer (synchronous; for sanity checks outside timed code)."""
        buf = (ctypes.c_uint8 * nbytes)()
        check(self.drv.cuMemcpyDtoH(ctypes.addressof(buf), ptr, nbytes), "cuMemcpyDtoH (peek)")
        return bytes(buf)

    # --- streams and events ---
    def stream(self) -> Any:
        flags = int(self.drv.CUstream_flags.CU_STREAM_NON_BLOCKING)
        stream = check(self.drv.cuStreamCreate(flags), "cuStreamCreate")
        self._remember("cuStreamDestroy", lambda: self.drv.cuStreamDestroy(stream))
        return stream

    def sync(self, stream: Any) -> None:
        check(self.drv.cuStreamSynchronize(stream), "cuStreamSynchronize")

    def event(self) -> Any:
        event = check(self.drv.cuEventCreate(int(self.drv.CUevent_flags.CU_EVENT_DEFAULT)), "cuEventCreate")
        self._remember("cuEventDestroy", lambda: self.drv.cuEventDestroy(event))
        return event

    def record(self, event: Any, stream: Any) -> None:
        check(self.drv.cuEventRecord(event, stream), "cuEventRecord")

    def elapsed_ms(self, start: Any, end: Any) -> float:
        check(self.drv.cuEventSynchronize(end), "cuEventSynchronize")
        return float(check(self.drv.cuEventElapsedTime(start, end), "cuEventElapsedTime"))

    # --- copies ---
    def copy_dtod(self, dst: int, src: int, nbytes: int, stream: Any) -> None:
        check(self.drv.cuMemcpyDtoDAsync(dst, src, nbytes, stream), "cuMemcpyDtoDAsync")

    def plane_copies(self, planes: Sequence[Any], *, device: int, host: int, to_host: bool) -> list[Any]:
        """A copy plan between a packed frame on the device (planes back to back, no row padding)
        and a pitched slot in host memory (``planes``: cuframes PlaneInfo, offsets from ``host``).
        One linear copy when the slot is laid out packed, else one 2D copy per plane."""
        drv = self.drv
        packed = 0
        linear = True
        for plane in planes:
            if plane.offset != packed or plane.pitch != plane.row_bytes:
                linear = False
            packed += plane.row_bytes * plane.height
        if linear:
            return [("1d", packed)]
        plan: list[Any] = []
        offset = 0
        for plane in planes:
            copy = drv.CUDA_MEMCPY2D()
            copy.srcXInBytes = copy.srcY = copy.dstXInBytes = copy.dstY = 0
            if to_host:
                copy.srcMemoryType = drv.CUmemorytype.CU_MEMORYTYPE_DEVICE
                copy.srcDevice = device + offset
                copy.srcPitch = plane.row_bytes
                copy.dstMemoryType = drv.CUmemorytype.CU_MEMORYTYPE_HOST
                copy.dstHost = host + plane.offset
                copy.dstPitch = plane.pitch
            else:
                copy.srcMemoryType = drv.CUmemorytype.CU_MEMORYTYPE_HOST
                copy.srcHost = host + plane.offset
                copy.srcPitch = plane.pitch
                copy.dstMemoryType = drv.CUmemorytype.CU_MEMORYTYPE_DEVICE
                copy.dstDevice = device + offset
                copy.dstPitch = plane.row_bytes
            copy.WidthInBytes = plane.row_bytes
            copy.Height = plane.height
            plan.append(("2d", copy))
            offset += plane.row_bytes * plane.height
        return plan

    def run_plan(self, plan: list[Any], *, device: int, host: int, to_host: bool, stream: Any) -> None:
        """Enqueues a plan from :meth:`plane_copies` (``device``/``host`` as given there)."""
        for kind, item in plan:
            if kind == "1d":
                if to_host:
                    check(self.drv.cuMemcpyDtoHAsync(host, device, item, stream), "cuMemcpyDtoHAsync")
                else:
                    check(self.drv.cuMemcpyHtoDAsync(device, host, item, stream), "cuMemcpyHtoDAsync")
            else:
                check(self.drv.cuMemcpy2DAsync(item, stream), "cuMemcpy2DAsync")

    # --- page-locking host memory ---
    def host_register(self, ptr: int, nbytes: int, *, read_only: bool = False, mapped: bool = False) -> str | None:
        """Page-locks [ptr, ptr+nbytes) (CU_MEMHOSTREGISTER_READ_ONLY for a read-only mapping,
        CU_MEMHOSTREGISTER_DEVICEMAP to map it for the GPU); None on success, else the error's
        name (the memory stays pageable)."""
        flags = int(self.drv.CU_MEMHOSTREGISTER_READ_ONLY) if read_only else 0
        flags |= int(self.drv.CU_MEMHOSTREGISTER_DEVICEMAP) if mapped else 0
        try:
            check(self.drv.cuMemHostRegister(ptr, nbytes, flags), "cuMemHostRegister")
        except CudaCallError as error:
            return error.name
        self._remember(f"cuMemHostUnregister({ptr:#x})", lambda: self.drv.cuMemHostUnregister(ptr), "hostreg", ptr)
        return None

    def host_unregister(self, ptr: int) -> None:
        self._undo_now("hostreg", ptr)

    # --- legacy IPC ---
    def ipc_handle(self, ptr: int) -> bytes:
        """cuIpcGetMemHandle of an allocation, as the 64 bytes of the handle."""
        handle = check(self.drv.cuIpcGetMemHandle(ptr), "cuIpcGetMemHandle")
        return ctypes.string_at(handle.getPtr(), IPC_HANDLE_BYTES)

    def ipc_open(self, handle_bytes: bytes) -> int:
        """cuIpcOpenMemHandle (CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS, the only flag there is)."""
        if len(handle_bytes) != IPC_HANDLE_BYTES:
            raise ValueError(f"an IPC handle is {IPC_HANDLE_BYTES} bytes, got {len(handle_bytes)}")
        handle = self.drv.CUipcMemHandle()
        ctypes.memmove(handle.getPtr(), handle_bytes, IPC_HANDLE_BYTES)
        flags = int(self.drv.CUipcMem_flags.CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS)
        ptr = int(check(self.drv.cuIpcOpenMemHandle(handle, flags), "cuIpcOpenMemHandle"))
        self._remember(f"cuIpcCloseMemHandle({ptr:#x})", lambda: self.drv.cuIpcCloseMemHandle(ptr), "ipc", ptr)
        return ptr

    def ipc_close(self, ptr: int) -> None:
        self._undo_now("ipc", ptr)

    # --- pinned host memory, VMM sharing, copy attributes (bench/harness/engines*.py) ---
    def host_alloc(self, nbytes: int, *, mapped: bool = False) -> tuple[int, int]:
        """cuMemHostAlloc: pinned host memory; with ``mapped`` also its device address (else 0)."""
        flags = int(self.drv.CU_MEMHOSTALLOC_DEVICEMAP) if mapped else 0
        host = int(check(self.drv.cuMemHostAlloc(nbytes, flags), f"cuMemHostAlloc({nbytes})"))
        self._remember(f"cuMemFreeHost({host:#x})", lambda: self.drv.cuMemFreeHost(host), "hostalloc", host)
        device = int(check(self.drv.cuMemHostGetDevicePointer(host, 0), "cuMemHostGetDevicePointer")) if mapped else 0
        return host, device

    def _vmm_prop(self) -> Any:
        drv = self.drv
        prop = drv.CUmemAllocationProp()
        prop.type = drv.CUmemAllocationType.CU_MEM_ALLOCATION_TYPE_PINNED
        prop.requestedHandleTypes = drv.CUmemAllocationHandleType.CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR
        prop.location.type = drv.CUmemLocationType.CU_MEM_LOCATION_TYPE_DEVICE
        prop.location.id = self.ordinal
        return prop

    def vmm_size(self, nbytes: int) -> int:
        """``nbytes`` rounded up to the allocation granularity of a POSIX-FD device allocation."""
        flag = self.drv.CUmemAllocationGranularity_flags.CU_MEM_ALLOC_GRANULARITY_MINIMUM
        grain = int(check(self.drv.cuMemGetAllocationGranularity(self._vmm_prop(), flag), "granularity"))
        return -(-nbytes // grain) * grain

    def _vmm_map(self, handle: Any, size: int) -> int:
        """Reserves an address range, maps ``handle`` there read-write for this device, releases the
        handle (the mapping keeps the memory); the unmap and free are remembered."""
        drv = self.drv
        try:
            ptr = int(check(drv.cuMemAddressReserve(size, 0, 0, 0), "cuMemAddressReserve"))
        except BaseException:
            check(drv.cuMemRelease(handle), "cuMemRelease")
            raise
        self._remember(f"cuMemAddressFree({ptr:#x})", lambda: drv.cuMemAddressFree(ptr, size))
        mapped = drv.cuMemMap(ptr, size, 0, handle, 0)
        check(drv.cuMemRelease(handle), "cuMemRelease")
        check(mapped, "cuMemMap")
        self._remember(f"cuMemUnmap({ptr:#x})", lambda: drv.cuMemUnmap(ptr, size))
        access = drv.CUmemAccessDesc()
        access.location.type = drv.CUmemLocationType.CU_MEM_LOCATION_TYPE_DEVICE
        access.location.id = self.ordinal
        access.flags = drv.CUmemAccess_flags.CU_MEM_ACCESS_FLAGS_PROT_READWRITE
        check(drv.cuMemSetAccess(ptr, size, [access], 1), "cuMemSetAccess")
        return ptr

    def vmm_export(self, nbytes: int) -> tuple[int, int, int]:
        """A device allocation made to be shared: (pointer, mapped size, POSIX FD). The caller owns
        the FD (close it once sent)."""
        size = self.vmm_size(nbytes)
        handle = check(self.drv.cuMemCreate(size, self._vmm_prop(), 0), f"cuMemCreate({size})")
        kind = self.drv.CUmemAllocationHandleType.CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR
        try:
            fd = int(check(self.drv.cuMemExportToShareableHandle(handle, kind, 0), "cuMemExportToShareableHandle"))
        except BaseException:
            check(self.drv.cuMemRelease(handle), "cuMemRelease")
            raise
        try:
            return self._vmm_map(handle, size), size, fd
        except BaseException:
            os.close(fd)
            raise

    def vmm_import(self, fd: int, size: int) -> int:
        """Maps another process's exported allocation (its POSIX FD) read-write here."""
        kind = self.drv.CUmemAllocationHandleType.CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR
        handle = check(self.drv.cuMemImportFromShareableHandle(fd, kind), "cuMemImportFromShareableHandle")
        return self._vmm_map(handle, size)

    def copy_attributes(self, *, prefer_copy_engine: bool) -> Any:
        """CUmemcpyAttributes for a stream-ordered device-to-device copy (CUDA 12.8+), with
        CU_MEMCPY_FLAG_PREFER_OVERLAP_WITH_COMPUTE when ``prefer_copy_engine``."""
        drv = self.drv
        attrs = drv.CUmemcpyAttributes()
        # The location hints stay unset (zero): they apply to managed memory only.
        attrs.srcAccessOrder = drv.CUmemcpySrcAccessOrder.CU_MEMCPY_SRC_ACCESS_ORDER_STREAM
        flags = drv.CUmemcpyFlags
        attrs.flags = int(
            flags.CU_MEMCPY_FLAG_PREFER_OVERLAP_WITH_COMPUTE if prefer_copy_engine else flags.CU_MEMCPY_FLAG_DEFAULT
        )
        return attrs

    def copy_batch(self, dst: int, src: int, nbytes: int, attrs: Any, stream: Any) -> None:
        """One copy through cuMemcpyBatchAsync. cuda-bindings 12.8-12.9 return (CUresult, failIdx)
        and 13.x CUresult alone, with the same arguments; check() takes either."""
        drv = self.drv
        result = drv.cuMemcpyBatchAsync(
            [drv.CUdeviceptr(dst)], [drv.CUdeviceptr(src)], [nbytes], 1, [attrs], [0], 1, stream
        )
        check(result, "cuMemcpyBatchAsync")


def create_context(drv: Any, device: Any) -> Any:
    """A new (non-primary) context, made current: cuCtxCreate(params, flags, dev) in CUDA 13,
    cuCtxCreate(flags, dev) before. Destroy it with cuCtxDestroy."""
    try:
        return check(drv.cuCtxCreate(None, 0, device), "cuCtxCreate")
    except TypeError:  # cuda-bindings 12.x: no parameters structure
        return check(drv.cuCtxCreate(0, device), "cuCtxCreate")
