"""The physical floor: what moving one NV12 frame costs inside one process, with nothing shared.

Rows (section "floor", method "floor"), per frame size:

- ``copy+sync``: cuMemcpyDtoDAsync of one packed frame then cuStreamSynchronize, timed on the CPU
  (CLOCK_MONOTONIC around both calls): the least any read_into can cost.
- ``copy-gpu-time``: the same copy alone, timed with CUDA events on the stream.

and once (size "-"):

- ``sync-idle``: cuStreamSynchronize on a stream with nothing pending, what a producer's publish
  pays for the sync even when the frame was long done.
- ``touch+sync``: the smallest GPU work (a 1-byte cuMemsetD8Async) plus a sync, back to back;
- ``touch+sync-after-sleep``: the same after sleeping one publishing period (period_s), alone.

Two processes sharing the GPU (no MPS) pay for handing it over. Two more children take turns,
woken by semaphores: the "peer" does a producer's work (a DtoD copy of one frame of its own, then
a sync) and hands over; the measured one then times its own work, on its own memory, from submit
to sync done (the wake-up is not in it):

- ``touch+sync-after-peer`` (size "-"): the 1-byte memset, right after the peer used the GPU;
- ``copy+sync-after-peer`` (per size): one frame's DtoD copy, right after the peer used the GPU.

Compared with ``touch+sync`` and ``copy+sync`` they give the GPU hand-over cost that every
consumer in another process pays on its first GPU work after the producer's, whatever shares the
memory (cuframes, legacy IPC, torch), and no single-process floor shows.

Copies rotate over SOURCE_BUFFERS sources and targets (L2 does not hold them), back to back on a
non-blocking stream of the primary context, in a spawned child so that this process never holds
a CUDA context. The CPU-timed figures include cuda.bindings' Python call overhead (about 1 µs a
call), as every Python user pays it.

    python -m bench.harness.floor [--quick]
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import time
from typing import Any

from .common import (
    SOURCE_BUFFERS,
    Children,
    Settings,
    latency_row,
    nv12_bytes,
    percentiles,
    reporting_errors,
)
from .cudrv import CudaSession, fill_value
from .peers import STALL_S, STARTUP_S, Budget, Inbox, monotonic_ns
from .standalone import main

# The timed loops below are written out on purpose: a helper taking the work
# as a callable would put a Python call inside every sample, and these are the
# floors that everything else is divided by.


def _floor_child(
    results: Any, sizes: tuple[str, ...], warmup: int, frames: int, device: int, period_s: float, seconds: float
) -> None:
    with reporting_errors(results):
        out: dict[str, Any] = {}
        deadline_ns = monotonic_ns() + int(seconds * 1e9)
        with CudaSession(device) as cu:
            stream = cu.stream()
            start, end = cu.event(), cu.event()
            for size in sizes:
                nbytes = nv12_bytes(size)
                sources = [cu.alloc(nbytes) for _ in range(SOURCE_BUFFERS)]
                targets = [cu.alloc(nbytes) for _ in range(SOURCE_BUFFERS)]
                for index, ptr in enumerate(sources):
                    cu.fill(ptr, nbytes, fill_value(index))
                for ptr in targets:
                    cu.fill(ptr, nbytes, 0)

                copy_sync: list[float] = []
                for i in range(warmup + frames):
                    if monotonic_ns() > deadline_ns:
                        break
                    src, dst = sources[(i + 1) % SOURCE_BUFFERS], targets[i % SOURCE_BUFFERS]
                    t0 = monotonic_ns()
                    cu.copy_dtod(dst, src, nbytes, stream)
                    cu.sync(stream)
                    t1 = monotonic_ns()
                    if i >= warmup:
                        copy_sync.append((t1 - t0) / 1e3)
                # The copies really happened: each target holds the source it got last.
                for i in range(SOURCE_BUFFERS):
                    cu.copy_dtod(targets[i], sources[(i + 1) % SOURCE_BUFFERS], nbytes, stream)
                cu.sync(stream)
                for i in range(SOURCE_BUFFERS):
                    got = cu.peek(targets[i] + nbytes - 1)[0]
                    if got != fill_value((i + 1) % SOURCE_BUFFERS):
                        raise RuntimeError(f"floor {size}: target {i} holds {got}, not its source's bytes")

                gpu_time: list[float] = []
                for i in range(warmup + frames):
                    if monotonic_ns() > deadline_ns:
                        break
                    src, dst = sources[(i + 1) % SOURCE_BUFFERS], targets[i % SOURCE_BUFFERS]
                    cu.record(start, stream)
                    cu.copy_dtod(dst, src, nbytes, stream)
                    cu.record(end, stream)
                    ms = cu.elapsed_ms(start, end)  # waits for `end`
                    if i >= warmup:
                        gpu_time.append(ms * 1e3)
                for ptr in sources + targets:
                    cu.free(ptr)
                out[size] = {"copy+sync": copy_sync, "copy-gpu-time": gpu_time, "bytes": nbytes}

            idle: list[float] = []
            cu.sync(stream)
            for i in range(warmup + frames):
                if monotonic_ns() > deadline_ns:
                    break
                t0 = monotonic_ns()
                cu.sync(stream)
                t1 = monotonic_ns()
                if i >= warmup:
                    idle.append((t1 - t0) / 1e3)
            out["sync-idle"] = idle
            # What timing any call through cuda.bindings costs here: a call that does no GPU work.
            null: list[float] = []
            for i in range(warmup + frames):
                if monotonic_ns() > deadline_ns:
                    break
                t0 = monotonic_ns()
                cu.drv.cuCtxGetCurrent()
                t1 = monotonic_ns()
                if i >= warmup:
                    null.append((t1 - t0) / 1e3)
            out["null-call"] = null

            touch: list[float] = []
            scratch = cu.alloc(1)
            for i in range(warmup + frames):
                if monotonic_ns() > deadline_ns:
                    break
                t0 = monotonic_ns()
                cu.touch(scratch, stream)
                cu.sync(stream)
                t1 = monotonic_ns()
                if i >= warmup:
                    touch.append((t1 - t0) / 1e3)
            out["touch+sync"] = touch

            # The same after an idle gap in this process alone, as a consumer sleeps between frames:
            # tells a slow first GPU work after idling from the hand-over between processes.
            after_sleep: list[float] = []
            for i in range(warmup + frames):
                if monotonic_ns() > deadline_ns:
                    break
                time.sleep(period_s)
                t0 = monotonic_ns()
                cu.touch(scratch, stream)
                cu.sync(stream)
                t1 = monotonic_ns()
                if i >= warmup:
                    after_sleep.append((t1 - t0) / 1e3)
            out["touch+sync-after-sleep"] = after_sleep
        results.put(("floor", out))


def _turns(cases: list[tuple[str, str]], rounds: int) -> list[tuple[str, str, int]]:
    """The ping-pong's schedule, the same in both children: (case, size, round)."""
    return [(case, size, i) for case, size in cases for i in range(rounds)]


def _pingpong_child(
    results: Any,
    role: str,
    mine: Any,
    theirs: Any,
    cases: list[tuple[str, str]],
    rounds: int,
    device: int,
    seconds: float,
) -> None:
    """role "peer": waits its turn, copies a frame of its own + sync, hands over. role "measured":
    waits its turn, times its own work (touch or copy) + sync, hands over."""
    with reporting_errors(results):
        samples: dict[str, list[float]] = {f"{case}:{size}": [] for case, size in cases}
        deadline = time.monotonic() + seconds
        with CudaSession(device) as cu:
            stream = cu.stream()
            largest = max((nv12_bytes(size) for _, size in cases if size != "-"), default=nv12_bytes("1080p"))
            src, dst = cu.alloc(largest), cu.alloc(largest)
            cu.fill(src, largest, fill_value(0))
            cu.fill(dst, largest, 0)
            results.put((f"{role}-ready", None))
            for case, size, _round in _turns(cases, rounds):
                if not mine.acquire(timeout=STALL_S):
                    raise TimeoutError(f"{role}: the other process did not hand over within {STALL_S:.0f} s")
                try:
                    nbytes = nv12_bytes(size if size != "-" else "1080p")
                    if role == "peer" or case == "copy":
                        t0 = monotonic_ns()
                        cu.copy_dtod(dst, src, nbytes, stream)
                    else:
                        t0 = monotonic_ns()
                        cu.touch(dst, stream)
                    cu.sync(stream)
                    t1 = monotonic_ns()
                    if role == "measured":
                        samples[f"{case}:{size}"].append((t1 - t0) / 1e3)
                finally:
                    theirs.release()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{role}: the ping-pong ran past {seconds:.0f} s")
        results.put((f"{role}-done", samples if role == "measured" else None))


def _pingpong(settings: Settings, rounds: int, seconds: float) -> dict[str, list[float]]:
    ctx = mp.get_context("spawn")
    peer_turn, measured_turn = ctx.Semaphore(0), ctx.Semaphore(0)
    cases = [("touch", "-")] + [("copy", size) for size in settings.sizes]
    with Children() as children:
        inbox = Inbox(children)
        children.start(_pingpong_child, "peer", peer_turn, measured_turn, cases, rounds, settings.device, seconds)
        children.start(_pingpong_child, "measured", measured_turn, peer_turn, cases, rounds, settings.device, seconds)
        inbox.wait("peer-ready", STARTUP_S)
        inbox.wait("measured-ready", STARTUP_S)
        peer_turn.release()  # the peer goes first
        samples = inbox.wait("measured-done", seconds + 30)
        inbox.wait("peer-done", 30)
    return samples


def run(settings: Settings) -> list[dict[str, Any]]:
    budget = Budget(settings)
    with Children() as children:
        children.start(
            _floor_child,
            tuple(settings.sizes),
            settings.warmup,
            settings.frames,
            settings.device,
            settings.period_s,
            max(2.0, budget.left() / 2 - 5.0),
        )
        out = Inbox(children).wait("floor", STARTUP_S + budget.limit)
    # The same sample count as every other latency (issue 19, item 5): warm-up + settings.frames
    # rounds a case, each two wake-ups and two GPU works (~0.4 ms).
    rounds = settings.warmup + settings.frames
    pingpong = _pingpong(settings, rounds, max(5.0, budget.left() - 5.0))
    drop = settings.warmup
    rows: list[dict[str, Any]] = []
    wanted = settings.frames
    for size in settings.sizes:
        measured = out[size]
        nbytes = measured["bytes"]
        copy_sync = measured["copy+sync"]
        gpu_time = measured["copy-gpu-time"]
        note = f"{nbytes} bytes, DtoD on one stream, {SOURCE_BUFFERS} rotating sources/targets, back to back"
        rows.append(latency_row("floor", "floor", "copy+sync", size, copy_sync, note=_short(note, copy_sync, wanted)))
        if gpu_time:
            gbps = 2 * nbytes / (sorted(gpu_time)[len(gpu_time) // 2] * 1e3)  # read + written, per ns -> GB/s
            note_gpu = f"{note}; CUDA events; p50 moves {gbps:.0f} GB/s counting bytes read and written"
        else:
            note_gpu = note
        rows.append(
            latency_row("floor", "floor", "copy-gpu-time", size, gpu_time, note=_short(note_gpu, gpu_time, wanted))
        )
        rows.append(
            latency_row(
                "floor",
                "floor",
                "copy+sync-after-peer",
                size,
                pingpong[f"copy:{size}"][drop:],
                note=f"{nbytes} bytes, DtoD of the process's own memory + sync, right after another "
                f"process's frame copy + sync (turns handed over by semaphores; the wake-up "
                f"is not timed); compare with copy+sync",
            )
        )
    idle = out["sync-idle"]
    rows.append(
        latency_row(
            "floor",
            "floor",
            "sync-idle",
            "-",
            idle,
            null_call_us=percentiles(out["null-call"]),
            note=_short(
                "cuStreamSynchronize on a non-blocking stream with nothing pending, called "
                "and timed from Python; null_call_us: cuCtxGetCurrent timed the same way, "
                "what the Python call and the clock reads add",
                idle,
                wanted,
            ),
        )
    )
    touch = out["touch+sync"]
    rows.append(
        latency_row(
            "floor",
            "floor",
            "touch+sync",
            "-",
            touch,
            note=_short("1-byte cuMemsetD8Async + cuStreamSynchronize, back to back", touch, wanted),
        )
    )
    rows.append(
        latency_row(
            "floor",
            "floor",
            "touch+sync-after-sleep",
            "-",
            out["touch+sync-after-sleep"],
            note=f"1-byte cuMemsetD8Async + sync after this process slept {settings.period_s * 1e3:g} ms "
            "(the publishing period) with no other process on the GPU",
        )
    )
    rows.append(
        latency_row(
            "floor",
            "floor",
            "touch+sync-after-peer",
            "-",
            pingpong["touch:-"][drop:],
            note="1-byte cuMemsetD8Async + sync on the process's own memory, right after another "
            "process's 1080p frame copy + sync; compare with touch+sync: the difference is "
            "handing the GPU over between processes",
        )
    )
    return rows


def _short(note: str, samples: list[float], wanted: int) -> str:
    return note if len(samples) >= wanted else f"{note}; cut short by the time budget ({len(samples)} samples)"


if __name__ == "__main__":
    sys.exit(main(run))
