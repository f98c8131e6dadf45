"""The same ring built on legacy CUDA IPC handles (cuIpcGetMemHandle) instead of VMM descriptors.

To compare only the memory-sharing mechanism, the control plane is cuframes' own ring: the
producer cuMemAlloc's a pool of POOL device buffers of one NV12 frame and exports each with
cuIpcGetMemHandle; the 64-byte handles go to the consumer once (through the parent). Frames are
announced through a cuframes Publisher on the *host* backend with a tiny gray8 frame of POOL
slots. Per frame the producer writes its private buffer by a DtoD copy from one of SOURCE_BUFFERS
sources, syncs, stamps CLOCK_MONOTONIC (the frame is complete in its private buffer: the stamp
point of every method, issue 19 item 2), acquires a control slot k (cuframes never hands out a slot
a subscriber holds), copies the frame into device buffer k, syncs and publishes with the stamp as
pts (metadata: k and the byte written, checked during warm-up). The consumer cuIpcOpenMemHandle's
all POOL buffers once, then on each frame takes two stamps (bench/harness/alt_support.py):

- ``borrow`` (section "latency"): after ``sub.next()`` it holds the device pointer of buffer
  ``frame.slot``;
- ``read_into``: after cuMemcpyDtoDAsync of that buffer into its own and cuStreamSynchronize.

Each case runs in each regime of ``alt_support.regimes_for`` (back to back at every size, 25 fps at
1080p only) in one process pair; rows name their ``regime``. The same ring with its stamps taken in
C++ and every slot in one allocation is bench/harness/alt_legacy_probe.py (rows ``borrow, C++, one
allocation`` and ``read_into, C++, one allocation``), run from this section.

``attach-16x4k`` (section "attach", in ms): in a fresh process whose primary context is already
current, the time to cuIpcOpenMemHandle 16 buffers of a 4K NV12 frame (method legacy_ipc); to
cuIpcOpenMemHandle ONE allocation holding the 16 slots (case ``attach-16x4k, one allocation``,
slots found by offset); and to construct ``cuframes.Subscriber(key)`` against a cuda-backend
Publisher of 16 slots of 3840x2160 nv12 (method cuframes), ATTACH_REPS times each, interleaved.

Everything CUDA runs in spawned children; buffers are freed only after the consumer closed its
mappings (cuIpcCloseMemHandle).

    python -m bench.harness.alt_legacy_ipc [--quick]
"""

from __future__ import annotations

import multiprocessing as mp
import os
import struct
import sys
import time
from typing import Any

from . import alt_legacy_probe
from .alt_support import collect_two_stamps, regime_seconds, regimes_for, slot_offsets, two_stamp_rows
from .common import (
    SOURCE_BUFFERS,
    Children,
    Regime,
    Settings,
    nv12_bytes,
    percentiles,
    reporting_errors,
    row,
)
from .cudrv import CudaSession, fill_value
from .peers import STALL_S, STARTUP_S, Inbox, exit_report, monotonic_ns, paced
from .standalone import main

POOL = 16
CONTROL_WIDTH, CONTROL_HEIGHT = 64, 4  # gray8: the control frame's pixels are not used
ATTACH_REPS = 10
META = struct.Struct("<II")  # buffer index, the byte it holds
CHECKED_FRAMES = 20  # warm-up frames whose bytes are checked
BACK_TO_BACK, BACK_TO_BACK_WARMUP = 500, 20  # copies of one held frame, for the copy_back_to_back_us field


# ---------------------------------------------------------------- latency


def _producer(
    results: Any, gos: list[Any], stops: list[Any], released: Any, key: str, size: str, settings: Settings,
    regimes: list[Regime], max_seconds: float,
) -> None:  # fmt: skip
    with reporting_errors(results):
        import cuframes

        nbytes = nv12_bytes(size)
        published = 0
        with (
            cuframes.Publisher(
                key, CONTROL_WIDTH, CONTROL_HEIGHT, "gray8", slots=POOL, backend="host", dir=settings.work_dir
            ) as control,
            CudaSession(settings.device) as cu,
        ):
            stream = cu.stream()
            buffers = [cu.alloc(nbytes) for _ in range(POOL)]
            for ptr in buffers:
                cu.fill(ptr, nbytes, 0)
            private = cu.alloc(nbytes)
            sources = [cu.alloc(nbytes) for _ in range(SOURCE_BUFFERS)]
            for index, ptr in enumerate(sources):
                cu.fill(ptr, nbytes, fill_value(index))
            results.put(("ready", [cu.ipc_handle(ptr) for ptr in buffers]))
            next_seq = [0]

            def step(_: int) -> None:
                source = next_seq[0] % SOURCE_BUFFERS
                next_seq[0] += 1
                cu.copy_dtod(private, sources[source], nbytes, stream)
                cu.sync(stream)
                stamp = monotonic_ns()  # the frame is complete in the producer's private buffer
                frame = control.acquire()
                k = frame.index
                cu.copy_dtod(buffers[k], private, nbytes, stream)
                cu.sync(stream)
                frame.pts = stamp
                frame.metadata = META.pack(k, fill_value(source))
                frame.publish()

            for go, stop, regime in zip(gos, stops, regimes):
                if not go.wait(timeout=STARTUP_S):
                    raise TimeoutError("the consumer never became ready")
                published += paced(stop, regime.period_s, max_seconds, step)
            # cuMemFree of an exported buffer before the importer closed it is undefined behaviour.
            if not released.wait(timeout=60):
                raise TimeoutError("the consumer never closed its IPC mappings")
        results.put(("producer-done", {"published": published}))


def _consumer(
    results: Any, gos: list[Any], stops: list[Any], released: Any, handles: list[bytes], key: str, size: str,
    settings: Settings, regimes: list[Regime],
) -> None:  # fmt: skip
    with reporting_errors(results):
        import cuframes

        nbytes = nv12_bytes(size)
        passes: list[dict[str, Any]] = []
        try:
            with CudaSession(settings.device) as cu:
                stream = cu.stream()
                dst = cu.alloc(nbytes)
                pointers = [cu.ipc_open(handle) for handle in handles]
                checked = [0]

                def verify(frame: Any, ptr: int) -> None:
                    # Warm-up only: the index travels right and the mapping shows the producer's bytes.
                    if checked[0] >= CHECKED_FRAMES:
                        return
                    checked[0] += 1
                    k, value = META.unpack(frame.metadata)
                    if k != frame.slot:
                        raise RuntimeError(f"control slot {frame.slot} announced buffer {k}")
                    for what, at in (("buffer", ptr), ("copy", dst)):
                        got = cu.peek(at + nbytes - 1)[0]
                        if got != value:
                            raise RuntimeError(f"{what} of buffer {k} holds {got}, the producer wrote {value}")

                def handle(frame: Any, warming: bool) -> tuple[int, int]:
                    ptr = pointers[frame.slot]
                    held = monotonic_ns()  # borrow: the device pointer of the announced buffer
                    cu.copy_dtod(dst, ptr, nbytes, stream)
                    cu.sync(stream)
                    copied = monotonic_ns()
                    if warming:
                        verify(frame, ptr)
                    return held, copied

                def back_to_back(sub: Any) -> list[float]:
                    # The copy alone, repeated on one held frame: what the copy costs once the
                    # consumer's context is already busy on the GPU.
                    samples: list[float] = []
                    with sub.next(timeout=STALL_S) as frame:
                        ptr = pointers[frame.slot]
                        for i in range(BACK_TO_BACK_WARMUP + BACK_TO_BACK):
                            t0 = monotonic_ns()
                            cu.copy_dtod(dst, ptr, nbytes, stream)
                            cu.sync(stream)
                            if i >= BACK_TO_BACK_WARMUP:
                                samples.append((monotonic_ns() - t0) / 1e3)
                    return samples

                with cuframes.Subscriber(key, dir=settings.work_dir, connect_timeout=30) as sub:
                    for r, (go, stop, regime) in enumerate(zip(gos, stops, regimes)):
                        go.set()
                        checked[0] = 0
                        passes.append(collect_two_stamps(sub, regime, handle))
                        if r == 0:
                            passes[0]["copy_back_to_back_us"] = percentiles(back_to_back(sub))
                        stop.set()
                for ptr in pointers:
                    cu.ipc_close(ptr)
        finally:
            for stop in stops:
                stop.set()
            released.set()  # after the session closed whatever was still open
        results.put(("result", passes))


def _latency(settings: Settings, size: str) -> list[dict[str, Any]]:
    regimes = regimes_for(settings, size)
    ctx = mp.get_context("spawn")
    gos = [ctx.Event() for _ in regimes]
    stops = [ctx.Event() for _ in regimes]
    released = ctx.Event()
    key = f"bench-legacy-ipc-{size}-{os.getpid()}"
    seconds = sum(regime_seconds(r) for r in regimes)
    with Children() as children:
        inbox = Inbox(children)
        try:
            children.start(_producer, gos, stops, released, key, size, settings, regimes, STARTUP_S + seconds + 60)
            handles = inbox.wait("ready", STARTUP_S)
            children.start(_consumer, gos, stops, released, handles, key, size, settings, regimes)
            passes = inbox.wait("result", STARTUP_S + seconds + 30)
            produced = inbox.wait("producer-done", 60)
        finally:
            for stop in stops:
                stop.set()
    exits = exit_report(children)
    note = (
        f"{POOL} cuMemAlloc buffers shared once by cuIpcGetMemHandle; announced through a cuframes "
        f"host-backend ring ({CONTROL_WIDTH}x{CONTROL_HEIGHT} gray8, {POOL} slots, delivery latest, "
        "subscriber sleeps in next()); latency from the producer's stamp (frame complete in its private "
        "buffer, before its DtoD copy into the shared buffer); borrow (the consumer holds the buffer's "
        "device pointer) and read_into (cuMemcpyDtoDAsync into its own buffer + cuStreamSynchronize) "
        f"stamped on the same frames; {produced['published']} frames published in the run"
    )
    if exits:
        note += f"; {exits}"
    rows = two_stamp_rows("legacy_ipc", size, passes, {"borrow": "borrow", "read_into": "read_into"}, note)
    for out in rows:
        if out["case"] == "read_into" and "copy_back_to_back_us" in passes[0] and out["regime"] == passes[0]["regime"]:
            out["copy_back_to_back_us"] = passes[0]["copy_back_to_back_us"]
            out["note"] += "; copy_back_to_back_us: the same copy repeated on one held frame"
    return rows


# ---------------------------------------------------------------- attach


def _attach_producer(results: Any, released: Any, key: str, settings: Settings, max_seconds: float) -> None:
    with reporting_errors(results):
        import cuframes

        width, height = 3840, 2160
        nbytes = nv12_bytes("4k")
        with CudaSession(settings.device) as cu:
            buffers = [cu.alloc(nbytes) for _ in range(POOL)]
            handles = [cu.ipc_handle(ptr) for ptr in buffers]
            stride, _ = slot_offsets(nbytes, POOL)
            single = cu.ipc_handle(cu.alloc(stride * POOL))  # every slot in one allocation
            with cuframes.Publisher(
                key,
                width,
                height,
                "nv12",
                slots=POOL,
                backend="cuda",
                device=settings.device,
                dir=settings.work_dir,
                max_subscribers=(POOL - 2) // 2,
            ) as pub:
                if pub.backend != "cuda":
                    raise RuntimeError(f"the cuframes publisher runs on {pub.backend}, not cuda")
                results.put(("attach-ready", (handles, single)))
                if not released.wait(timeout=max_seconds):
                    raise TimeoutError("the attach consumer never finished")
        results.put(("attach-producer-done", None))


def _attach_consumer(
    results: Any, released: Any, handles: tuple[list[bytes], bytes], key: str, settings: Settings, reps: int
) -> None:
    with reporting_errors(results):
        import cuframes

        legacy_ms: list[float] = []
        legacy_close_ms: list[float] = []
        single_ms: list[float] = []
        single_close_ms: list[float] = []
        _, offsets = slot_offsets(nv12_bytes("4k"), POOL)
        ours_ms: list[float] = []
        ours_close_ms: list[float] = []
        try:
            # The primary context is created and current before anything is timed: both methods
            # need it, and creating it (hundreds of ms) is not what attaching costs.
            with CudaSession(settings.device) as cu:
                for _ in range(reps):
                    t0 = monotonic_ns()
                    pointers = [cu.ipc_open(handle) for handle in handles[0]]
                    t1 = monotonic_ns()
                    for ptr in pointers:
                        cu.ipc_close(ptr)
                    t2 = monotonic_ns()
                    legacy_ms.append((t1 - t0) / 1e6)
                    legacy_close_ms.append((t2 - t1) / 1e6)

                    t0 = monotonic_ns()
                    base = cu.ipc_open(handles[1])
                    pointers = [base + offset for offset in offsets]  # the slots, by offset
                    t1 = monotonic_ns()
                    cu.ipc_close(base)
                    t2 = monotonic_ns()
                    single_ms.append((t1 - t0) / 1e6)
                    single_close_ms.append((t2 - t1) / 1e6)

                    t0 = monotonic_ns()
                    sub = cuframes.Subscriber(key, dir=settings.work_dir, connect_timeout=10)
                    t1 = monotonic_ns()
                    try:
                        if sub.backend != "cuda" or sub.slot_count != POOL:
                            raise RuntimeError(f"attached to {sub.backend} with {sub.slot_count} slots")
                    finally:
                        sub.close()
                    t2 = monotonic_ns()
                    ours_ms.append((t1 - t0) / 1e6)
                    ours_close_ms.append((t2 - t1) / 1e6)
                    time.sleep(0.05)  # let the producer's server drop the closed subscriber
        finally:
            released.set()
        results.put(
            (
                "attach",
                {
                    "legacy": legacy_ms,
                    "legacy_close": legacy_close_ms,
                    "single": single_ms,
                    "single_close": single_close_ms,
                    "cuframes": ours_ms,
                    "cuframes_close": ours_close_ms,
                },
            )
        )


def _attach(settings: Settings) -> list[dict[str, Any]]:
    ctx = mp.get_context("spawn")
    released = ctx.Event()
    key = f"bench-attach-{os.getpid()}"
    with Children() as children:
        inbox = Inbox(children)
        try:
            children.start(_attach_producer, released, key, settings, STARTUP_S + 60)
            handles = inbox.wait("attach-ready", STARTUP_S)
            children.start(_attach_consumer, released, handles, key, settings, ATTACH_REPS)
            times = inbox.wait("attach", STARTUP_S + 60)
            inbox.wait("attach-producer-done", 60)
        finally:
            released.set()
    exits = exit_report(children)
    exits = f"; {exits}" if exits else ""
    pool = f"{POOL} x 3840x2160 nv12 ({nv12_bytes('4k') / 1e6:.1f} MB each)"
    return [
        _attach_row(
            "legacy_ipc",
            times["legacy"],
            times["legacy_close"],
            f"cuIpcOpenMemHandle of {POOL} cuMemAlloc buffers, {pool}; primary context already current{exits}",
        ),
        _attach_row(
            "legacy_ipc",
            times["single"],
            times["single_close"],
            f"one cuIpcOpenMemHandle of a single cuMemAlloc holding {pool}, slots found by offset; primary "
            f"context already current{exits}",
            case="attach-16x4k, one allocation",
        ),
        _attach_row(
            "cuframes",
            times["cuframes"],
            times["cuframes_close"],
            f"cuframes.Subscriber(key) against a cuda-backend Publisher of {pool}: connect, handshake, "
            f"descriptors, import and map; primary context already current{exits}",
        ),
    ]


def _attach_row(
    method: str, ms: list[float], close_ms: list[float], note: str, case: str = "attach-16x4k"
) -> dict[str, Any]:
    stats = percentiles(ms)
    close = percentiles(close_ms)
    note += (
        f"; {len(ms)} attaches in one fresh process, interleaved with the other method; the first took "
        f"{ms[0]:.2f} ms; detaching (close) p50 {close.get('p50', 0.0):.2f} ms"
    )
    return row(
        "attach",
        method,
        case,
        "4k",
        latency_ms=stats,
        latency_us=percentiles([m * 1e3 for m in ms]),
        value=stats.get("p50"),
        unit="ms",
        note=note,
    )


# ---------------------------------------------------------------- section


def run(settings: Settings) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    try:
        rows += _attach(settings)
    except Exception as error:  # noqa: BLE001 (one part failing leaves the others' rows)
        rows.append(row("attach", "legacy_ipc", "attach-16x4k", "4k", error=f"{type(error).__name__}: {error}"))
    for size in settings.sizes:
        try:
            rows += _latency(settings, size)
        except Exception as error:  # noqa: BLE001
            rows.append(row("latency", "legacy_ipc", "read_into", size, error=f"{type(error).__name__}: {error}"))
    rows += alt_legacy_probe.run(settings)
    return rows


if __name__ == "__main__":
    sys.exit(main(run))
