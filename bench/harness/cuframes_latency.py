"""cuframes' own latency, per frame size: publish -> a subscriber in another process.

Cases (each its own subscriber process, one case at a time, so they never compete):

- ``borrow-sleep``:  the subscriber sleeps on the futex between frames (the default);
- ``borrow-spin``:   it spins on the shared sequence (``spin=None``);
- ``..., core``:     the same through ``_core.Subscriber.next`` (the C++ core's own
                     call, without the Python facade's Frame object): what the facade adds;
- ``read_into``:     sleeping, then a packed device-to-device copy into its own buffer,
                     complete (synced) on return;
- ``read_into-spin``: the same, spinning;
- ``split``:         ``next()`` then ``copy_to()``, timed apart: where read_into's time goes
                     (the wake-up, or the first copy after it);
- ``e2e ...``:       from before the producer queues the frame's copy to the subscriber
                     holding it (or its copy), for the default publish (which waits in
                     cuStreamSynchronize) and for ``stream_ordered=True`` (which queues the
                     completion and returns): what each publish mode buys. The start stamp
                     travels in the frame's pts.

Latency runs from the CLOCK_MONOTONIC stamp the producer takes right after its
``cuStreamSynchronize`` (the frame's timestamp) to the subscriber holding the frame
(borrow) or having the copy complete (read_into): the issue's "on top of the
producer's sync". The producer (this process) also records ``Publisher.last_timing``
for every frame: acquire + ring update + wake-up, i.e. its overhead over the sync.
"""

from __future__ import annotations

import os
import time
from typing import Any

from .common import FRAME_SIZES, SOURCE_BUFFERS, Children, PublishTimes, Settings, latency_row, reporting_errors, row

CASES = (
    "borrow-sleep",
    "borrow-spin",
    "borrow-sleep, core",
    "borrow-spin, core",
    "read_into",
    "read_into-spin",
    "split",
    "e2e borrow, sync publish",
    "e2e borrow, stream-ordered",
    "e2e read_into, sync publish",
    "e2e read_into, stream-ordered",
)
MAIN_CASES = ("borrow-sleep", "borrow-spin", "read_into", "read_into-spin")


def subscriber_main(results: Any, key: str, directory: str, case: str, frames: int) -> None:
    """Child: takes `frames` frames in `case`, sends their latencies (µs)."""
    with reporting_errors(results):
        import cuframes

        spin = None if "spin" in case else 0.0
        core = case.endswith(", core")
        e2e = case.startswith("e2e")
        with cuframes.Subscriber(key, dir=directory, connect_timeout=30, spin=spin) as sub:
            dst = stream = None
            if "read_into" in case or case == "split":
                import torch

                dst = torch.empty(sub.packed_size, dtype=torch.uint8, device=f"cuda:{sub.device}")
                stream = torch.cuda.Stream(device=sub.device)
            clock = time.clock_gettime_ns
            monotonic = time.CLOCK_MONOTONIC
            latencies: list[float] = []
            copies: list[float] = []
            missed = 0
            results.put(("ready", None))
            while len(latencies) < frames:
                if case == "split":
                    frame = sub.next(timeout=10)
                    held = clock(monotonic)
                    frame.copy_to(dst, stream=stream)
                    copied = clock(monotonic)
                    latencies.append((held - frame.timestamp_ns) / 1e3)
                    copies.append((copied - held) / 1e3)
                    missed += frame.missed
                    frame.release()
                elif core:
                    lease = sub._core.next(10)
                    now = clock(monotonic)
                    latencies.append((now - lease.timestamp_ns) / 1e3)
                    missed += lease.missed
                    lease.release()
                elif dst is None:
                    frame = sub.next(timeout=10)
                    now = clock(monotonic)
                    latencies.append((now - (frame.pts if e2e else frame.timestamp_ns)) / 1e3)
                    missed += frame.missed
                    frame.release()
                else:
                    info = sub.read_into(dst, stream=stream, timeout=10)
                    now = clock(monotonic)
                    latencies.append((now - (info.pts if e2e else info.timestamp_ns)) / 1e3)
                    missed += info.missed
            results.put(("done", {"latencies": latencies, "copies": copies, "missed": missed}))


def run_case(settings: Settings, size: str, case: str, torch: Any) -> list[dict[str, Any]]:
    import cuframes

    width, height = FRAME_SIZES[size]
    key = f"lat-{size}-{CASES.index(case)}-{os.getpid()}"
    wanted = settings.frames + settings.warmup
    e2e = case.startswith("e2e")
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
            stream_ordered=case.endswith("stream-ordered"),
        ) as pub,
        Children() as children,
    ):
        sources = [
            torch.randint(0, 255, (pub.packed_size,), dtype=torch.uint8, device=f"cuda:{pub.device}")
            for _ in range(SOURCE_BUFFERS)
        ]
        stream = torch.cuda.Stream(device=pub.device)
        children.start(subscriber_main, key, settings.work_dir, case, wanted)
        children.expect("ready", timeout=60)
        times = PublishTimes()
        outcome = None
        deadline = time.monotonic() + settings.budget_s
        i = 0
        while outcome is None:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{case} {size}: the subscriber took fewer than {wanted} frames in {settings.budget_s:.0f} s"
                )
            frame = pub.acquire(pts=time.clock_gettime_ns(time.CLOCK_MONOTONIC) if e2e else i, stream=stream)
            frame.copy_from(sources[i % SOURCE_BUFFERS], stream=stream)
            times.publish(pub, frame)
            i += 1
            time.sleep(settings.period_s)  # the subscriber goes back to waiting between frames
            if not children.results.empty():
                outcome = children.results.get()
        kind, payload = outcome
        if kind != "done":
            raise RuntimeError(f"{case} {size}: subscriber failed: {payload}")
    skip = settings.warmup
    if case == "split":
        return [
            latency_row("diagnosis", "cuframes", "split: publish -> held", size, payload["latencies"][skip:]),
            latency_row("diagnosis", "cuframes", "split: copy_to after wake", size, payload["copies"][skip:]),
        ]
    if e2e:
        return [
            latency_row(
                "publish-modes",
                "cuframes",
                case,
                size,
                payload["latencies"][skip:],
                missed=payload["missed"],
                published=i,
            ),
            latency_row(
                "publish-modes",
                "cuframes",
                f"publish() call, {case.split(', ')[1]}, {case.split()[1]}",
                size,
                times.call_us[skip:],
            ),
        ]
    rows = [
        latency_row(
            "latency", "cuframes", case, size, payload["latencies"][skip:], missed=payload["missed"], published=i
        )
    ]
    if case == "borrow-sleep":
        # The producer's side, with one sleeping subscriber: publish() as the caller sees it
        # (sync included), the sync alone, and what cuframes adds on top of it.
        rows += [
            latency_row("producer", "cuframes", "publish() incl. sync", size, times.call_us[skip:]),
            latency_row("producer", "cuframes", "sync", size, times.sync_us[skip:]),
            latency_row(
                "producer", "cuframes", "overhead (acquire+ring+wake)", size, times.overhead_us[skip:], subscribers=1
            ),
            latency_row("producer", "cuframes", "wake", size, times.wake_us[skip:], subscribers=1),
        ]
    return rows


def run(settings: Settings) -> list[dict[str, Any]]:
    import torch

    rows: list[dict[str, Any]] = []
    for index, size in enumerate(settings.sizes):
        # The diagnostic cases (core, split, e2e) at the first size only: they explain, the others measure.
        for case in CASES if index == 0 else MAIN_CASES:
            try:
                rows += run_case(settings, size, case, torch)
            except Exception as error:  # one broken case must not hide the others
                rows.append(row("latency", "cuframes", case, size, error=f"{type(error).__name__}: {error}"))
    return rows


if __name__ == "__main__":
    from .standalone import main

    main(run)
