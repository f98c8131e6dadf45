"""read_into's candidates (issue 19, "read_into off the compute engine"): which copy of a published
frame into a subscriber's own buffer avoids the GPU's hand-over from the producer's context.

A real cuframes producer (cuda backend, 1080p NV12, a child process) does a producer's work per frame
(a DtoD copy into its private buffer + sync), stamps CLOCK_MONOTONIC -- "frame complete in the
producer's private buffer", the stamp point issue 19 asks of every method -- and publishes with that
stamp as pts, every settings.period_s. A subscriber child then copies each frame into its own buffer:

- ``read_into``: Subscriber.read_into itself (cpp/src/slots/cuda_slots.cpp copy_planes: one
  cuMemcpy2DAsync per plane, pitched slot -> packed buffer, then a stream sync): today's figure.
- ``dtod``: one cuMemcpyDtoDAsync of the slot's span (both planes with their row padding).
- ``2d``: read_into's copies done here: cuMemcpy2DAsync per plane, without the facade.
- ``batch-ce``: the span through cuMemcpyBatchAsync with CU_MEMCPY_FLAG_PREFER_OVERLAP_WITH_COMPUTE
  (CUDA 12.8+ asks the driver for a copy engine); an error row says why where the driver lacks it.
- ``bounce``: the span through this process's pinned host memory, in 512 KiB chunks: each chunk
  device-to-host on one stream, then host-to-device into the buffer on a second stream that waits
  for it, so the two directions overlap. Only copy engines work, and the engines rows found that
  host-device copies do not pay the hand-over (dtoh/htod "after peer"): whether the bounce's two
  PCIe crossings cost less than the hand-over is the question.
- ``push``: no cuframes ring: the subscriber exports a cuMemCreate buffer as a POSIX FD (SCM_RIGHTS
  over a Unix socket), the producer maps it read-write and, after its frame work, copies into it from
  ITS OWN context, syncs and sends the stamp: the GPU never changes context.

Rows ``read_into: <mode>`` (latency: producer's stamp -> copy complete, as the subscriber sees it
for push too), with ``from_publish_stamp_us`` (from the publisher's post-sync timestamp_ns),
``copy_us`` (the copy alone: submit -> sync returned, in whichever process copies) and ``missed``.
``read_into: <mode>, gap 10 ms`` rows: the producer publishes every 20 ms and the subscriber waits
until 10 ms after the publish stamp before copying; their latency is copy_us (fewer samples: note).
``copy floor in-process: <mode>``: the same copy back to back in one process with no other GPU
process, the floor for the goal "read_into <= 2 x the in-process copy floor".

The push mode's copy runs in the producer: its figure says the hand-over is avoidable, not that the
consumer's first kernel on the frame stops paying it (see the engines rows "kernel after peer").
"""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
import struct
import time
from typing import Any

from .common import (
    FRAME_SIZES,
    SOURCE_BUFFERS,
    Children,
    Settings,
    latency_row,
    nv12_bytes,
    percentiles,
    reporting_errors,
    row,
)
from .cudrv import CudaSession, check, fill_value
from .peers import STALL_S, STARTUP_S, Inbox, monotonic_ns

MODES = ("read_into", "dtod", "2d", "batch-ce", "bounce", "push")
GAP_MODES = ("read_into", "dtod", "2d", "batch-ce", "bounce")
#: The bounce mode's chunk: small enough that the two directions overlap for most of a frame.
BOUNCE_CHUNK = 512 * 1024
GAP_S = 0.010
GAP_PERIOD_S = 0.015
SIZE = "1080p"
STAMP = struct.Struct("<qq")  # push: (producer's stamp, copy done), both CLOCK_MONOTONIC ns


class DeviceBytes:
    """A device pointer as a packed uint8 array (__cuda_array_interface__), for cuframes' copy calls."""

    def __init__(self, ptr: int, nbytes: int) -> None:
        self.__cuda_array_interface__ = {"shape": (nbytes,), "typestr": "|u1", "data": (ptr, False), "version": 3}


class Copier:
    """One frame's copy from a pitched slot at ``slot`` into this process's buffer, for dtod, 2d,
    batch-ce and bounce; ``run`` submits it and syncs, raising on any failed call."""

    def __init__(self, cu: CudaSession, mode: str, planes: list[Any], stream: Any) -> None:
        self.cu, self.mode, self.stream = cu, mode, stream
        self.span = planes[-1].offset + planes[-1].pitch * planes[-1].height
        self.dst = cu.alloc(self.span)
        self.attrs = cu.copy_attributes(prefer_copy_engine=True) if mode == "batch-ce" else None
        if mode == "bounce":
            self.host, _ = cu.host_alloc(self.span)
            self.upload = cu.stream()  # host-to-device, behind each chunk's device-to-host
            self.chunks = [(o, min(BOUNCE_CHUNK, self.span - o)) for o in range(0, self.span, BOUNCE_CHUNK)]
            self.landed = [cu.event() for _ in self.chunks]
        self.copies: list[tuple[Any, int]] = []
        packed = 0
        for plane in planes:
            copy = cu.drv.CUDA_MEMCPY2D()
            copy.srcXInBytes = copy.srcY = copy.dstXInBytes = copy.dstY = 0
            copy.srcMemoryType = copy.dstMemoryType = cu.drv.CUmemorytype.CU_MEMORYTYPE_DEVICE
            copy.srcPitch, copy.dstPitch = plane.pitch, plane.row_bytes
            copy.dstDevice = self.dst + packed
            copy.WidthInBytes, copy.Height = plane.row_bytes, plane.height
            self.copies.append((copy, plane.offset))
            packed += plane.row_bytes * plane.height

    def run(self, slot: int) -> None:
        drv = self.cu.drv
        if self.mode == "dtod":
            check(drv.cuMemcpyDtoDAsync(self.dst, slot, self.span, self.stream), "cuMemcpyDtoDAsync")
        elif self.mode == "batch-ce":
            self.cu.copy_batch(self.dst, slot, self.span, self.attrs, self.stream)
        elif self.mode == "bounce":
            for (offset, length), landed in zip(self.chunks, self.landed):
                host = self.host + offset
                check(drv.cuMemcpyDtoHAsync(host, slot + offset, length, self.stream), "cuMemcpyDtoHAsync")
                check(drv.cuEventRecord(landed, self.stream), "cuEventRecord")
                check(drv.cuStreamWaitEvent(self.upload, landed, 0), "cuStreamWaitEvent")
                check(drv.cuMemcpyHtoDAsync(self.dst + offset, host, length, self.upload), "cuMemcpyHtoDAsync")
            # The upload stream waited for every download: its sync covers both.
            check(drv.cuStreamSynchronize(self.upload), "cuStreamSynchronize")
            return
        else:
            for copy, offset in self.copies:
                copy.srcDevice = slot + offset
                check(drv.cuMemcpy2DAsync(copy, self.stream), "cuMemcpy2DAsync")
        check(drv.cuStreamSynchronize(self.stream), "cuStreamSynchronize")


def _floor_child(results: Any, device: int, rounds: int, warmup: int, seconds: float) -> None:
    """Each copy mode back to back from a pitched frame of this process's own: the in-process floor."""
    with reporting_errors(results):
        import cuframes

        deadline = monotonic_ns() + int(seconds * 1e9)
        out: dict[str, Any] = {}
        with CudaSession(device) as cu:
            stream = cu.stream()
            planes = list(cuframes.layout("nv12", *FRAME_SIZES[SIZE]))
            for mode in ("dtod", "2d", "batch-ce", "bounce"):
                try:
                    copier = Copier(cu, mode, planes, stream)
                    sources = [cu.alloc(copier.span) for _ in range(SOURCE_BUFFERS)]
                    samples: list[float] = []
                    for i in range(min(warmup, rounds // 10) + rounds):
                        if monotonic_ns() > deadline:
                            break
                        t0 = monotonic_ns()
                        copier.run(sources[i % SOURCE_BUFFERS])
                        samples.append((monotonic_ns() - t0) / 1e3)
                    out[mode] = samples[min(warmup, rounds // 10) :]
                except Exception as error:  # batch-ce on a driver without it: say so, go on
                    out[mode] = f"{type(error).__name__}: {error}"
        results.put(("floor", out))


def _producer_child(results: Any, key: str, directory: str, device: int, period_s: float, stop: Any) -> None:
    with reporting_errors(results):
        import cuframes

        nbytes = nv12_bytes(SIZE)
        with CudaSession(device) as cu:
            stream = cu.stream()
            handle = int(stream)
            sources = [cu.alloc(nbytes) for _ in range(SOURCE_BUFFERS)]
            for index, ptr in enumerate(sources):
                cu.fill(ptr, nbytes, fill_value(index))
            private = cu.alloc(nbytes)
            with cuframes.Publisher(
                key,
                *FRAME_SIZES[SIZE],
                "nv12",
                backend="cuda",
                device=device,
                dir=directory,
                slots=8,
                max_subscribers=1,
            ) as pub:
                results.put(("producer-ready", None))
                count = 0
                end = time.monotonic() + 600
                while not stop.is_set() and time.monotonic() < end:
                    cu.copy_dtod(private, sources[count % SOURCE_BUFFERS], nbytes, stream)
                    cu.sync(stream)
                    frame = pub.acquire(pts=monotonic_ns(), stream=handle)
                    frame.copy_from(DeviceBytes(private, nbytes), stream=handle)
                    frame.publish()
                    count += 1
                    time.sleep(period_s)
        results.put(("producer-done", count))


def _subscriber_child(
    results: Any, key: str, directory: str, device: int, mode: str, kept: int, drop: int, gap_s: float, seconds: float
) -> None:
    """Copies ``drop + kept`` frames with ``mode``; sends the latencies (µs) of the last ``kept``."""
    with reporting_errors(results):
        import cuframes

        deadline = monotonic_ns() + int(seconds * 1e9)
        lat: list[float] = []
        pub_lat: list[float] = []
        copy: list[float] = []
        missed = 0
        with CudaSession(device) as cu:
            stream = cu.stream()
            with cuframes.Subscriber(key, dir=directory, connect_timeout=30) as sub:
                planes = list(sub._core.planes)
                packed = cu.alloc(sub.packed_size)
                target = DeviceBytes(packed, sub.packed_size)
                copier = None if mode == "read_into" else Copier(cu, mode, planes, stream)
                slots: dict[int, int] = {}
                for i in range(drop + kept):
                    if monotonic_ns() > deadline:
                        break
                    t0 = 0
                    if mode == "read_into" and not gap_s:
                        info = sub.read_into(target, stream=int(stream), timeout=STALL_S)
                        done = monotonic_ns()
                        pts, stamp, skipped = info.pts, info.timestamp_ns, info.missed
                    else:
                        frame = sub.next(timeout=STALL_S)
                        try:
                            pts, stamp, skipped = frame.pts, frame.timestamp_ns, frame.missed
                            if frame.slot not in slots:  # the slot's address, once (PlaneViews cost µs)
                                y = frame.plane_views[0].__cuda_array_interface__["data"][0]
                                slots[frame.slot] = int(y) - planes[0].offset
                            start = stamp + int(gap_s * 1e9)
                            while monotonic_ns() < start:
                                time.sleep(0.0002 if start - monotonic_ns() > 500_000 else 0)
                            t0 = monotonic_ns()
                            if copier is None:
                                frame.copy_to(target, stream=int(stream))
                            else:
                                copier.run(slots[frame.slot])
                            done = monotonic_ns()
                        finally:
                            frame.release()
                    if i >= drop:
                        lat.append((done - pts) / 1e3)
                        pub_lat.append((done - stamp) / 1e3)
                        if t0:
                            copy.append((done - t0) / 1e3)
                        missed += skipped
                first = cu.peek(copier.dst if copier else packed)[0]
        if first not in {fill_value(i) for i in range(SOURCE_BUFFERS)}:
            raise RuntimeError(f"{mode}: the copied frame starts with {first}, not a source's byte")
        results.put(("subscriber-done", {"lat": lat, "pub": pub_lat, "copy": copy, "missed": missed}))


def _push_target_child(results: Any, path: str, device: int, frames: int, seconds: float) -> None:
    """The subscriber of the push mode: exports its buffer, then notes when each stamp arrives."""
    with reporting_errors(results):
        nbytes = nv12_bytes(SIZE)
        seen: list[float] = []
        with CudaSession(device) as cu, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
            ptr, size, fd = cu.vmm_export(nbytes)
            cu.fill(ptr, size, 0)
            server.bind(path)
            server.listen(1)
            server.settimeout(STARTUP_S)
            results.put(("target-ready", None))
            conn, _ = server.accept()
            with conn:
                conn.settimeout(STALL_S + seconds)
                socket.send_fds(conn, [struct.pack("<q", size)], [fd])
                os.close(fd)
                reader = conn.makefile("rb")
                while len(seen) < frames:
                    data = reader.read(STAMP.size)
                    now = monotonic_ns()
                    if len(data) < STAMP.size:
                        break  # the producer stopped early (its budget): keep what came
                    stamp, _done = STAMP.unpack(data)
                    seen.append((now - stamp) / 1e3)
            first = cu.peek(ptr)[0]
        if first not in {fill_value(i) for i in range(SOURCE_BUFFERS)}:
            raise RuntimeError(f"push: the subscriber's buffer starts with {first}, not a source's byte")
        results.put(("target-done", seen))


def _push_producer_child(results: Any, path: str, device: int, period_s: float, frames: int, seconds: float) -> None:
    """The producer of the push mode: its frame work, then the copy into the subscriber's buffer."""
    with reporting_errors(results):
        nbytes = nv12_bytes(SIZE)
        deadline = monotonic_ns() + int(seconds * 1e9)
        lat: list[float] = []
        copy: list[float] = []
        with CudaSession(device) as cu, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(STARTUP_S)
            sock.connect(path)
            message, fds, _flags, _addr = socket.recv_fds(sock, 64, 1)
            if len(fds) != 1 or len(message) != 8:
                raise RuntimeError(f"push: expected one FD and the size, got {len(fds)} FDs, {len(message)} bytes")
            try:
                target = cu.vmm_import(fds[0], struct.unpack("<q", message)[0])
            finally:
                os.close(fds[0])
            stream = cu.stream()
            sources = [cu.alloc(nbytes) for _ in range(SOURCE_BUFFERS)]
            for index, ptr in enumerate(sources):
                cu.fill(ptr, nbytes, fill_value(index))
            private = cu.alloc(nbytes)
            for i in range(frames):
                if monotonic_ns() > deadline:
                    break
                cu.copy_dtod(private, sources[i % SOURCE_BUFFERS], nbytes, stream)
                cu.sync(stream)
                stamp = monotonic_ns()
                t0 = monotonic_ns()
                cu.copy_dtod(target, private, nbytes, stream)
                cu.sync(stream)
                done = monotonic_ns()
                sock.sendall(STAMP.pack(stamp, done))
                lat.append((done - stamp) / 1e3)
                copy.append((done - t0) / 1e3)
                time.sleep(period_s)
        results.put(("push-done", {"lat": lat, "copy": copy}))


def _samples_note(base: str, got: int, wanted: int) -> str:
    return base if got >= wanted else f"{base}; {got} samples (of {wanted} asked: the time budget)"


def read_case(settings: Settings, mode: str, gap_s: float, kept: int, seconds: float) -> dict[str, Any]:
    """One read_into candidate (not push) against a live cuframes producer: its row."""
    period = GAP_PERIOD_S if gap_s else settings.period_s
    key = f"eng-{mode}-{int(gap_s * 1e3)}-{os.getpid()}"
    drop = min(settings.warmup, kept // 10)
    stop = mp.get_context("spawn").Event()
    with Children() as children:
        inbox = Inbox(children)
        children.start(_producer_child, key, settings.work_dir, settings.device, period, stop)
        inbox.wait("producer-ready", STARTUP_S)
        children.start(_subscriber_child, key, settings.work_dir, settings.device, mode, kept, drop, gap_s, seconds)
        try:
            out = inbox.wait("subscriber-done", STARTUP_S + seconds + 10)
        finally:
            stop.set()
        published = inbox.wait("producer-done", 30)
    case = f"read_into: {mode}" + (f", gap {gap_s * 1e3:g} ms" if gap_s else "")
    if gap_s:
        note = (
            f"producer publishes every {period * 1e3:g} ms; the subscriber copies {gap_s * 1e3:g} ms after the "
            f"publish stamp; latency is the copy alone (submit -> sync returned); {kept} samples asked"
        )
        if mode == "read_into":
            note += "; read_into's own copy through next() + copy_to() (the same cuMemcpy2DAsync calls)"
        return latency_row("engines", "engines", case, SIZE, out["copy"], missed=out["missed"], note=note)
    note = (
        f"producer stamp (frame complete in its private buffer) -> copy complete in the subscriber's buffer; "
        f"published every {period * 1e3:g} ms"
    )
    return latency_row(
        "engines",
        "engines",
        case,
        SIZE,
        out["lat"],
        from_publish_stamp_us=percentiles(out["pub"]),
        copy_us=percentiles(out["copy"]),
        missed=out["missed"],
        published=published,
        note=_samples_note(note, len(out["lat"]), kept),
    )


def push_case(settings: Settings, kept: int, seconds: float) -> dict[str, Any]:
    """The push mode: the producer copies into the subscriber's exported buffer from its own context."""
    drop = min(settings.warmup, kept // 10)
    path = os.path.join(settings.work_dir, f"eng-push-{os.getpid()}.sock")
    with Children() as children:
        inbox = Inbox(children)
        children.start(_push_target_child, path, settings.device, drop + kept, seconds)
        inbox.wait("target-ready", STARTUP_S)
        children.start(_push_producer_child, path, settings.device, settings.period_s, drop + kept, seconds)
        produced = inbox.wait("push-done", STARTUP_S + seconds + 10)
        seen = inbox.wait("target-done", 30)
    if os.path.exists(path):
        os.unlink(path)
    note = (
        "producer stamp -> the producer's notice (8 bytes on a Unix socket) read by the subscriber, the copy "
        "done from the producer's context into the subscriber's cuMemCreate buffer (POSIX FD via SCM_RIGHTS); "
        f"copy_us and producer_side_us: in the producer; every {settings.period_s * 1e3:g} ms"
    )
    return latency_row(
        "engines",
        "engines",
        "read_into: push",
        SIZE,
        seen[drop:],
        producer_side_us=percentiles(produced["lat"][drop:]),
        copy_us=percentiles(produced["copy"][drop:]),
        note=_samples_note(note, len(seen[drop:]), kept),
    )


def floor_rows(settings: Settings, seconds: float) -> list[dict[str, Any]]:
    with Children() as children:
        children.start(_floor_child, settings.device, settings.frames, settings.warmup, seconds)
        out = Inbox(children).wait("floor", STARTUP_S + seconds + 10)
    rows = []
    for mode, samples in out.items():
        case = f"copy floor in-process: {mode}"
        if isinstance(samples, str):
            rows.append(row("engines", "engines", case, SIZE, error=samples))
            continue
        note = "the same copy back to back from a pitched 1080p NV12 frame of the process's own, no other GPU process"
        rows.append(
            latency_row(
                "engines", "engines", case, SIZE, samples, note=_samples_note(note, len(samples), settings.frames)
            )
        )
    return rows
