"""The host path at its best: pipelined staging, and zero-copy through mapped pinned memory.

alt_host_path.py copies a whole frame DtoH, publishes it, and only then does the consumer start its
HtoD: the two copies add up. Here producer and consumer share a staging file in /dev/shm of
BUFFERS frame buffers (double-buffered: the producer writes one while the consumer reads the other)
behind a header of one record per buffer (seq, stamp, chunks done, last seq consumed). Both sides
page-lock their mapping with cuMemHostRegister. Pinned memory made by cuMemHostAlloc cannot be
shared between processes, so shared pinned memory is a shared mapping that each side registers.

Per frame the producer writes its private device buffer from one of SOURCE_BUFFERS sources, syncs
and stamps (the frame is complete in its private buffer: the stamp point of every method, so the
DtoH is inside the latency), takes buffer seq % BUFFERS (or drops the frame while the consumer has
not finished with that buffer), writes the record, wakes the consumer through a pipe, and copies the
frame DtoH in chunks of CHUNK_BYTES, an event after each; as each event completes it publishes the
count of chunks done in the record. The consumer sleeps on the pipe and then:

- ``pipelined``: as each chunk lands, issues its HtoD into its own device buffer (so the HtoD of
  chunk c overlaps the DtoH of chunk c + 1, and the copies of consecutive frames overlap through the
  two buffers), then syncs: row ``read_into, pipelined``;
- ``zero-copy``: has registered its mapping with CU_MEMHOSTREGISTER_DEVICEMAP and holds the
  buffer's device pointer (cuMemHostGetDevicePointer) once every chunk has landed: row ``borrow,
  zero-copy (mapped pinned)``, the frame usable by a kernel, whose reads then cross PCIe; then a
  copy through that pointer into its own buffer + sync, what a kernel reading every byte does: row
  ``read_into, zero-copy (mapped pinned)``.

Both stamps of a frame are taken in one pass (bench/harness/alt_support.py). Each case runs in each
regime of ``alt_support.regimes_for`` (back to back at every size, 25 fps at 1080p only) in one
process pair. Run from the host_path section, or alone:

    python -m bench.harness.alt_host_staged [--quick]
"""

from __future__ import annotations

import ctypes
import mmap
import multiprocessing as mp
import os
import struct
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .alt_support import TwoStamps, regime_seconds, regimes_for, slot_offsets, two_stamp_rows
from .common import SOURCE_BUFFERS, Children, Regime, Settings, nv12_bytes, percentiles, reporting_errors, row
from .cudrv import CudaSession, check, fill_value
from .peers import STALL_S, STARTUP_S, Inbox, exit_report, monotonic_ns, paced
from .standalone import main

BUFFERS = 2
CHUNK_BYTES = 1 << 20  # about 40 µs of PCIe each: small enough to overlap, large enough to amortise a call
HEADER_BYTES = 4096  # the records, in a page of their own: buffers start page-aligned
PAGE = 4096
CHECKED_FRAMES = 20  # warm-up frames whose bytes are checked on the consumer's GPU
SPIN_LIMIT_S = 1.0  # a chunk not done this long after the wake-up: the producer died mid-frame
VARIANTS = {
    "pipelined": {"read_into": "read_into, pipelined"},
    "zero-copy": {"borrow": "borrow, zero-copy (mapped pinned)", "read_into": "read_into, zero-copy (mapped pinned)"},
}


class _Record(ctypes.Structure):
    """One buffer's state. Each field is an aligned 8-byte word, written by one side only (seq,
    stamp and chunks by the producer, consumed by the consumer); x86-64 keeps stores in order, and
    the pipe write that wakes the consumer is a full barrier."""

    _fields_ = [
        ("seq", ctypes.c_int64),
        ("stamp", ctypes.c_uint64),
        ("chunks", ctypes.c_int64),
        ("consumed", ctypes.c_int64),
        ("pad", ctypes.c_int64 * 4),
    ]


def layout(size: str) -> tuple[int, int, int]:
    """(stride of a buffer, bytes of the file, chunks per frame) for frames of ``size``."""
    nbytes = nv12_bytes(size)
    stride, _ = slot_offsets(nbytes, BUFFERS, PAGE)
    return stride, HEADER_BYTES + BUFFERS * stride, -(-nbytes // CHUNK_BYTES)


def chunk_spans(nbytes: int, chunk: int = CHUNK_BYTES) -> list[tuple[int, int]]:
    """(offset, length) of each chunk of a frame of ``nbytes``."""
    return [(offset, min(chunk, nbytes - offset)) for offset in range(0, nbytes, chunk)]


class _Staging:
    """The staging file mapped into this process: records, buffer addresses; close() unmaps."""

    def __init__(self, path: str, size: str) -> None:
        self.stride, self.total, _ = layout(size)
        fd = os.open(path, os.O_RDWR)
        try:
            self.map = mmap.mmap(fd, self.total, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)
        self.records = (_Record * BUFFERS).from_buffer(self.map, 0)
        self._anchor = ctypes.c_char.from_buffer(self.map, HEADER_BYTES)
        self.buffers = ctypes.addressof(self._anchor)  # buffer b at self.buffers + b * stride

    def close(self) -> None:
        del self.records, self._anchor  # the mapping cannot close while ctypes views export it
        try:
            self.map.close()
        except BufferError:
            pass  # a record is still referenced (an exception's frame): unmapped when the process exits


def make_staging(size: str, directory: str) -> str:
    """A new staging file (in /dev/shm when there is one), its records marked free."""
    _, total, _ = layout(size)
    where = "/dev/shm" if os.path.isdir("/dev/shm") else directory
    fd, path = tempfile.mkstemp(prefix="cuframes-bench-staged-", dir=where)
    try:
        os.ftruncate(fd, total)
        with mmap.mmap(fd, HEADER_BYTES) as header:
            for b in range(BUFFERS):
                at = b * ctypes.sizeof(_Record)
                struct.pack_into("<q", header, at + _Record.seq.offset, -1)
                struct.pack_into("<q", header, at + _Record.consumed.offset, -1)
    except BaseException:
        os.close(fd)
        os.unlink(path)
        raise
    os.close(fd)
    return path


def _wait_chunks(record: Any, want: int, woke: int, seq: int) -> None:
    """Spins until ``want`` chunks of the frame have landed in host memory (a few hundred µs at most)."""
    while record.chunks < want:
        if monotonic_ns() - woke > SPIN_LIMIT_S * 1e9:
            raise RuntimeError(f"chunk {want} of frame {seq} never landed: the producer stopped mid-frame")


@contextmanager
def _registered(cu: CudaSession, ptr: int, nbytes: int, *, mapped: bool = False) -> Iterator[None]:
    """The block page-locked (and mapped for the GPU), undone before the mapping goes away."""
    failure = cu.host_register(ptr, nbytes, mapped=mapped)
    if failure is not None:
        raise RuntimeError(f"cuMemHostRegister of the staging buffers failed: {failure}")
    try:
        yield
    finally:
        cu.host_unregister(ptr)


def _producer(
    results: Any, wake: Any, primed: Any, gos: list[Any], stops: list[Any], path: str, size: str,
    settings: Settings, regimes: list[Regime], max_seconds: float,
) -> None:  # fmt: skip
    with reporting_errors(results):
        nbytes = nv12_bytes(size)
        staging = _Staging(path, size)
        spans = chunk_spans(nbytes)
        published = busy = 0
        producer_us: dict[str, Any] = {}
        try:
            with CudaSession(settings.device) as cu:
                stream = cu.stream()
                events = [cu.event() for _ in spans]
                private = cu.alloc(nbytes)
                sources = [cu.alloc(nbytes) for _ in range(SOURCE_BUFFERS)]
                for index, ptr in enumerate(sources):
                    cu.fill(ptr, nbytes, fill_value(index))
                with _registered(cu, staging.buffers, BUFFERS * staging.stride):
                    results.put(("ready", None))
                    primed.set()
                    seq = 0
                    for go, stop, regime in zip(gos, stops, regimes):
                        if not go.wait(timeout=STARTUP_S):
                            raise TimeoutError("the consumer never became ready")
                        spent: list[float] = []

                        def step(i: int, regime: Regime = regime, spent: list[float] = spent) -> None:
                            nonlocal seq, published, busy
                            source = seq % SOURCE_BUFFERS
                            cu.copy_dtod(private, sources[source], nbytes, stream)
                            cu.sync(stream)
                            stamp = monotonic_ns()  # the frame is complete in the producer's private buffer
                            b = seq % BUFFERS
                            record = staging.records[b]
                            if record.consumed != record.seq:
                                busy += 1  # the consumer has not finished with this buffer
                                seq += 1
                                return
                            record.chunks = 0
                            record.stamp = stamp
                            record.seq = seq
                            wake.send_bytes(bytes([b, fill_value(source)]))
                            host = staging.buffers + b * staging.stride
                            for (offset, length), event in zip(spans, events):
                                check(
                                    cu.drv.cuMemcpyDtoHAsync(host + offset, private + offset, length, stream),
                                    "cuMemcpyDtoHAsync",
                                )
                                cu.record(event, stream)
                            for done, event in enumerate(events, 1):
                                check(cu.drv.cuEventSynchronize(event), "cuEventSynchronize")
                                record.chunks = done
                            if i >= regime.warmup:
                                spent.append((monotonic_ns() - stamp) / 1e3)
                            published += 1
                            seq += 1

                        paced(stop, regime.period_s, max_seconds, step)
                        producer_us[regime.name] = percentiles(spent)
        finally:
            staging.close()
        results.put(("producer-done", {"published": published, "busy": busy, "producer_us": producer_us}))


def _consumer(
    results: Any, wake: Any, primed: Any, gos: list[Any], stops: list[Any], path: str, size: str,
    settings: Settings, regimes: list[Regime], variant: str,
) -> None:  # fmt: skip
    with reporting_errors(results):
        nbytes = nv12_bytes(size)
        staging = _Staging(path, size)
        chunks = len(chunk_spans(nbytes))
        passes: list[dict[str, Any]] = []
        try:
            with CudaSession(settings.device) as cu:
                drv = cu.drv
                stream = cu.stream()
                dst = cu.alloc(nbytes)
                with _registered(cu, staging.buffers, BUFFERS * staging.stride, mapped=variant == "zero-copy"):
                    mapped = 0
                    if variant == "zero-copy":
                        found = drv.cuMemHostGetDevicePointer(staging.buffers, 0)
                        mapped = int(check(found, "cuMemHostGetDevicePointer"))
                    last_seq = -1
                    if not primed.wait(timeout=STARTUP_S):
                        raise TimeoutError("the producer never became ready")
                    for go, stop, regime in zip(gos, stops, regimes):
                        go.set()
                        stamps = TwoStamps(regime)
                        deadline = time.monotonic() + regime_seconds(regime)
                        while stamps.got < stamps.wanted and time.monotonic() < deadline:
                            if not wake.poll(STALL_S):
                                raise RuntimeError(f"no frame for {STALL_S:.0f} s: the producer stalled")
                            b, value = wake.recv_bytes()
                            woke = monotonic_ns()
                            record = staging.records[b]
                            seq, stamp = record.seq, record.stamp
                            host = staging.buffers + b * staging.stride

                            if variant == "pipelined":
                                held = woke
                                for c, (offset, length) in enumerate(chunk_spans(nbytes), 1):
                                    _wait_chunks(record, c, woke, seq)
                                    check(
                                        drv.cuMemcpyHtoDAsync(dst + offset, host + offset, length, stream),
                                        "cuMemcpyHtoDAsync",
                                    )
                            else:
                                _wait_chunks(record, chunks, woke, seq)
                                held = monotonic_ns()  # the frame is usable through the mapped pointer
                                cu.copy_dtod(dst, mapped + b * staging.stride, nbytes, stream)
                            cu.sync(stream)
                            copied = monotonic_ns()
                            record.consumed = seq  # the producer may now reuse this buffer
                            if stamps.warming and stamps.got < CHECKED_FRAMES and cu.peek(dst + nbytes - 1)[0] != value:
                                raise RuntimeError(f"frame {seq} arrived with other bytes than the producer wrote")
                            stamps.add(stamp, held, copied, seq - last_seq - 1)
                            last_seq = seq
                        stop.set()
                        passes.append(stamps.result())
        finally:
            for stop in stops:
                stop.set()
            staging.close()
        results.put(("result", passes))


def _latency(settings: Settings, size: str, variant: str) -> list[dict[str, Any]]:
    regimes = regimes_for(settings, size)
    ctx = mp.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    primed = ctx.Event()
    gos = [ctx.Event() for _ in regimes]
    stops = [ctx.Event() for _ in regimes]
    seconds = sum(regime_seconds(r) for r in regimes)
    path = make_staging(size, settings.work_dir)
    try:
        with Children() as children:
            inbox = Inbox(children)
            try:
                common = (primed, gos, stops, path, size, settings, regimes)
                # Both start at once (a context apiece); the consumer waits for ``primed``.
                children.start(_producer, sender, *common, STARTUP_S + seconds + 60)
                children.start(_consumer, receiver, *common, variant)
                inbox.wait("ready", STARTUP_S)
                passes = inbox.wait("result", STARTUP_S + seconds + 30)
                produced = inbox.wait("producer-done", 60)
            finally:
                for stop in stops:
                    stop.set()
    finally:
        os.unlink(path)
        receiver.close()
        sender.close()
    exits = exit_report(children)
    _, _, chunks = layout(size)
    how = (
        "HtoD of each chunk as it lands, into the consumer's own buffer, then sync"
        if variant == "pipelined"
        else "the staging mapping registered DEVICEMAP; borrow: every chunk landed, the consumer holds the "
        "buffer's mapped device pointer; read_into: a copy through that pointer into its own buffer + sync"
    )
    note = (
        f"{variant}: {BUFFERS} pinned staging buffers in a shared /dev/shm file (cuMemHostRegister on both "
        f"sides); the producer stamps when the frame is complete in its private device buffer, wakes the "
        f"consumer through a pipe, copies DtoH in {chunks} chunks of {CHUNK_BYTES >> 20} MiB with an event "
        f"each; consumer: {how}; the DtoH is inside the latency; {produced['published']} frames published, "
        f"{produced['busy']} dropped as their buffer was still being read; producer_us: the producer's stamp "
        "-> its last chunk in host memory"
    )
    if exits:
        note += f"; {exits}"
    rows = two_stamp_rows("host_path", size, passes, VARIANTS[variant], note, variant=variant)
    for out in rows:
        out["producer_us"] = produced["producer_us"].get(out["regime"], {"n": 0})
    return rows


def run(settings: Settings) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for size in settings.sizes:
        for variant, cases in VARIANTS.items():
            try:
                rows += _latency(settings, size, variant)
            except Exception as error:  # noqa: BLE001 (one variant failing leaves the others' rows)
                case = cases["read_into"]
                rows.append(row("latency", "host_path", case, size, error=f"{type(error).__name__}: {error}"))
    return rows


if __name__ == "__main__":
    sys.exit(main(run))
