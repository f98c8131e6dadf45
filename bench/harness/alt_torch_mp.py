"""torch.multiprocessing: CUDA tensors passed through a multiprocessing Queue.

The producer (a spawned process) keeps a pool of POOL CUDA uint8 tensors of one NV12 frame. For
each frame it writes pool[i % POOL] by ``copy_`` from one of SOURCE_BUFFERS sources on its own
stream, synchronizes that stream, stamps CLOCK_MONOTONIC and ``put_nowait``'s ``(seq, value,
stamp, tensor)`` on a Queue(maxsize=QUEUE_DEPTH): torch pickles the tensor as a CUDA IPC handle
plus a reference count and an IPC event. A full queue drops the frame (the producer never blocks,
like a cuframes publisher); the consumer counts the gaps in ``seq`` as missed.

The consumer gets each item and, like a cuframes subscriber releasing its frame, drops the tensor
before asking for the next one. Two phases, one after the other, in one consumer:

- ``borrow``: ``q.get()`` returned, so the consumer holds the rebuilt tensor: now - stamp;
- ``read_into``: after ``dst.copy_(t)`` and a sync of the current stream (the stream torch made
  wait on the producer's IPC event when it rebuilt the tensor).

torch's rules are kept: spawn context; the producer keeps every pooled tensor alive until the
consumer has released all it received (it drains the queue up to a sentinel, then sets
``released``) so no reference count is left behind when the producer exits. The queue is the
standard library's spawn-context Queue, which is what torch.multiprocessing re-exports: importing
torch.multiprocessing in the children registers the CUDA-tensor reducers on it, and the parent
never imports torch.

    python -m bench.harness.alt_torch_mp [--quick]
"""

from __future__ import annotations

import multiprocessing as mp
import queue
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
from .cudrv import fill_value
from .peers import (
    STALL_S,
    STARTUP_S,
    Budget,
    Inbox,
    exit_report,
    monotonic_ns,
    paced,
    phase_result,
    remove_ipc_event_files,
)
from .standalone import main

POOL = 16
QUEUE_DEPTH = 2
CHECKED_FRAMES = 20  # warm-up frames whose bytes are checked


def _producer(
    results: Any, frames: Any, go: Any, stop: Any, released: Any, size: str, settings: Settings, max_seconds: float
) -> None:
    with reporting_errors(results):
        import torch
        import torch.multiprocessing  # registers the CUDA tensor reducers

        device = torch.device("cuda", settings.device)
        torch.cuda.set_device(device)
        nbytes = nv12_bytes(size)
        pool = [torch.zeros(nbytes, dtype=torch.uint8, device=device) for _ in range(POOL)]
        sources = [
            torch.full((nbytes,), fill_value(i), dtype=torch.uint8, device=device) for i in range(SOURCE_BUFFERS)
        ]
        stream = torch.cuda.Stream(device=device)
        torch.cuda.synchronize(device)
        dropped = [0]
        results.put(("ready", None))
        if not go.wait(timeout=STARTUP_S):
            raise TimeoutError("the consumer never became ready")

        def step(i: int) -> None:
            source = i % SOURCE_BUFFERS
            tensor = pool[i % POOL]
            with torch.cuda.stream(stream):
                tensor.copy_(sources[source], non_blocking=True)
            stream.synchronize()
            stamp = monotonic_ns()  # the frame is complete on the GPU
            try:
                frames.put_nowait((i, fill_value(source), stamp, tensor))
            except queue.Full:
                dropped[0] += 1

        try:
            published = paced(stop, settings.period_s, max_seconds, step)
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
        results.put(("producer-done", {"published": published, "dropped": dropped[0]}))


def _consumer(
    results: Any, frames: Any, go: Any, stop: Any, released: Any, size: str, settings: Settings, phase_seconds: float
) -> None:
    with reporting_errors(results):
        import torch
        import torch.multiprocessing  # registers the CUDA tensor rebuilders

        device = torch.device("cuda", settings.device)
        torch.cuda.set_device(device)
        nbytes = nv12_bytes(size)
        dst = torch.empty(nbytes, dtype=torch.uint8, device=device)
        torch.cuda.synchronize(device)
        out: dict[str, Any] = {}
        try:
            go.set()
            last_seq = -1
            copy_us: list[float] = []
            for phase in ("borrow", "read_into"):
                wanted = settings.warmup + settings.frames
                deadline = time.monotonic() + phase_seconds
                samples: list[float] = []
                missed = 0
                got = 0
                checked = 0
                while got < wanted:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    try:
                        item = frames.get(timeout=min(left, STALL_S))
                    except queue.Empty:
                        if time.monotonic() >= deadline:
                            break
                        raise RuntimeError(f"no frame for {STALL_S:.0f} s: the producer stalled") from None
                    now = monotonic_ns()
                    if item is None:
                        raise RuntimeError("the producer stopped early")
                    seq, value, stamp, tensor = item
                    del item
                    if phase == "read_into":
                        held = now
                        dst.copy_(tensor)
                        torch.cuda.current_stream(device).synchronize()
                        now = monotonic_ns()
                        if got >= settings.warmup:
                            copy_us.append((now - held) / 1e3)
                    warming = got < settings.warmup
                    if warming and checked < CHECKED_FRAMES:
                        checked += 1
                        last_byte = int((dst if phase == "read_into" else tensor)[-1].item())
                        if last_byte != value:
                            raise RuntimeError(f"frame {seq} ends in {last_byte}, the producer wrote {value}")
                    del tensor  # released before the next get, like frame.release()
                    if not warming:
                        samples.append((now - stamp) / 1e3)
                        missed += seq - last_seq - 1
                    last_seq = seq
                    got += 1
                out[phase] = phase_result(samples, missed, wanted, got, phase_seconds)
            out["read_into"]["copy_us"] = percentiles(copy_us)
            stop.set()
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
            del dst
            torch.cuda.synchronize(device)
        finally:
            stop.set()
            released.set()
        results.put(("result", out))


def _latency(settings: Settings, size: str, phase_seconds: float) -> list[dict[str, Any]]:
    ctx = mp.get_context("spawn")
    frames = ctx.Queue(maxsize=QUEUE_DEPTH)
    go, stop, released = ctx.Event(), ctx.Event(), ctx.Event()
    children = Children()
    leftovers: list[str] = []
    try:
        with children:
            inbox = Inbox(children)
            try:
                children.start(
                    _producer, frames, go, stop, released, size, settings, STARTUP_S + 2 * phase_seconds + 60
                )
                inbox.wait("ready", STARTUP_S)
                children.start(_consumer, frames, go, stop, released, size, settings, phase_seconds)
                result = inbox.wait("result", STARTUP_S + 2 * phase_seconds + 60)
                produced = inbox.wait("producer-done", 90)
            finally:
                stop.set()
        exits = exit_report(children)
    finally:
        leftovers = remove_ipc_event_files(children)  # also after a failure, once the children are gone
        frames.close()
    rows = []
    for case in ("borrow", "read_into"):
        measured = result[case]
        what = "q.get() returned the rebuilt tensor" if case == "borrow" else "dst.copy_(t) + current-stream sync done"
        note = (
            f"torch.multiprocessing, spawn; Queue(maxsize={QUEUE_DEPTH}) of (seq, value, stamp, tensor) from a "
            f"pool of {POOL} CUDA tensors; producer put_nowait, a full queue drops the frame (counted in missed); "
            f"the consumer drops each tensor before the next get (as a cuframes subscriber releases its frame); "
            f"latency: producer stamp after its stream sync -> {what}; {produced['published']} frames published, "
            f"{produced['dropped']} dropped at put in the run (both phases)"
        )
        extra = {}
        if case == "read_into":
            extra = {"copy_us": measured["copy_us"]}
            note += "; copy_us: dst.copy_(t) + sync alone, from holding the tensor"
        if "note" in measured:
            note += f"; {measured['note']}"
        if exits:
            note += f"; {exits}"
        if leftovers:
            note += (
                f"; the CUDA IPC events torch shares left {len(leftovers)} /dev/shm/cuda.shm.* file(s) behind "
                "after the producer exited (removed by the harness)"
            )
        rows.append(
            latency_row(
                "latency", "torch_mp", case, size, measured["samples"], missed=measured["missed"], note=note, **extra
            )
        )
    return rows


def run(settings: Settings) -> list[dict[str, Any]]:
    budget = Budget(settings)
    rows: list[dict[str, Any]] = []
    sizes = list(settings.sizes)
    for done, size in enumerate(sizes):
        seconds = budget.share(len(sizes) - done, overhead_s=6.0)  # two processes import torch
        rows += _latency(settings, size, seconds / 2)
    return rows


if __name__ == "__main__":
    sys.exit(main(run))
