"""torch.multiprocessing: CUDA tensors shared between processes, at its best and naively.

The producer (a spawned process) keeps a pool of POOL CUDA uint8 tensors of one NV12 frame. For
each frame it writes its private frame tensor by ``copy_`` from one of SOURCE_BUFFERS sources on
its own stream, synchronizes, stamps CLOCK_MONOTONIC (the frame is complete in the producer's
private buffer: the stamp point of every method, issue 19 item 2), then copies it into pool[k]
(k = seq % POOL), synchronizes again and hands the frame over with ``put_nowait`` on a
Queue(maxsize=QUEUE_DEPTH). A full queue drops the frame (the producer never blocks, like a
cuframes publisher); the consumer counts gaps in ``seq`` as missed. A slot the consumer may still
be reading (the last one it finished is POOL - 1 frames back) is not overwritten: the frame is
dropped instead.

Two variants, each its own pair of processes:

- ``pooled`` (torch at its best): the pool goes through the queue ONCE; the consumer rebuilds the
  tensors, which opens each CUDA IPC handle once, and keeps them. Per frame only
  ``(seq, value, stamp, k)`` travels, and the consumer uses pool[k]. Rows ``borrow``, ``read_into``.
- ``naive``: ``(seq, value, stamp, pool[k])`` per frame; torch pickles the tensor as an IPC handle
  plus a reference count and an IPC event, the consumer rebuilds it (reopening the handle) and drops
  it before the next get, like a cuframes subscriber releasing its frame. Rows ``borrow, naive: a
  tensor per frame`` and ``read_into, naive: a tensor per frame``.

Both stamps come from the same frames (bench/harness/alt_support.py): ``borrow`` when the consumer
holds the tensor (q.get() returned; pooled: the index looked up), ``read_into`` after
``dst.copy_(t)`` and a sync of the current stream. Every case runs in each regime of
``alt_support.regimes_for`` (back to back at every size, 25 fps at 1080p only) within one process
pair; each row names its ``regime``.

torch's rules are kept: spawn context; the producer keeps every pooled tensor alive until the
consumer has released all it received (it drains the queue up to a sentinel, then sets
``released``). The parent never imports torch.

    python -m bench.harness.alt_torch_mp [--quick]
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import sys
import time
from typing import Any

from .alt_support import TwoStamps, regime_seconds, regimes_for, two_stamp_rows
from .common import SOURCE_BUFFERS, Children, Regime, Settings, nv12_bytes, reporting_errors, row
from .cudrv import fill_value
from .peers import STALL_S, STARTUP_S, Inbox, exit_report, monotonic_ns, paced, remove_ipc_event_files
from .standalone import main

POOL = 16
QUEUE_DEPTH = 2
CHECKED_FRAMES = 20  # warm-up frames whose bytes are checked
NAIVE = "naive: a tensor per frame"


def _producer(
    results: Any, frames: Any, primed: Any, gos: list[Any], stops: list[Any], released: Any, consumed: Any,
    size: str, settings: Settings, regimes: list[Regime], pooled: bool, max_seconds: float,
) -> None:  # fmt: skip
    with reporting_errors(results):
        import torch
        import torch.multiprocessing  # registers the CUDA tensor reducers

        device = torch.device("cuda", settings.device)
        torch.cuda.set_device(device)
        nbytes = nv12_bytes(size)
        pool = [torch.zeros(nbytes, dtype=torch.uint8, device=device) for _ in range(POOL)]
        private = torch.zeros(nbytes, dtype=torch.uint8, device=device)
        sources = [
            torch.full((nbytes,), fill_value(i), dtype=torch.uint8, device=device) for i in range(SOURCE_BUFFERS)
        ]
        stream = torch.cuda.Stream(device=device)
        torch.cuda.synchronize(device)
        if pooled:
            frames.put(pool, timeout=30)  # once: the consumer opens each IPC handle once
        dropped = [0, 0]  # at put (queue full), slot still being read
        next_seq = [0]
        results.put(("ready", None))
        primed.set()

        def step(_: int) -> None:
            seq = next_seq[0]
            next_seq[0] += 1
            source = seq % SOURCE_BUFFERS
            with torch.cuda.stream(stream):
                private.copy_(sources[source], non_blocking=True)
            stream.synchronize()
            stamp = monotonic_ns()  # the frame is complete in the producer's private buffer
            if seq - consumed.value >= POOL - 1:
                dropped[1] += 1  # its slot may still be read by the consumer
                return
            k = seq % POOL
            with torch.cuda.stream(stream):
                pool[k].copy_(private, non_blocking=True)
            stream.synchronize()
            try:
                frames.put_nowait((seq, fill_value(source), stamp, k if pooled else pool[k]))
            except queue.Full:
                dropped[0] += 1

        published = 0
        try:
            for go, stop, regime in zip(gos, stops, regimes):
                if not go.wait(timeout=STARTUP_S):
                    raise TimeoutError("the consumer never became ready")
                published += paced(stop, regime.period_s, max_seconds, step)
            frames.put(None, timeout=30)  # the sentinel: everything before it was received
            # The pool must outlive every tensor the consumer got from it.
            if not released.wait(timeout=60):
                raise TimeoutError("the consumer never released the tensors it received")
        except BaseException:
            frames.cancel_join_thread()  # do not hang on exit flushing to a consumer that is gone
            raise
        pool.clear()
        sources.clear()
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        results.put(("producer-done", {"published": published, "dropped": dropped[0], "busy": dropped[1]}))


def _consumer(
    results: Any, frames: Any, primed: Any, gos: list[Any], stops: list[Any], released: Any, consumed: Any,
    size: str, settings: Settings, regimes: list[Regime], pooled: bool,
) -> None:  # fmt: skip
    with reporting_errors(results):
        import torch
        import torch.multiprocessing  # registers the CUDA tensor rebuilders

        device = torch.device("cuda", settings.device)
        torch.cuda.set_device(device)
        nbytes = nv12_bytes(size)
        dst = torch.empty(nbytes, dtype=torch.uint8, device=device)
        torch.cuda.synchronize(device)
        passes: list[dict[str, Any]] = []
        try:
            if not primed.wait(timeout=STARTUP_S):
                raise TimeoutError("the producer never became ready")
            pool = frames.get(timeout=STARTUP_S) if pooled else None
            last_seq = -1
            for go, stop, regime in zip(gos, stops, regimes):
                go.set()
                stamps = TwoStamps(regime)
                deadline = time.monotonic() + regime_seconds(regime)
                checked = 0
                while stamps.got < stamps.wanted and time.monotonic() < deadline:
                    try:
                        item = frames.get(timeout=STALL_S)
                    except queue.Empty:
                        raise RuntimeError(f"no frame for {STALL_S:.0f} s: the producer stalled") from None
                    if item is None:
                        raise RuntimeError("the producer stopped early")
                    seq, value, stamp, ref = item
                    del item
                    tensor = pool[ref] if pool is not None else ref
                    held = monotonic_ns()
                    dst.copy_(tensor)
                    torch.cuda.current_stream(device).synchronize()
                    copied = monotonic_ns()
                    if stamps.warming and checked < CHECKED_FRAMES:
                        checked += 1
                        for what, data in (("held", tensor), ("copied", dst)):
                            if int(data[-1].item()) != value:
                                raise RuntimeError(f"{what} frame {seq} is not what the producer wrote ({value})")
                    del tensor, ref  # released before the next get, like frame.release()
                    consumed.value = seq
                    stamps.add(stamp, held, copied, seq - last_seq - 1)
                    last_seq = seq
                stop.set()
                passes.append(stamps.result())
            # Drain up to the sentinel, so that the producer's reference counts all come back.
            drain_end = time.monotonic() + 30
            while True:
                try:
                    item = frames.get(timeout=max(0.1, drain_end - time.monotonic()))
                except queue.Empty:
                    raise RuntimeError("no sentinel from the producer within 30 s") from None
                if item is None:
                    break
                del item
            del dst, pool
            torch.cuda.synchronize(device)
        finally:
            for stop in stops:
                stop.set()
            released.set()
        results.put(("result", passes))


def _latency(settings: Settings, size: str, pooled: bool) -> list[dict[str, Any]]:
    regimes = regimes_for(settings, size)
    ctx = mp.get_context("spawn")
    frames = ctx.Queue(maxsize=QUEUE_DEPTH)
    gos = [ctx.Event() for _ in regimes]
    stops = [ctx.Event() for _ in regimes]
    released, primed = ctx.Event(), ctx.Event()
    consumed = ctx.Value("q", -1, lock=False)  # the last seq the consumer finished with
    seconds = sum(regime_seconds(r) for r in regimes)
    children = Children()
    try:
        with children:
            inbox = Inbox(children)
            try:
                args = (frames, primed, gos, stops, released, consumed, size, settings, regimes, pooled)
                # Both start at once (each imports torch and makes a context, seconds apiece); the
                # consumer waits for ``primed`` before it asks for frames.
                children.start(_producer, *args, STARTUP_S + seconds + 60)
                children.start(_consumer, *args)
                inbox.wait("ready", STARTUP_S)
                passes = inbox.wait("result", STARTUP_S + seconds + 60)
                produced = inbox.wait("producer-done", 90)
            finally:
                for stop in stops:
                    stop.set()
        exits = exit_report(children)
    finally:
        leftovers = remove_ipc_event_files(children)  # also after a failure, once the children are gone
        frames.close()
    shared = (
        f"the pool of {POOL} tensors sent once (each IPC handle opened once), then (seq, value, stamp, index) "
        "per frame; borrow: the consumer looked up pool[index]"
        if pooled
        else f"(seq, value, stamp, tensor) per frame from a pool of {POOL} tensors, the tensor rebuilt (its IPC "
        "handle reopened) and dropped every frame; borrow: q.get() returned the rebuilt tensor"
    )
    note = (
        f"torch.multiprocessing, spawn; {shared}; Queue(maxsize={QUEUE_DEPTH}), put_nowait, a full queue drops "
        "the frame (missed); latency from the producer's stamp (frame complete in its private tensor, before "
        "its copy into the pool); borrow and read_into (dst.copy_(t) + sync) stamped on the same frames; "
        f"{produced['published']} frames published in the run, {produced['dropped']} dropped at put, "
        f"{produced['busy']} dropped as their slot was still being read"
    )
    if exits:
        note += f"; {exits}"
    if leftovers:
        note += (
            f"; the CUDA IPC events torch shares left {len(leftovers)} /dev/shm/cuda.shm.* file(s) behind "
            "after the producer exited (removed by the harness)"
        )
    cases = {"borrow": "borrow", "read_into": "read_into"}
    if not pooled:
        cases = {key: f"{case}, {NAIVE}" for key, case in cases.items()}
    return two_stamp_rows("torch_mp", size, passes, cases, note, variant="pooled" if pooled else "naive")


def run(settings: Settings) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for size in settings.sizes:
        for pooled in (True, False):
            try:
                rows += _latency(settings, size, pooled)
            except Exception as error:  # noqa: BLE001 (one variant failing leaves the others' rows)
                case = "borrow" if pooled else f"borrow, {NAIVE}"
                rows.append(row("latency", "torch_mp", case, size, error=f"{type(error).__name__}: {error}"))
    return rows


if __name__ == "__main__":
    sys.exit(main(run))
