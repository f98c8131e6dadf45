"""The host path: DtoH into shared memory in the producer, then HtoD in the consumer.

What a pipeline without GPU sharing does. The producer has each frame on its GPU (a DtoD copy from
one of SOURCE_BUFFERS sources, then a stream sync, then the CLOCK_MONOTONIC stamp), copies it DtoH
straight into the acquired slot of a cuframes *host-backend* Publisher (the producer's writable
memfd mapping) and publishes with the stamp as pts. The consumer (a cuframes Subscriber on the same
key) borrows the host frame and copies it HtoD into its own device buffer, then syncs.

Case ``read_into`` (section "latency"): stamp -> the frame is complete on the consumer's GPU.

Both sides try to page-lock the slot mappings with cuMemHostRegister (the producer its writable
mapping; the consumer its read-only one, with CU_MEMHOSTREGISTER_READ_ONLY), each slot when first
seen (during warm-up as a rule); when registration fails they fall back to pageable copies and the
row's note says so. Slots are pitched (rows aligned to 256 bytes): a slot laid out like the packed
frame takes one linear copy, otherwise one 2D copy per plane. Registrations are undone before the
mappings go away.

    python -m bench.harness.alt_host_path [--quick]
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
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
)
from .cudrv import CudaSession, fill_value
from .peers import (
    STARTUP_S,
    Budget,
    Inbox,
    collect_frames,
    exit_report,
    monotonic_ns,
    paced,
)
from .standalone import main

SLOTS = 10
CHECKED_FRAMES = 20  # warm-up frames whose bytes are checked on the consumer's GPU


class _SlotCopies:
    """Per slot index: the slot's base address and its copy plan, registering the mapping once."""

    def __init__(self, cu: CudaSession, planes: list[Any], slot_size: int, device_ptr: int, to_host: bool) -> None:
        self.cu = cu
        self.planes = planes
        self.slot_size = slot_size
        self.device_ptr = device_ptr
        self.to_host = to_host
        self.plans: dict[int, tuple[int, list[Any]]] = {}
        self.registered = 0
        self.failure: str | None = None
        self.late = 0  # slots first seen after warm-up

    def plan(self, index: int, frame: Any, warming: bool) -> tuple[int, list[Any]]:
        found = self.plans.get(index)
        if found is not None:
            return found
        if not warming:
            self.late += 1
        base = frame.plane_views[0].ptr - self.planes[0].offset
        if self.failure is None:
            self.failure = self.cu.host_register(base, self.slot_size, read_only=not self.to_host)
            if self.failure is None:
                self.registered += 1
        found = (base, self.cu.plane_copies(self.planes, device=self.device_ptr, host=base, to_host=self.to_host))
        self.plans[index] = found
        return found

    def copy(self, index: int, frame: Any, warming: bool, stream: Any) -> None:
        base, plan = self.plan(index, frame, warming)
        self.cu.run_plan(plan, device=self.device_ptr, host=base, to_host=self.to_host, stream=stream)

    def describe(self, side: str) -> str:
        how = "read-only " if not self.to_host else ""
        if self.failure is None:
            memory = f"{side}: slots page-locked ({how}cuMemHostRegister, {self.registered} slots)"
        elif self.registered:
            memory = (
                f"{side}: {self.registered} slots page-locked, then cuMemHostRegister failed "
                f"({self.failure}); the rest pageable"
            )
        else:
            memory = f"{side}: pageable (cuMemHostRegister {how.strip() or 'writable'} failed: {self.failure})"
        if self.late:
            memory += f", {self.late} slots first seen after warm-up"
        return memory


def _producer(results: Any, go: Any, stop: Any, key: str, size: str, settings: Settings, max_seconds: float) -> None:
    with reporting_errors(results):
        import cuframes

        width, height = FRAME_SIZES[size]
        nbytes = nv12_bytes(size)
        dtoh_us: list[float] = []
        with cuframes.Publisher(key, width, height, "nv12", slots=SLOTS, backend="host", dir=settings.work_dir) as pub:
            if pub.packed_size != nbytes:
                raise RuntimeError(f"cuframes packs {pub.packed_size} bytes, expected {nbytes}")
            # The session closes first: registrations are undone while the slots are still mapped.
            with CudaSession(settings.device) as cu:
                stream = cu.stream()
                frame_gpu = cu.alloc(nbytes)
                sources = [cu.alloc(nbytes) for _ in range(SOURCE_BUFFERS)]
                for index, ptr in enumerate(sources):
                    cu.fill(ptr, nbytes, fill_value(index))
                slots = _SlotCopies(cu, list(pub.planes), pub.slot_size, frame_gpu, to_host=True)
                results.put(("ready", None))
                if not go.wait(timeout=STARTUP_S):
                    raise TimeoutError("the consumer never became ready")

                def step(i: int) -> None:
                    source = i % SOURCE_BUFFERS
                    cu.copy_dtod(frame_gpu, sources[source], nbytes, stream)
                    cu.sync(stream)
                    stamp = monotonic_ns()  # the frame is complete on the producer's GPU
                    frame = pub.acquire(pts=stamp, metadata=bytes([fill_value(source)]))
                    try:
                        slots.copy(frame.index, frame, i < settings.warmup, stream)
                        cu.sync(stream)
                    except BaseException:
                        frame.abort()
                        raise
                    frame.publish()
                    if i >= settings.warmup:
                        dtoh_us.append((monotonic_ns() - stamp) / 1e3)

                published = paced(stop, settings.period_s, max_seconds, step)
                described = slots.describe("producer")
                copies = len(next(iter(slots.plans.values()))[1]) if slots.plans else 0
        results.put(
            (
                "producer-done",
                {"published": published, "memory": described, "copies": copies, "dtoh_us": percentiles(dtoh_us)},
            )
        )


def _consumer(results: Any, go: Any, stop: Any, key: str, size: str, settings: Settings, seconds: float) -> None:
    with reporting_errors(results):
        import cuframes

        nbytes = nv12_bytes(size)
        try:
            with cuframes.Subscriber(key, dir=settings.work_dir, connect_timeout=30) as sub:
                if sub.backend != "host":
                    raise RuntimeError(f"subscribed to a {sub.backend} stream, not host")
                with CudaSession(settings.device) as cu:
                    stream = cu.stream()
                    dst = cu.alloc(nbytes)
                    slots = _SlotCopies(cu, list(sub.planes), sub.slot_size, dst, to_host=False)
                    checked = [0]

                    copy_us: list[float] = []

                    def read_into(frame: Any, warming: bool) -> float:
                        held = monotonic_ns()
                        slots.copy(frame.slot, frame, warming, stream)
                        cu.sync(stream)
                        now = monotonic_ns()
                        if not warming:
                            copy_us.append((now - held) / 1e3)
                        if warming and checked[0] < CHECKED_FRAMES:
                            checked[0] += 1
                            got = cu.peek(dst + nbytes - 1)[0]
                            if got != frame.metadata[0]:
                                raise RuntimeError(
                                    f"the copied frame ends in {got}, the producer wrote {frame.metadata[0]}"
                                )
                        return (now - frame.pts) / 1e3

                    go.set()
                    result = collect_frames(sub, settings, seconds, read_into)
                    stop.set()
                    result["memory"] = slots.describe("consumer")
                    result["copy_us"] = percentiles(copy_us)
        finally:
            stop.set()
        results.put(("result", result))


def _latency(settings: Settings, size: str, seconds: float) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    go, stop = ctx.Event(), ctx.Event()
    key = f"bench-host-path-{size}-{os.getpid()}"
    with Children() as children:
        inbox = Inbox(children)
        try:
            children.start(_producer, go, stop, key, size, settings, STARTUP_S + seconds + 60)
            inbox.wait("ready", STARTUP_S)
            children.start(_consumer, go, stop, key, size, settings, seconds)
            result = inbox.wait("result", STARTUP_S + seconds + 30)
            produced = inbox.wait("producer-done", 60)
        finally:
            stop.set()
    exits = exit_report(children)
    note = (
        f"producer: stamp after its stream sync, DtoH into a cuframes host-backend slot ({SLOTS} memfd slots, "
        f"{'one linear copy' if produced['copies'] == 1 else str(produced['copies']) + ' 2D copies (pitched rows)'}"
        f"), sync, publish; consumer: sub.next(), HtoD into its own buffer, sync; {produced['memory']}; "
        f"{result['memory']}; {produced['published']} frames published in the run"
    )
    if "note" in result:
        note += f"; {result['note']}"
    note += (
        "; producer_us: the producer's stamp -> publish() returned (DtoH, sync, publish); "
        "copy_us: the consumer's HtoD + sync alone, from holding the frame"
    )
    if exits:
        note += f"; {exits}"
    return latency_row(
        "latency",
        "host_path",
        "read_into",
        size,
        result["samples"],
        missed=result["missed"],
        producer_us=produced["dtoh_us"],
        copy_us=result["copy_us"],
        note=note,
    )


def run(settings: Settings) -> list[dict[str, Any]]:
    budget = Budget(settings)
    rows = []
    sizes = list(settings.sizes)
    for done, size in enumerate(sizes):
        rows.append(_latency(settings, size, budget.share(len(sizes) - done, overhead_s=3.0)))
    return rows


if __name__ == "__main__":
    sys.exit(main(run))
