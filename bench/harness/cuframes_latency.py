"""cuframes' own latency, per frame size and regime: publish -> a subscriber in another process.

Cases (each its own subscriber process, one case at a time, so they never compete):

- ``borrow-sleep``:  the subscriber sleeps on the futex between frames (the default);
- ``borrow-spin``:   it spins on the shared sequence (``spin=None``);
- ``..., core``:     the same through ``_core.Subscriber.next`` (the C++ core's own
                     call, without the Python facade's Frame object): what the facade adds;
- ``read_into``:     sleeping, then a packed device-to-device copy into its own buffer,
                     complete (synced) on return;
- ``read_into-spin``: the same, spinning;
- ``borrow+first-kernel``: sleeping, then the smallest GPU work on the frame (a 16-byte
                     elementwise kernel reading the frame into the subscriber's own buffer)
                     and a sync: the same work on the consumer's GPU that the host path pays.
                     Borrowing does not avoid the GPU's switch from the producer's context to
                     the subscriber's; it moves it to this first kernel;
- ``split``:         ``next()`` then ``copy_to()``, timed apart: where read_into's time goes
                     (the wake-up, or the first copy after it);
- ``e2e ..., stream-ordered``: the same with ``stream_ordered=True`` (publish() queues the
                     completion and returns): against borrow-sleep and read_into, which use
                     the default publish (waits in cuStreamSynchronize), what each mode buys.

Stamp point (the one every method uses, see common.py): the producer does a frame's work first,
as every peer's producer does (a copy of one of the rotating sources into its private buffer, and
a sync), then stamps CLOCK_MONOTONIC: the frame is complete in its private buffer. Then it
acquires a slot and copies the frame in; the stamp travels in the frame's pts. So the copy into
the slot and publish() are inside every latency here, and the GPU's switch back from a
subscriber's context, which the producer's first GPU work after a subscriber's copy pays, falls
on the frame's work, outside it, as for the peers (a real producer decodes or converts each frame
on the GPU before it publishes). ``over_sync_us`` beside it is the same frame timed
from cuframes' own stamp (``timestamp_ns``, taken after publish()'s sync): the issue's
targets "over the sync" are judged on that.

Regimes (Settings.regimes): back to back (0.3 ms) every case above; at 25 fps (40 ms, CPUs
idle between frames) borrow-sleep, read_into and borrow+first-kernel at every size, and
borrow-spin at the first size only: 600 frames a case take 24 s, which keeps the full run's
section near 6 minutes. Every row names its regime; the sample count is the regime's.

The producer (this process) synchronises its stream itself, then times acquire() and
publish() with its own clock (``overhead, caller-timed``), and records
``Publisher.last_timing`` (acquire + ring update + wake-up), for borrow-sleep in every regime
and size: cuframes' overhead over the sync as its caller sees it.
"""

from __future__ import annotations

import os
import time
from typing import Any

from .common import (
    FRAME_SIZES,
    SOURCE_BUFFERS,
    Children,
    PublishTimes,
    Regime,
    Settings,
    latency_row,
    percentiles,
    reporting_errors,
    row,
)

CASES = (
    "borrow-sleep",
    "borrow-spin",
    "borrow-sleep, core",
    "borrow-spin, core",
    "read_into",
    "read_into-spin",
    "borrow+first-kernel",
    "split",
    "e2e borrow, stream-ordered",
    "e2e read_into, stream-ordered",
)
MAIN_CASES = ("borrow-sleep", "borrow-spin", "read_into", "read_into-spin", "borrow+first-kernel")
# At 25 fps (24 s a case): these at every size, borrow-spin at the first size too.
PACED_CASES = ("borrow-sleep", "read_into", "borrow+first-kernel")
KERNEL_BYTES = 16  # what borrow+first-kernel reads from the frame


def plan(settings: Settings) -> list[tuple[Regime, str, str]]:
    """(regime, size, case) in run order."""
    out: list[tuple[Regime, str, str]] = []
    for number, regime in enumerate(settings.regimes):
        for index, size in enumerate(settings.sizes):
            if number == 0:  # the diagnostic cases (core, split, e2e) at the first size only
                cases: tuple[str, ...] = CASES if index == 0 else MAIN_CASES
            else:
                cases = PACED_CASES + (("borrow-spin",) if index == 0 else ())
            out += [(regime, size, case) for case in cases]
    return out


def subscriber_main(results: Any, key: str, directory: str, case: str, frames: int) -> None:
    """Child: takes `frames` frames in `case`, sends their latencies (µs) from the frame's pts
    (the producer's stamp, frame complete in its private buffer) and from its timestamp_ns
    (cuframes' stamp after publish()'s sync)."""
    with reporting_errors(results):
        import cuframes

        spin = None if "spin" in case else 0.0
        core = case.endswith(", core")
        kernel = case == "borrow+first-kernel"
        with cuframes.Subscriber(key, dir=directory, connect_timeout=30, spin=spin) as sub:
            dst = stream = None
            if "read_into" in case or case == "split" or kernel:
                import torch

                dst = torch.empty(sub.packed_size, dtype=torch.uint8, device=f"cuda:{sub.device}")
                stream = torch.cuda.Stream(device=sub.device)
                torch.cuda.set_stream(stream)
            clock = time.clock_gettime_ns
            monotonic = time.CLOCK_MONOTONIC
            latencies: list[float] = []
            over_sync: list[float] = []
            copies: list[float] = []
            missed = 0
            results.put(("ready", None))
            while len(latencies) < frames:
                if case == "split":
                    frame = sub.next(timeout=10)
                    held = clock(monotonic)
                    frame.copy_to(dst, stream=stream)
                    copied = clock(monotonic)
                    latencies.append((held - frame.pts) / 1e3)
                    copies.append((copied - held) / 1e3)
                    missed += frame.missed
                    frame.release()
                elif core:
                    lease = sub._core.next(10)
                    now = clock(monotonic)
                    latencies.append((now - lease.pts) / 1e3)
                    over_sync.append((now - lease.timestamp_ns) / 1e3)
                    missed += lease.missed
                    lease.release()
                elif kernel:
                    frame = sub.next(timeout=10)
                    # As a user would: a DLPack view of the luma plane (read-only mapping; torch
                    # takes the view, the kernel only reads it), then a kernel on its first bytes.
                    luma = torch.from_dlpack(frame.y)
                    torch.add(luma[0, :KERNEL_BYTES], 1, out=dst[:KERNEL_BYTES])
                    stream.synchronize()
                    now = clock(monotonic)
                    latencies.append((now - frame.pts) / 1e3)
                    over_sync.append((now - frame.timestamp_ns) / 1e3)
                    missed += frame.missed
                    frame.release()
                elif dst is None:
                    frame = sub.next(timeout=10)
                    now = clock(monotonic)
                    latencies.append((now - frame.pts) / 1e3)
                    over_sync.append((now - frame.timestamp_ns) / 1e3)
                    missed += frame.missed
                    frame.release()
                else:
                    info = sub.read_into(dst, stream=stream, timeout=10)
                    now = clock(monotonic)
                    latencies.append((now - info.pts) / 1e3)
                    over_sync.append((now - info.timestamp_ns) / 1e3)
                    missed += info.missed
            payload = {"latencies": latencies, "over_sync": over_sync, "copies": copies, "missed": missed}
            results.put(("done", payload))


def run_case(
    settings: Settings, size: str, case: str, torch: Any, regime: Regime | None = None
) -> list[dict[str, Any]]:
    import cuframes

    regime = regime or settings.regimes[0]
    width, height = FRAME_SIZES[size]
    key = f"lat-{size}-{CASES.index(case)}-{regime.name}-{os.getpid()}"
    wanted = regime.frames + regime.warmup
    stream_ordered = case.endswith("stream-ordered")
    with (
        cuframes.Publisher(
            key,
            width,
            height,
            "nv12",
            backend="cuda",
            dir=settings.work_dir,
            slots=8,
            max_subscribers=1,
            stream_ordered=stream_ordered,
        ) as pub,
        Children() as children,
    ):
        sources = [
            torch.randint(0, 255, (pub.packed_size,), dtype=torch.uint8, device=f"cuda:{pub.device}")
            for _ in range(SOURCE_BUFFERS)
        ]
        private = torch.empty_like(sources[0])
        stream = torch.cuda.Stream(device=pub.device)
        stream.synchronize()  # the sources are complete
        children.start(subscriber_main, key, settings.work_dir, case, wanted)
        children.expect("ready", timeout=60)
        times = PublishTimes()
        outcome = None
        seconds = max(settings.budget_s, 3 * wanted * regime.period_s + 30)
        deadline = time.monotonic() + seconds
        i = 0
        while outcome is None:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{case} {size} {regime.name}: the subscriber took fewer than {wanted} frames in {seconds:.0f} s"
                )
            # The frame's work, then the stamp: frame i is complete in the producer's private buffer.
            with torch.cuda.stream(stream):
                private.copy_(sources[i % SOURCE_BUFFERS], non_blocking=True)
            stream.synchronize()
            stamp = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
            frame, acquire_us = times.acquire(pub, pts=stamp, stream=stream)
            frame.copy_from(private, stream=stream)
            times.publish(pub, frame, synced_by=None if stream_ordered else stream, acquire_call_us=acquire_us)
            i += 1
            time.sleep(regime.period_s)  # the subscriber goes back to waiting between frames
            if not children.results.empty():
                outcome = children.results.get()
        kind, payload = outcome
        if kind != "done":
            raise RuntimeError(f"{case} {size} {regime.name}: subscriber failed: {payload}")
    skip = regime.warmup
    tag = {"regime": regime.name}
    if case == "split":
        return [
            latency_row("diagnosis", "cuframes", "split: publish -> held", size, payload["latencies"][skip:], **tag),
            latency_row("diagnosis", "cuframes", "split: copy_to after wake", size, payload["copies"][skip:], **tag),
        ]
    counts = {"missed": payload["missed"], "published": i, **tag}
    if stream_ordered:
        return [
            latency_row("publish-modes", "cuframes", case, size, payload["latencies"][skip:], **counts),
            latency_row(
                "publish-modes",
                "cuframes",
                f"publish() call, stream-ordered, {case.split()[1]}",
                size,
                times.call_us[skip:],
                **tag,
            ),
        ]
    rows = [
        latency_row(
            "latency",
            "cuframes",
            case,
            size,
            payload["latencies"][skip:],
            over_sync_us=percentiles(payload["over_sync"][skip:]),
            **counts,
        )
    ]
    if case == "borrow-sleep":
        # The producer's side, with one sleeping subscriber: publish() as the caller sees it
        # (its own stream sync included), acquire() + publish() timed by the caller after that
        # sync, and what cuframes says it adds on top of the sync.
        rows += [
            latency_row("producer", "cuframes", "publish() incl. sync", size, times.call_us[skip:], **tag),
            latency_row(
                "producer",
                "cuframes",
                "overhead, caller-timed",
                size,
                times.caller_us[skip:],
                subscribers=1,
                note="acquire() + publish() on the caller's clock, after the caller's own stream sync",
                **tag,
            ),
            latency_row(
                "producer",
                "cuframes",
                "overhead (acquire+ring+wake)",
                size,
                times.overhead_us[skip:],
                subscribers=1,
                note="Publisher.last_timing",
                **tag,
            ),
            latency_row("producer", "cuframes", "wake", size, times.wake_us[skip:], subscribers=1, **tag),
        ]
    return rows


def run(settings: Settings) -> list[dict[str, Any]]:
    import torch

    rows: list[dict[str, Any]] = []
    for regime, size, case in plan(settings):
        try:
            rows += run_case(settings, size, case, torch, regime)
        except Exception as error:  # one broken case must not hide the others
            rows.append(
                row("latency", "cuframes", case, size, regime=regime.name, error=f"{type(error).__name__}: {error}")
            )
    return rows


if __name__ == "__main__":
    from .standalone import main

    main(run)
