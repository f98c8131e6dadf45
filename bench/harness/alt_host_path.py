"""The host path: DtoH into shared memory in the producer, then HtoD in the consumer.

What a pipeline without GPU sharing does. The producer has each frame on its GPU (a DtoD copy from
one of SOURCE_BUFFERS sources, then a stream sync, then the CLOCK_MONOTONIC stamp), copies it DtoH
straight into the acquired slot of a cuframes *host-backend* Publisher (the producer's writable
memfd mapping) and publishes with the stamp as pts. The consumer (a cuframes Subscriber on the same
key) borrows the host frame and copies it HtoD into its own device buffer, then syncs.

Case ``read_into`` (section "latency"): stamp -> the frame is complete on the consumer's GPU. The
stamp is the one every method uses (issue 19, item 2): the frame is complete in the producer's
private device buffer; the producer's DtoH comes after it, so it is inside the latency. Each case
runs in each regime of ``alt_support.regimes_for`` (back to back at every size, 25 fps at 1080p
only) in one process pair; rows name their ``regime`` and ``variant`` ("plain").

The host path at its best, a pipelined variant (chunks, double-buffered) and a zero-copy variant
(mapped pinned memory), is bench/harness/alt_host_staged.py, run from this section.

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

from . import alt_host_staged
from .alt_support import collect_two_stamps, regime_seconds, regimes_for, two_stamp_rows
from .common import (
    FRAME_SIZES,
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
from .peers import STARTUP_S, Inbox, exit_report, monotonic_ns, paced
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


def _producer(
    results: Any, primed: Any, gos: list[Any], stops: list[Any], key: str, size: str, settings: Settings,
    regimes: list[Regime], max_seconds: float,
) -> None:  # fmt: skip
    with reporting_errors(results):
        import cuframes

        width, height = FRAME_SIZES[size]
        nbytes = nv12_bytes(size)
        producer_us: dict[str, Any] = {}
        published = 0
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
                primed.set()
                for go, stop, regime in zip(gos, stops, regimes):
                    if not go.wait(timeout=STARTUP_S):
                        raise TimeoutError("the consumer never became ready")
                    dtoh_us: list[float] = []

                    def step(i: int, regime: Regime = regime, dtoh_us: list[float] = dtoh_us) -> None:
                        source = i % SOURCE_BUFFERS
                        cu.copy_dtod(frame_gpu, sources[source], nbytes, stream)
                        cu.sync(stream)
                        stamp = monotonic_ns()  # the frame is complete in the producer's private buffer
                        frame = pub.acquire(pts=stamp, metadata=bytes([fill_value(source)]))
                        try:
                            slots.copy(frame.index, frame, i < regime.warmup, stream)
                            cu.sync(stream)
                        except BaseException:
                            frame.abort()
                            raise
                        frame.publish()
                        if i >= regime.warmup:
                            dtoh_us.append((monotonic_ns() - stamp) / 1e3)

                    published += paced(stop, regime.period_s, max_seconds, step)
                    producer_us[regime.name] = percentiles(dtoh_us)
                described = slots.describe("producer")
                copies = len(next(iter(slots.plans.values()))[1]) if slots.plans else 0
        results.put(
            (
                "producer-done",
                {"published": published, "memory": described, "copies": copies, "producer_us": producer_us},
            )
        )


def _consumer(
    results: Any, primed: Any, gos: list[Any], stops: list[Any], key: str, size: str, settings: Settings,
    regimes: list[Regime],
) -> None:  # fmt: skip
    with reporting_errors(results):
        import cuframes

        nbytes = nv12_bytes(size)
        passes: list[dict[str, Any]] = []
        try:
            with cuframes.Subscriber(key, dir=settings.work_dir, connect_timeout=30) as sub:
                if sub.backend != "host":
                    raise RuntimeError(f"subscribed to a {sub.backend} stream, not host")
                with CudaSession(settings.device) as cu:
                    stream = cu.stream()
                    dst = cu.alloc(nbytes)
                    slots = _SlotCopies(cu, list(sub.planes), sub.slot_size, dst, to_host=False)
                    checked = [0]

                    def read_into(frame: Any, warming: bool) -> tuple[int, int]:
                        held = monotonic_ns()
                        slots.copy(frame.slot, frame, warming, stream)
                        cu.sync(stream)
                        copied = monotonic_ns()
                        if warming and checked[0] < CHECKED_FRAMES:
                            checked[0] += 1
                            got = cu.peek(dst + nbytes - 1)[0]
                            if got != frame.metadata[0]:
                                raise RuntimeError(
                                    f"the copied frame ends in {got}, the producer wrote {frame.metadata[0]}"
                                )
                        return held, copied

                    if not primed.wait(timeout=STARTUP_S):
                        raise TimeoutError("the producer never became ready")
                    for go, stop, regime in zip(gos, stops, regimes):
                        go.set()
                        passes.append(collect_two_stamps(sub, regime, read_into))
                        stop.set()
                    memory = slots.describe("consumer")
        finally:
            for stop in stops:
                stop.set()
        results.put(("result", {"passes": passes, "memory": memory}))


def _latency(settings: Settings, size: str) -> list[dict[str, Any]]:
    regimes = regimes_for(settings, size)
    ctx = mp.get_context("spawn")
    primed = ctx.Event()
    gos = [ctx.Event() for _ in regimes]
    stops = [ctx.Event() for _ in regimes]
    key = f"bench-host-path-{size}-{os.getpid()}"
    seconds = sum(regime_seconds(r) for r in regimes)
    with Children() as children:
        inbox = Inbox(children)
        try:
            # Both start at once; the consumer waits for the publisher (connect_timeout), then ``primed``.
            children.start(_producer, primed, gos, stops, key, size, settings, regimes, STARTUP_S + seconds + 60)
            children.start(_consumer, primed, gos, stops, key, size, settings, regimes)
            inbox.wait("ready", STARTUP_S)
            result = inbox.wait("result", STARTUP_S + seconds + 30)
            produced = inbox.wait("producer-done", 60)
        finally:
            for stop in stops:
                stop.set()
    exits = exit_report(children)
    copies = "one linear copy" if produced["copies"] == 1 else f"{produced['copies']} 2D copies (pitched rows)"
    note = (
        f"producer: stamp when the frame is complete in its private device buffer, DtoH into a cuframes "
        f"host-backend slot ({SLOTS} memfd slots, {copies}), sync, publish; consumer: sub.next(), HtoD into its "
        f"own buffer, sync; the DtoH is inside the latency; {produced['memory']}; {result['memory']}; "
        f"{produced['published']} frames published in the run; producer_us: the producer's stamp -> publish() "
        "returned (DtoH, sync, publish)"
    )
    if exits:
        note += f"; {exits}"
    rows = two_stamp_rows("host_path", size, result["passes"], {"read_into": "read_into"}, note, variant="plain")
    for out in rows:
        out["producer_us"] = produced["producer_us"].get(out["regime"], {"n": 0})
    return rows


def run(settings: Settings) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for size in settings.sizes:
        try:
            rows += _latency(settings, size)
        except Exception as error:  # noqa: BLE001 (one variant failing leaves the others' rows)
            rows.append(row("latency", "host_path", "read_into", size, error=f"{type(error).__name__}: {error}"))
    rows += alt_host_staged.run(settings)
    return rows


if __name__ == "__main__":
    sys.exit(main(run))
