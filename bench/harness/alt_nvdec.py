"""NVDEC: decode once per consumer, or decode once and share through cuframes.

The question: how many 1080p25 cameras one GPU serves when every camera has 3 consumers
(a recorder, a detector, a compositor...).

- ``nvdec`` (decode per consumer): K decoder processes each decode the test clip in a
  loop, as fast as they can, with PyNvVideoCodec into device memory, for a fixed time.
  Every consumer decodes its own copy of the camera, so
  cameras = aggregate decoded fps / (25 fps x 3 consumers).
- ``cuframes`` (decode once, share): K decoder processes decode the same way and publish
  every decoded frame into their own ``cuframes.Publisher`` (cuda backend, nv12): the
  decoded NV12 surface is copied device-to-device into the acquired slot, then
  published. 3 subscriber processes per publisher borrow every frame (sequential
  delivery: ``next()``, then release) and count what they received and missed. Every
  consumer is served by the one decode, so cameras = aggregate published fps / 25.

Before any of that, one child decodes a few frames of the clip (the probe) and pushes
one of them through a real cuda Publisher and Subscriber, comparing the bytes with the
decoder's planes (``copy_check``): the section is skipped, with the reason, when
PyNvVideoCodec or the clip is missing or cannot decode, and the shared cases are skipped
when the copy does not reproduce the frame.

Both are throughput-derived: the decoders run flat out and the camera count is the
aggregate frame rate divided by the frames 25 fps cameras need; no paced 25 fps
streams are run.

The result is the throughput retained: published fps / decoded fps alone (row
``throughput-retention``, unit "ratio", best K of each; each ``decode+publish-xK`` row carries
``retention`` against ``decode-xK``). The camera counts follow from it by arithmetic: their
ratio is CONSUMERS x the retention, so "3 x the cameras with 3 consumers" says only that
sharing loses nothing, and is not reported as a result.

Decoders and subscribers are separate processes (spawned; nothing CUDA is inherited);
the parent imports neither PyNvVideoCodec nor cuframes and never touches CUDA. Every
wait has a time limit, and survivors are killed.

    python -m bench.harness.alt_nvdec [--quick] [--clip PATH]   # rows as JSON
    python -m bench.harness.alt_nvdec --probe [--clip PATH]     # decode 10 frames, print their layout

The clip comes from ``bash bench/make_clip.sh`` (``.benchdata/clip-1080p25.mp4``);
another can be given with ``--clip`` or ``CUFRAMES_BENCH_CLIP``.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import importlib.util
import json
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .common import ChildError, Children, Settings, reporting_errors, row

SECTION = "nvdec"
SIZE = "1080p"
CAMERA_FPS = 25
CONSUMERS = 3
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CLIPS = (REPO_ROOT / ".benchdata" / "clip-1080p25.mp4", REPO_ROOT / ".benchdata" / "clip-1080p25.h264")

WARMUP_FRAMES = 25  # decoded (and not counted) before a process says it is ready
DRAIN_S = 1.0  # a publisher stays up this long after its window, so subscribers catch up
PROBE_TIMEOUT_S = 60.0  # the pre-flight (probe of 3 frames + copy check), in a child
THROUGHPUT_NOTE = (
    "throughput-derived: decoders run flat out and cameras = aggregate frame rate / "
    f"{CAMERA_FPS} fps per camera (per consumer for nvdec); no paced 25 fps streams were run"
)


# --------------------------------------------------------------------------------------
# CUDA driver API through ctypes: a stream, 2D copies, a few attributes. No Python CUDA
# package needed; the layouts are cuda.h's (CUDA_MEMCPY2D_v2, size_t fields).
# --------------------------------------------------------------------------------------


class _Memcpy2D(ctypes.Structure):
    _fields_ = [
        ("srcXInBytes", ctypes.c_size_t),
        ("srcY", ctypes.c_size_t),
        ("srcMemoryType", ctypes.c_int),
        ("srcHost", ctypes.c_void_p),
        ("srcDevice", ctypes.c_uint64),
        ("srcArray", ctypes.c_void_p),
        ("srcPitch", ctypes.c_size_t),
        ("dstXInBytes", ctypes.c_size_t),
        ("dstY", ctypes.c_size_t),
        ("dstMemoryType", ctypes.c_int),
        ("dstHost", ctypes.c_void_p),
        ("dstDevice", ctypes.c_uint64),
        ("dstArray", ctypes.c_void_p),
        ("dstPitch", ctypes.c_size_t),
        ("WidthInBytes", ctypes.c_size_t),
        ("Height", ctypes.c_size_t),
    ]


assert ctypes.sizeof(_Memcpy2D) == 128, "CUDA_MEMCPY2D is 128 bytes on 64-bit Linux"

_CU_MEMORYTYPE_HOST = 1
_CU_MEMORYTYPE_DEVICE = 2
_CU_STREAM_NON_BLOCKING = 1
_CU_POINTER_ATTRIBUTE_CONTEXT = 1
_CU_POINTER_ATTRIBUTE_MEMORY_TYPE = 2
_CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL = 9


class _Cuda:
    """The device's primary context (the one cuframes and, given its handle, the
    decoder use), made current, and one non-blocking stream in it."""

    def __init__(self, ordinal: int) -> None:
        lib = ctypes.CDLL("libcuda.so.1")
        self._lib = lib
        vp, u64, sz = ctypes.c_void_p, ctypes.c_uint64, ctypes.c_size_t
        for name, args in {
            "cuInit": [ctypes.c_uint],
            "cuDeviceGet": [ctypes.POINTER(ctypes.c_int), ctypes.c_int],
            "cuDevicePrimaryCtxRetain": [ctypes.POINTER(vp), ctypes.c_int],
            "cuDevicePrimaryCtxRelease_v2": [ctypes.c_int],
            "cuCtxSetCurrent": [vp],
            "cuStreamCreate": [ctypes.POINTER(vp), ctypes.c_uint],
            "cuStreamDestroy_v2": [vp],
            "cuStreamSynchronize": [vp],
            "cuMemcpy2DAsync_v2": [ctypes.POINTER(_Memcpy2D), vp],
            "cuMemcpyDtoH_v2": [vp, u64, sz],
            "cuPointerGetAttribute": [vp, ctypes.c_int, u64],
            "cuGetErrorName": [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)],
        }.items():
            fn = getattr(lib, name)
            fn.argtypes, fn.restype = args, ctypes.c_int
        self._check(lib.cuInit(0), "cuInit")
        device = ctypes.c_int()
        self._check(lib.cuDeviceGet(ctypes.byref(device), ordinal), f"cuDeviceGet({ordinal})")
        self.device = device.value
        context = ctypes.c_void_p()
        self._check(lib.cuDevicePrimaryCtxRetain(ctypes.byref(context), self.device), "cuDevicePrimaryCtxRetain")
        self.context = context.value or 0
        self._check(lib.cuCtxSetCurrent(context), "cuCtxSetCurrent")
        stream = ctypes.c_void_p()
        self._check(lib.cuStreamCreate(ctypes.byref(stream), _CU_STREAM_NON_BLOCKING), "cuStreamCreate")
        self.stream = stream.value or 0
        self._copy = _Memcpy2D(srcMemoryType=_CU_MEMORYTYPE_DEVICE, dstMemoryType=_CU_MEMORYTYPE_DEVICE)

    def _check(self, result: int, what: str) -> None:
        if result != 0:
            name = ctypes.c_char_p()
            self._lib.cuGetErrorName(result, ctypes.byref(name))
            raise RuntimeError(f"{what} failed: {(name.value or b'?').decode()} ({result})")

    def copy_2d(self, dst: int, dst_pitch: int, src: int, src_pitch: int, row_bytes: int, rows: int) -> None:
        """Queues a device-to-device 2D copy on the stream."""
        m = self._copy
        m.srcDevice, m.srcPitch, m.dstDevice, m.dstPitch = src, src_pitch, dst, dst_pitch
        m.WidthInBytes, m.Height = row_bytes, rows
        self._check(self._lib.cuMemcpy2DAsync_v2(ctypes.byref(m), self.stream), "cuMemcpy2DAsync")

    def sync(self) -> None:
        self._check(self._lib.cuStreamSynchronize(self.stream), "cuStreamSynchronize")

    def plane_to_host(self, src: int, src_pitch: int, row_bytes: int, rows: int) -> bytes:
        """A plane, rows packed, copied to the host (synchronous)."""
        out = ctypes.create_string_buffer(row_bytes * rows)
        m = _Memcpy2D(
            srcMemoryType=_CU_MEMORYTYPE_DEVICE,
            srcDevice=src,
            srcPitch=src_pitch,
            dstMemoryType=_CU_MEMORYTYPE_HOST,
            dstHost=ctypes.cast(out, ctypes.c_void_p),
            dstPitch=row_bytes,
            WidthInBytes=row_bytes,
            Height=rows,
        )
        self._check(self._lib.cuMemcpy2DAsync_v2(ctypes.byref(m), self.stream), "cuMemcpy2DAsync (to host)")
        self.sync()
        return out.raw

    def peek(self, address: int, nbytes: int = 16) -> list[int]:
        """The first bytes at a device address (synchronous; for the probe)."""
        out = (ctypes.c_uint8 * nbytes)()
        self._check(self._lib.cuMemcpyDtoH_v2(ctypes.cast(out, ctypes.c_void_p), address, nbytes), "cuMemcpyDtoH")
        return list(out)

    def pointer_info(self, address: int) -> dict[str, Any]:
        info: dict[str, Any] = {}
        for key, attribute, ctype in (
            ("memory_type", _CU_POINTER_ATTRIBUTE_MEMORY_TYPE, ctypes.c_uint),
            ("device_ordinal", _CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, ctypes.c_int),
            ("context", _CU_POINTER_ATTRIBUTE_CONTEXT, ctypes.c_void_p),
        ):
            value = ctype()
            status = self._lib.cuPointerGetAttribute(
                ctypes.cast(ctypes.byref(value), ctypes.c_void_p), attribute, address
            )
            info[key] = value.value if status == 0 else f"error {status}"
        info["memory_type"] = {1: "host", 2: "device", 3: "array", 4: "unified"}.get(
            info["memory_type"], info["memory_type"]
        )
        info["same_context_as_ours"] = info["context"] == self.context
        info["context"] = hex(info["context"]) if isinstance(info["context"], int) else info["context"]
        return info

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.sync()
        self._lib.cuStreamDestroy_v2(ctypes.c_void_p(self.stream))
        self._lib.cuDevicePrimaryCtxRelease_v2(self.device)


# --------------------------------------------------------------------------------------
# PyNvVideoCodec: demuxer + decoder, looping over the clip forever.
# --------------------------------------------------------------------------------------


def _import_nvc() -> Any:
    import PyNvVideoCodec as nvc  # noqa: N813 (the package's own spelling)

    for name in ("CreateDemuxer", "CreateDecoder"):
        if not hasattr(nvc, name):
            raise ImportError(f"PyNvVideoCodec {getattr(nvc, '__version__', '?')} has no {name}")
    return nvc


class _Decoding:
    """One NVDEC session on the clip. ``batches()`` yields the lists of frames each
    packet gives, forever: the clip is demuxed again from the start when it ends.
    The end-of-stream packet (size 0) is not sent between passes, so the decoder is not
    flushed: the next pass starts with an IDR, as a camera's stream goes on."""

    def __init__(self, nvc: Any, clip: str, cuda: _Cuda, gpu: int) -> None:
        self._nvc = nvc
        self.clip = clip
        demuxer = nvc.CreateDemuxer(filename=clip)
        self.width, self.height = int(demuxer.Width()), int(demuxer.Height())
        self.codec = demuxer.GetNvCodecId()
        self.passes = 0
        # Decode on our stream, in the primary context (the decode_with_cuda_control sample's
        # way): the decoder's output copies are then ordered before our copies on the same
        # stream. If this build refuses an external context/stream, let it make its own and
        # make our stream wait on its event before each copy (WaitOnCUStream).
        try:
            self.decoder = nvc.CreateDecoder(
                gpuid=gpu, codec=self.codec, cudacontext=cuda.context, cudastream=cuda.stream, usedevicememory=True
            )
            self.own_stream = True
        except Exception as error:  # noqa: BLE001 (recorded, then the default decoder is tried)
            self.fallback_reason = f"{type(error).__name__}: {error}"
            self.decoder = nvc.CreateDecoder(gpuid=gpu, codec=self.codec, usedevicememory=True)
            self.own_stream = False

    def close(self) -> None:
        """Drops the decoder: before _Cuda.close(), which destroys the stream and may
        destroy the context the decoder was made with (its destructor uses both)."""
        self.decoder = None
        gc.collect()

    def batches(self) -> Iterator[list[Any]]:
        while True:
            demuxer = self._nvc.CreateDemuxer(filename=self.clip)  # kept alive while its packets are decoded
            for packet in demuxer:
                if not packet.bsl:
                    continue  # end of stream: not between passes (see the class doc)
                frames = self.decoder.Decode(packet)
                if frames:
                    yield frames
            self.passes += 1

    def ready_for(self, stream: int) -> None:
        """Makes `stream` wait until the frames of the last Decode() are written."""
        if not self.own_stream and hasattr(self.decoder, "WaitOnCUStream"):
            self.decoder.WaitOnCUStream(stream)


def _frame_planes(frame: Any, width: int, height: int) -> tuple[list[tuple[int, int, int, int]], str]:
    """The NV12 planes of a decoded frame as (address, pitch, row bytes, rows), and where
    that came from. PyNvVideoCodec's DecodedFrame.cuda() gives one CUDA-array-interface
    view per plane; GetPtrToPlane(0) + framesize() is the fallback (its NvDecoder packs
    the frame: pitch = width, chroma right after height luma rows)."""
    try:
        views = frame.cuda()
        planes = []
        for view in views:
            iface = view.__cuda_array_interface__
            shape = [int(s) for s in iface["shape"]]
            itemsize = int(str(iface["typestr"])[2:])
            row_bytes = itemsize
            for extent in shape[1:]:
                row_bytes *= extent
            strides = iface.get("strides")
            pitch = int(strides[0]) if strides else row_bytes
            planes.append((int(iface["data"][0]), pitch, row_bytes, shape[0]))
        if (
            len(planes) == 2
            and planes[0][2] == width
            and planes[0][3] == height
            and planes[1][2] == width
            and planes[1][3] == height // 2
        ):
            return planes, "cuda()"
    except Exception:  # noqa: BLE001 (fall back to the plain pointer)
        pass
    base = int(frame.GetPtrToPlane(0))
    size = int(frame.framesize())
    if size != width * height * 3 // 2:
        raise RuntimeError(
            f"decoded frame is {size} bytes, not {width}x{height} NV12 ({width * height * 3 // 2}); "
            f"format {getattr(frame, 'format', '?')}, shape {getattr(frame, 'shape', '?')}"
        )
    return [(base, width, width, height), (base + width * height, width, width, height // 2)], "GetPtrToPlane"


def _packed_base(planes: list[tuple[int, int, int, int]], width: int, height: int) -> int | None:
    """The frame's address when its planes are one packed NV12 block, else None."""
    (y, y_pitch, _, _), (uv, uv_pitch, _, _) = planes
    if y_pitch == width and uv_pitch == width and uv == y + width * height:
        return y
    return None


class _DeviceBlock:
    """A read-only CUDA-array-interface view of `nbytes` at `ptr`, for copy_from."""

    def __init__(self, ptr: int, nbytes: int) -> None:
        self.__cuda_array_interface__ = {
            "shape": (nbytes,),
            "typestr": "|u1",
            "data": (ptr, True),
            "strides": None,
            "version": 3,
        }


def _publish_frame(pub: Any, frame: Any, dec: _Decoding, cuda: _Cuda) -> str:
    """Copies one decoded frame into a fresh slot and publishes it; returns the copy path.
    Packed source: WritableFrame.copy_from (one DtoD copy by cuframes). Pitched source:
    one cuMemcpy2DAsync per plane into the slot's planes."""
    planes, _ = _frame_planes(frame, dec.width, dec.height)
    dec.ready_for(cuda.stream)
    slot = pub.acquire(stream=cuda.stream)
    try:
        base = _packed_base(planes, dec.width, dec.height)
        if base is not None:
            slot.copy_from(_DeviceBlock(base, dec.width * dec.height * 3 // 2))
            path = "copy_from"
        else:
            for (src, src_pitch, row_bytes, rows), dst in zip(planes, slot.plane_views):
                cuda.copy_2d(int(dst.ptr), int(dst.strides[0]), src, src_pitch, row_bytes, rows)
            path = "2d-per-plane"
    except BaseException:
        slot.abort()
        raise
    slot.publish()  # synchronizes the stream, then publishes
    return path


# --------------------------------------------------------------------------------------
# Child processes
# --------------------------------------------------------------------------------------


def _stdout_to_stderr() -> None:
    """The decoder library prints to stdout; keep the parent's stdout for the JSON."""
    with contextlib.suppress(OSError):
        sys.stdout.flush()
        os.dup2(2, 1)


def _decoder_main(results: Any, index: int, clip: str, gpu: int, go: Any, wait_s: float, seconds: float) -> None:
    """Decode per consumer: decode flat out for `seconds` after `go`."""
    _stdout_to_stderr()
    with reporting_errors(results):
        cuda = _Cuda(gpu)
        dec = _Decoding(_import_nvc(), clip, cuda, gpu)
        batches = dec.batches()
        warm = 0
        while warm < WARMUP_FRAMES:
            warm += len(next(batches))
        cuda.sync()
        results.put(("ready", {"role": "decoder", "index": index}))
        if not go.wait(wait_s):
            raise TimeoutError(f"no start signal within {wait_s:.0f} s")
        frames = 0
        cpu0, start = time.process_time(), time.monotonic()
        end = start + seconds
        now = start
        while now < end:
            frames += len(next(batches))
            now = time.monotonic()
        cuda.sync()
        elapsed = time.monotonic() - start
        results.put(
            (
                "result",
                {
                    "role": "decoder",
                    "index": index,
                    "frames": frames,
                    "elapsed": elapsed,
                    "cpu_s": time.process_time() - cpu0,
                    "passes": dec.passes,
                    "decoder_stream": "ours" if dec.own_stream else "its own",
                },
            )
        )
        batches.close()
        dec.close()
        cuda.close()


def _publisher_main(
    results: Any, index: int, clip: str, gpu: int, key: str, directory: str, go: Any, wait_s: float, seconds: float
) -> None:
    """Decode and share: decode flat out for `seconds` after `go`, publishing every frame."""
    _stdout_to_stderr()
    with reporting_errors(results):
        cuda = _Cuda(gpu)
        nvc = _import_nvc()
        import cuframes

        dec = _Decoding(nvc, clip, cuda, gpu)
        # Up first, so the subscribers can connect while the decoder warms up.
        pub = cuframes.Publisher(
            key, dec.width, dec.height, "nv12", backend="cuda", device=gpu, dir=directory, max_subscribers=CONSUMERS + 1
        )
        try:
            batches = dec.batches()
            warm = 0
            while warm < WARMUP_FRAMES:
                warm += len(next(batches))  # decoded, not published
            cuda.sync()
            results.put(("ready", {"role": "publisher", "index": index}))
            if not go.wait(wait_s):
                raise TimeoutError(f"no start signal within {wait_s:.0f} s")
            published = 0
            paths: set[str] = set()
            cpu0, start = time.process_time(), time.monotonic()
            end = start + seconds
            now = start
            while now < end:
                for frame in next(batches):
                    paths.add(_publish_frame(pub, frame, dec, cuda))
                    published += 1
                now = time.monotonic()
            elapsed = time.monotonic() - start
            results.put(
                (
                    "result",
                    {
                        "role": "publisher",
                        "index": index,
                        "frames": published,
                        "elapsed": elapsed,
                        "cpu_s": time.process_time() - cpu0,
                        "passes": dec.passes,
                        "copy": sorted(paths),
                        "subscribers_at_end": pub.subscriber_count,
                        "decoder_stream": "ours" if dec.own_stream else "its own",
                    },
                )
            )
            time.sleep(DRAIN_S)  # let the subscribers read what is still in the pool
        finally:
            pub.close()
            frame = batches = None  # noqa: F841 (the decoder's frames go before the decoder)
            dec.close()
            cuda.close()


def _subscriber_main(
    results: Any, publisher: int, index: int, key: str, directory: str, go: Any, wait_s: float, seconds: float
) -> None:
    """Borrows every frame of one publisher (sequential delivery) and releases it;
    counts received and missed frames until the publisher closes."""
    _stdout_to_stderr()
    with reporting_errors(results):
        import cuframes

        sub = cuframes.Subscriber(key, dir=directory, connect_timeout=wait_s, delivery="sequential")
        try:
            results.put(("ready", {"role": "subscriber", "publisher": publisher, "index": index}))
            if not go.wait(wait_s):
                raise TimeoutError(f"no start signal within {wait_s:.0f} s")
            received = missed = 0
            cpu0, start = time.process_time(), time.monotonic()
            hard_end = start + seconds + DRAIN_S + 15  # the publisher closes long before this
            ended = "time limit"
            while time.monotonic() < hard_end:
                try:
                    frame = sub.next(timeout=0.5)
                except cuframes.TimeoutError:
                    continue
                except cuframes.DisconnectedError:
                    ended = "publisher closed"
                    break
                received += 1
                missed += frame.missed
                frame.release()
            results.put(
                (
                    "result",
                    {
                        "role": "subscriber",
                        "publisher": publisher,
                        "index": index,
                        "received": received,
                        "missed": missed,
                        "ended": ended,
                        "cpu_s": time.process_time() - cpu0,
                        "wall_s": time.monotonic() - start,
                    },
                )
            )
        finally:
            sub.close()


def _probe_main(results: Any, clip: str, gpu: int, frames: int) -> None:
    """The pre-flight: the probe, then the copy check (in that order, one process)."""
    _stdout_to_stderr()
    with reporting_errors(results):
        found = probe(clip, gpu, frames)
        try:
            found["copy_check"] = copy_check(clip, gpu)
        except Exception as error:  # noqa: BLE001 (reported; the shared cases still run)
            found["copy_check"] = f"error: {type(error).__name__}: {error}"
        results.put(("probe", found))


def copy_check(clip: str, gpu: int) -> str:
    """Publishes one decoded frame the way the shared case does and reads it back through
    a subscriber (same process): "ok (...)" when the bytes match the decoder's planes,
    "mismatch: ..." when they do not, or why it could not be checked."""
    import cuframes

    if not cuframes.cuda_available():
        return f"not checked: cuframes has no cuda backend here ({cuframes.cuda_unavailable_reason()})"
    nvc = _import_nvc()
    cuda = _Cuda(gpu)
    directory = tempfile.mkdtemp(prefix="nvdec-check-")
    dec = None
    try:
        dec = _Decoding(nvc, clip, cuda, gpu)
        key = f"nvdec-check-{os.getpid()}"
        with (
            cuframes.Publisher(key, dec.width, dec.height, "nv12", backend="cuda", device=gpu, dir=directory) as pub,
            cuframes.Subscriber(key, dir=directory, connect_timeout=10, delivery="sequential") as sub,
        ):
            batches = dec.batches()
            for _ in range(5):  # past the IDR: a P-frame
                batch = next(batches)
            frame = batch[-1]
            dec.ready_for(cuda.stream)
            planes, _ = _frame_planes(frame, dec.width, dec.height)
            expected = b"".join(cuda.plane_to_host(*plane) for plane in planes)
            path = _publish_frame(pub, frame, dec, cuda)
            got = sub.next(timeout=10)
            try:
                received = got.to_numpy().tobytes()
            finally:
                got.release()
        if received == expected:
            return f"ok ({path}, {len(received)} bytes identical)"
        differ = sum(a != b for a, b in zip(received, expected)) + abs(len(received) - len(expected))
        return f"mismatch: {differ} of {len(expected)} bytes differ ({path})"
    finally:
        batch = frame = planes = batches = None  # noqa: F841 (the decoder's frames go before the decoder)
        if dec is not None:
            dec.close()
        cuda.close()
        shutil.rmtree(directory, ignore_errors=True)


# --------------------------------------------------------------------------------------
# The probe: decode a few frames and describe them
# --------------------------------------------------------------------------------------


def _safe(fn: Any) -> Any:
    try:
        value = fn()
    except Exception as error:  # noqa: BLE001 (a probe reports what fails)
        return f"<{type(error).__name__}: {error}>"
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_safe(lambda v=v: v) for v in value]
    if isinstance(value, dict):
        return {str(k): _safe(lambda v=v: v) for k, v in value.items()}
    return str(value)


def probe(clip: str, gpu: int = 0, frames: int = 10) -> dict[str, Any]:
    """Opens the clip, decodes `frames` frames, and describes them: shape, pitch, format,
    pointers (memory type, device, context), first bytes, and which copy path the
    shared case would take. Runs in the calling process (it uses CUDA)."""
    nvc = _import_nvc()
    cuda = _Cuda(gpu)
    demuxer = nvc.CreateDemuxer(filename=clip)
    out: dict[str, Any] = {
        "pynvvideocodec": getattr(nvc, "__version__", "?"),
        "clip": clip,
        "container": _safe(demuxer.GetContainerName),
        "codec": _safe(demuxer.GetNvCodecId),
        "width": _safe(demuxer.Width),
        "height": _safe(demuxer.Height),
        "fps": _safe(demuxer.FrameRate),
        "bit_depth": _safe(demuxer.BitDepth),
        "chroma": _safe(demuxer.ChromaFormat),
        "decoder_caps": _safe(
            lambda: nvc.GetDecoderCaps(
                gpuid=gpu,
                codec=demuxer.GetNvCodecId(),
                chromaformat=demuxer.ChromaFormat(),
                bitdepth=demuxer.BitDepth(),
            )
        ),
    }
    dec = _Decoding(nvc, clip, cuda, gpu)
    out["decoder_stream"] = "ours" if dec.own_stream else f"its own ({dec.fallback_reason})"
    out["decoder"] = {
        name: _safe(getattr(dec.decoder, name))
        for name in ("GetWidth", "GetHeight", "GetFrameSize", "GetPixelFormat")
        if hasattr(dec.decoder, name)
    }
    described = []
    paths = set()
    for batch in dec.batches():
        dec.ready_for(cuda.stream)
        cuda.sync()
        for frame in batch:
            planes, source = _frame_planes(frame, dec.width, dec.height)
            base = _packed_base(planes, dec.width, dec.height)
            paths.add("copy_from (packed)" if base is not None else "2d-per-plane (pitched)")
            described.append(
                {
                    "repr": _safe(lambda: repr(frame)),
                    "type": type(frame).__name__,
                    "format": _safe(lambda: frame.format),
                    "shape": _safe(lambda: frame.shape),
                    "strides": _safe(lambda: frame.strides),
                    "dtype": _safe(lambda: frame.dtype),
                    "framesize": _safe(frame.framesize),
                    "timestamp": _safe(lambda: frame.timestamp),
                    "pts": _safe(frame.getPTS),
                    "dlpack_device": _safe(frame.__dlpack_device__),
                    "plane0": _safe(lambda: hex(frame.GetPtrToPlane(0))),
                    "cuda_views": _safe(lambda: [dict(v.__cuda_array_interface__) for v in frame.cuda()]),
                    "planes_from": source,
                    "planes": [
                        {"ptr": hex(p), "pitch": pitch, "row_bytes": rb, "rows": rows} for p, pitch, rb, rows in planes
                    ],
                    "packed": base is not None,
                    "pointer": _safe(lambda: cuda.pointer_info(planes[0][0])),
                    "y_first_bytes": _safe(lambda: cuda.peek(planes[0][0])),
                    "uv_first_bytes": _safe(lambda: cuda.peek(planes[1][0])),
                }
            )
            if len(described) >= frames:
                break
        if len(described) >= frames:
            break
    out["frames"] = described
    out["copy_path"] = sorted(paths)
    batch = frame = planes = source = None  # noqa: F841 (the decoder's frames go first)
    dec.close()
    cuda.close()
    return out


# --------------------------------------------------------------------------------------
# The parent: plans, runs and reports
# --------------------------------------------------------------------------------------


def _clip_path(settings: Settings) -> Path | None:
    given = getattr(settings, "clip", None) or os.environ.get("CUFRAMES_BENCH_CLIP")
    if given:
        return Path(given)
    return next((p for p in DEFAULT_CLIPS if p.exists()), None)


def _gather(children: Children, tag: str, count: int, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    got = []
    while len(got) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ChildError(f"only {len(got)} of {count} {tag!r} messages within {timeout:.0f} s")
        got.append(children.expect(tag, timeout=remaining))
    return got


def _reap(procs: list[Any], timeout: float) -> None:
    """Waits a bounded time for the children to exit, then kills the rest (so that
    Children.__exit__'s joins return at once)."""
    deadline = time.monotonic() + timeout
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
    for proc in procs:
        if proc.is_alive():
            proc.kill()
    for proc in procs:
        proc.join(2)


def _setup_timeout(processes: int) -> float:
    return 30.0 + 0.5 * processes


def _run_decode(clip: str, gpu: int, k: int, seconds: float) -> dict[str, Any]:
    """K decoder processes, flat out; returns the aggregate."""
    ctx = mp.get_context("spawn")
    go = ctx.Event()
    wait_s = _setup_timeout(k) + 30
    with Children() as children:
        procs = [children.start(_decoder_main, i, clip, gpu, go, wait_s, seconds) for i in range(k)]
        try:
            _gather(children, "ready", k, _setup_timeout(k))
            go.set()
            done = _gather(children, "result", k, seconds + 30)
        except BaseException:
            _reap(procs, 0)  # failed: no point letting the others run
            raise
        _reap(procs, 10)
    fps = [d["frames"] / d["elapsed"] for d in done]
    window = max(d["elapsed"] for d in done)
    return {
        "fps": sum(fps),
        "per_process_fps": sorted(round(f, 1) for f in fps),
        "frames": sum(d["frames"] for d in done),
        "window_s": round(window, 3),
        "cpu_cores": round(sum(d["cpu_s"] for d in done) / window, 2),
        "decoder_stream": sorted({d["decoder_stream"] for d in done}),
    }


def _run_shared(clip: str, gpu: int, k: int, seconds: float, directory: str) -> dict[str, Any]:
    """K decoder+publisher processes, CONSUMERS subscribers each; returns the aggregate."""
    ctx = mp.get_context("spawn")
    go = ctx.Event()
    processes = k * (1 + CONSUMERS)
    wait_s = _setup_timeout(processes) + 30
    keys = [f"nvdec-{os.getpid()}-{k}-{i}" for i in range(k)]
    with Children() as children:
        procs = []
        for i, key in enumerate(keys):
            procs.append(children.start(_publisher_main, i, clip, gpu, key, directory, go, wait_s, seconds))
        for i, key in enumerate(keys):
            for j in range(CONSUMERS):
                procs.append(children.start(_subscriber_main, i, j, key, directory, go, wait_s, seconds))
        try:
            _gather(children, "ready", processes, _setup_timeout(processes))
            go.set()
            done = _gather(children, "result", processes, seconds + DRAIN_S + 40)
        except BaseException:
            _reap(procs, 0)
            raise
        _reap(procs, 10)
    pubs = [d for d in done if d["role"] == "publisher"]
    subs = [d for d in done if d["role"] == "subscriber"]
    published = {d["index"]: d["frames"] for d in pubs}
    fps = [d["frames"] / d["elapsed"] for d in pubs]
    window = max(d["elapsed"] for d in pubs)
    expected = sum(published[d["publisher"]] for d in subs)
    received = sum(d["received"] for d in subs)
    fraction_each = [d["received"] / published[d["publisher"]] if published[d["publisher"]] else 0.0 for d in subs]
    cpu = sum(d["cpu_s"] for d in pubs) / window
    cpu_subs = sum(d["cpu_s"] for d in subs) / max(d["wall_s"] for d in subs)
    return {
        "fps": sum(fps),
        "per_process_fps": sorted(round(f, 1) for f in fps),
        "frames": sum(published.values()),
        "window_s": round(window, 3),
        "subscribers": len(subs),
        "received": received,
        "expected": expected,
        "received_fraction": received / expected if expected else 0.0,
        "received_fraction_min": min(fraction_each) if fraction_each else 0.0,
        "missed": sum(d["missed"] for d in subs),
        # cameras whose every consumer got every frame: frames delivered per consumer / 25
        "cameras_delivered": received / CONSUMERS / window / CAMERA_FPS,
        "cpu_cores_publishers": round(cpu, 2),
        "cpu_cores_subscribers": round(cpu_subs, 2),
        "copy": sorted({p for d in pubs for p in d["copy"]}),
        "decoder_stream": sorted({d["decoder_stream"] for d in pubs}),
        "subscribers_at_end": min(d["subscribers_at_end"] for d in pubs),
    }


def _skipped(reason: str) -> list[dict[str, Any]]:
    return [row(SECTION, "nvdec", "skipped", SIZE, skipped=reason)]


def _preflight(clip: Path | None, gpu: int) -> tuple[str | None, dict[str, Any] | None]:
    """Why the section cannot run (or None), and the probe's findings."""
    if clip is None:
        return (
            f"no clip: run `bash bench/make_clip.sh` (writes {DEFAULT_CLIPS[0].relative_to(REPO_ROOT)}) "
            "or pass --clip / CUFRAMES_BENCH_CLIP"
        ), None
    if not clip.is_file():
        return f"clip {clip} not found (bash bench/make_clip.sh makes it)", None
    if importlib.util.find_spec("PyNvVideoCodec") is None:
        return "PyNvVideoCodec is not installed (pip install --no-index .whl/pynvvideocodec-*.whl)", None
    try:
        with Children() as children:
            proc = children.start(_probe_main, str(clip), gpu, 3)
            try:
                found = children.expect("probe", timeout=PROBE_TIMEOUT_S)
            finally:
                _reap([proc], 5)
    except ChildError as error:
        first = str(error).split("\n\n")[0].strip()  # PyNvVideoCodec appends pages of troubleshooting
        return f"PyNvVideoCodec could not decode the clip: {first[:400]}", None
    if not found.get("frames"):
        return "PyNvVideoCodec decoded no frame of the clip", found
    return None, found


def run(settings: Settings) -> list[dict[str, Any]]:
    started = time.monotonic()
    budget = max(settings.budget_s, 55.0 if settings.quick else 140.0)
    ks = (8,) if settings.quick else (8, 16)
    seconds = 4.0 if settings.quick else 8.0
    gpu = settings.device
    clip = _clip_path(settings)
    reason, found = _preflight(clip, gpu)
    if reason is not None:
        return _skipped(reason)
    assert clip is not None and found is not None
    width, height = found.get("width"), found.get("height")
    size = SIZE if (width, height) == (1920, 1080) else f"{width}x{height}"
    clip_note = f"clip {clip.name}: {width}x{height} {found.get('codec')} {found.get('fps')} fps"
    copy_result = str(found.get("copy_check", "not run"))
    shared_skip = None
    if importlib.util.find_spec("cuframes") is None:
        shared_skip = "cuframes is not installed"
    elif copy_result.startswith("mismatch"):
        shared_skip = f"the published frame differs from the decoded one ({copy_result})"
    rows: list[dict[str, Any]] = []
    decode: dict[int, dict[str, Any]] = {}
    shared: dict[int, dict[str, Any]] = {}
    directory = tempfile.mkdtemp(prefix="nvdec-", dir=settings.work_dir)
    try:
        # Interleaved, so that a run cut short by the budget still has matched pairs.
        plan = [(kind, k) for k in ks for kind in ("decode", "shared")]
        for kind, k in plan:
            processes = k if kind == "decode" else k * (1 + CONSUMERS)
            estimate = 4 + 0.15 * processes + seconds + (DRAIN_S if kind == "shared" else 0) + 3
            method, case = ("nvdec", f"decode-x{k}") if kind == "decode" else ("cuframes", f"decode+publish-x{k}")
            if kind == "shared" and shared_skip is not None:
                rows.append(row(SECTION, method, case, size, skipped=shared_skip))
                continue
            if time.monotonic() - started + estimate > budget:
                rows.append(
                    row(SECTION, method, case, size, skipped=f"the section's {budget:.0f} s budget would run out")
                )
                continue
            try:
                if kind == "decode":
                    got = decode[k] = _run_decode(str(clip), gpu, k, seconds)
                    cameras = got["fps"] / (CAMERA_FPS * CONSUMERS)
                    rows.append(
                        row(
                            SECTION,
                            method,
                            case,
                            size,
                            value=round(got["fps"], 1),
                            unit="fps",
                            decoders=k,
                            cameras=round(cameras, 1),
                            **{x: got[x] for x in got if x != "fps"},
                            note=(
                                f"{k} processes decode flat out into device memory; cameras with "
                                f"{CONSUMERS} consumers each = fps / ({CAMERA_FPS} x {CONSUMERS}); "
                                f"{clip_note}"
                            ),
                        )
                    )
                else:
                    got = shared[k] = _run_shared(str(clip), gpu, k, seconds, directory)
                    cameras = got["fps"] / CAMERA_FPS
                    fields = {x: got[x] for x in got if x != "fps"}
                    for x in ("received_fraction", "received_fraction_min", "cameras_delivered"):
                        fields[x] = round(fields[x], 4)
                    versus = {}
                    if k in decode:
                        versus["retention"] = retention(got["fps"], decode[k]["fps"])
                    rows.append(
                        row(
                            SECTION,
                            method,
                            case,
                            size,
                            value=round(got["fps"], 1),
                            unit="fps",
                            decoders=k,
                            cameras=round(cameras, 1),
                            **fields,
                            **versus,
                            copy_check=copy_result,
                            note=(
                                f"{k} processes decode flat out and publish every frame (cuda backend, "
                                f"nv12, DtoD copy into the slot: {', '.join(got['copy'])}); "
                                f"{CONSUMERS} subscriber processes each borrow every frame (sequential "
                                f"delivery); cameras = published fps / {CAMERA_FPS}; "
                                f"received_fraction = frames the subscribers got / frames published "
                                f"to them; retention = published fps / decode-x{k}'s decoded fps; {clip_note}"
                            ),
                        )
                    )
            except Exception as error:  # noqa: BLE001 (report and go on)
                rows.append(row(SECTION, method, case, size, error=f"{type(error).__name__}: {error}"))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    rows += _summary(decode, shared, size)
    return rows


def retention(published_fps: float, decoded_fps: float) -> float | None:
    """The throughput sharing keeps: frames published per second while decoding and publishing, over
    frames decoded per second by the same decoders alone (4 decimals); None without a decode rate."""
    if decoded_fps <= 0:
        return None
    return round(published_fps / decoded_fps, 4)


def _summary(decode: dict[int, dict[str, Any]], shared: dict[int, dict[str, Any]], size: str) -> list[dict[str, Any]]:
    """Cameras per GPU for each method (its best K) and the throughput retained by sharing."""
    out = []
    best_a = max(decode.items(), key=lambda item: item[1]["fps"], default=None)
    best_b = max(shared.items(), key=lambda item: item[1]["fps"], default=None)
    if best_a is not None:
        k, got = best_a
        out.append(
            row(
                SECTION,
                "nvdec",
                f"cameras-{CONSUMERS}-consumers",
                size,
                value=round(got["fps"] / (CAMERA_FPS * CONSUMERS), 1),
                unit="cameras",
                decoders=k,
                note=(
                    f"one decode per consumer: best aggregate {got['fps']:.0f} decoded fps (K={k}) / "
                    f"({CAMERA_FPS} fps x {CONSUMERS} consumers); {THROUGHPUT_NOTE}"
                ),
            )
        )
    if best_b is not None:
        k, got = best_b
        out.append(
            row(
                SECTION,
                "cuframes",
                f"cameras-{CONSUMERS}-consumers",
                size,
                value=round(got["fps"] / CAMERA_FPS, 1),
                unit="cameras",
                decoders=k,
                received_fraction=round(got["received_fraction"], 4),
                missed=got["missed"],
                note=(
                    f"one decode shared through cuframes with {CONSUMERS} subscribers: best aggregate "
                    f"{got['fps']:.0f} published fps (K={k}) / {CAMERA_FPS} fps; subscribers received "
                    f"{100 * got['received_fraction']:.2f}% of the frames; {THROUGHPUT_NOTE}"
                ),
            )
        )
    if best_a is not None and best_b is not None:
        decoded, published = best_a[1]["fps"], best_b[1]["fps"]
        kept = retention(published, decoded)
        # The result: what share of the decoders' throughput survives publishing. The camera
        # counts above are CONSUMERS x this by construction, so their ratio is not a finding.
        out.append(
            row(
                SECTION,
                "cuframes",
                "throughput-retention",
                size,
                value=kept,
                unit="ratio",
                published_fps=round(published, 1),
                decoded_fps=round(decoded, 1),
                decoders_shared=best_b[0],
                decoders_alone=best_a[0],
                consumers=CONSUMERS,
                received_fraction=round(best_b[1]["received_fraction"], 4),
                note=(
                    f"published fps while decoding and publishing to {CONSUMERS} subscribers (K={best_b[0]}) / "
                    f"decoded fps of decoding alone (K={best_a[0]}): {published:.0f} / {decoded:.0f}; the "
                    f"cameras-{CONSUMERS}-consumers rows differ by {CONSUMERS} x this ratio, by arithmetic; "
                    f"{THROUGHPUT_NOTE}"
                ),
            )
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.harness.alt_nvdec", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="K=8 only, 4 s windows")
    parser.add_argument("--clip", help="the H.264 clip (default: .benchdata/clip-1080p25.mp4)")
    parser.add_argument("--probe", action="store_true", help="decode 10 frames, print their layout, exit")
    parser.add_argument("--device", type=int, default=0, help="CUDA device ordinal")
    parser.add_argument("--work-dir", default=tempfile.gettempdir(), help="where the sockets go")
    args = parser.parse_args(argv)
    if args.clip:
        os.environ["CUFRAMES_BENCH_CLIP"] = args.clip  # children and _clip_path see it
    settings = Settings.make(args.quick, args.work_dir)
    settings.device = args.device
    if args.probe:
        clip = _clip_path(settings)
        if clip is None or not clip.is_file():
            print(f"no clip at {clip or DEFAULT_CLIPS[0]}: run bash bench/make_clip.sh", file=sys.stderr)
            return 2
        # The decoder library prints to fd 1: send that to stderr, keep stdout for the JSON.
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(2, 1)
        try:
            found = probe(str(clip), args.device, 10)
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
        print(json.dumps(found, indent=1))
        return 0
    rows = run(settings)
    print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    # Run through the package name, so that the spawned children import
    # bench.harness.alt_nvdec and not __main__.
    from bench.harness import alt_nvdec

    sys.exit(alt_nvdec.main())
