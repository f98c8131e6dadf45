"""What notify subscribers (asyncio, epoll: ``notify=True``) cost, on any machine.

- **The producer's overhead** with 0, 1 and 16 notify subscribers (each in its own
  process, waiting in select on its descriptor and taking each frame with try_next),
  and with 16 ordinary sleeping subscribers for comparison: ``acquire()`` + ``publish()``
  as the caller times it, 64x64 gray8 frames every ``period_s`` and at 25 fps. With
  more than one subscriber the notifications are written by the producer's waker
  thread, so the caller's time stays flat; the cost moves to that thread.
- **Idle CPU** of a subscriber waiting for frames that do not come: an asyncio one
  (``cuframes.aio``) against a blocking one asleep in ``next()``, as a share of one core
  over ``idle_s`` seconds (from the children's own CPU clocks).
"""

from __future__ import annotations

import os
import time
from typing import Any

from .common import Children, Settings, latency_row, reporting_errors, row

FPS25_S = 0.040


def waiter_main(results: Any, key: str, directory: str, mode: str) -> None:
    """Child: takes frames until the producer closes, waiting as `mode` says."""
    with reporting_errors(results):
        import select

        import cuframes

        if mode == "notify":
            with cuframes.Subscriber(key, dir=directory, connect_timeout=30, notify=True) as sub:
                results.put(("ready", None))
                fd = sub.fileno()
                try:
                    while True:
                        select.select([fd], [], [])
                        while (frame := sub.try_next()) is not None:
                            frame.release()
                except cuframes.DisconnectedError:
                    pass
        else:
            with cuframes.Subscriber(key, dir=directory, connect_timeout=30) as sub:
                results.put(("ready", None))
                for _ in sub:
                    pass
        results.put(("done", None))


def overhead_case(settings: Settings, mode: str, count: int, period_s: float, frames: int) -> dict[str, Any]:
    import cuframes

    key = f"notify-{mode}-{count}-{int(period_s * 1e6)}-{os.getpid()}"
    with (
        cuframes.Publisher(
            key,
            64,
            64,
            "gray8",
            backend="host",
            dir=settings.work_dir,
            slots=2 * max(count, 4) + 2,
            max_subscribers=max(count, 1),
        ) as pub,
        Children() as children,
    ):
        for _ in range(count):
            children.start(waiter_main, key, settings.work_dir, mode)
        for _ in range(count):
            children.expect("ready", timeout=60)
        samples: list[float] = []
        deadline = time.monotonic() + settings.budget_s
        for _ in range(frames + settings.warmup):
            if time.monotonic() > deadline:
                break
            start = time.perf_counter_ns()
            pub.acquire().publish()
            samples.append((time.perf_counter_ns() - start) / 1e3)
            time.sleep(period_s)
        pub.close()
        for _ in range(count):
            children.expect("done", timeout=60)
    rate = "25 fps" if period_s == FPS25_S else f"every {period_s * 1e3:g} ms"
    who = "no subscriber" if count == 0 else f"{count} {mode} subscriber{'s' if count > 1 else ''}"
    return latency_row(
        "notify", "cuframes", f"acquire+publish, {who}, {rate}", "64x64", samples[settings.warmup :], subscribers=count
    )


def idle_main(results: Any, key: str, directory: str, mode: str, seconds: float) -> None:
    """Child: waits `seconds` for a frame that never comes; reports its CPU seconds."""
    with reporting_errors(results):
        import asyncio

        import cuframes
        import cuframes.aio

        if mode == "asyncio":

            async def wait() -> None:
                async with cuframes.aio.Subscriber(key, dir=directory, connect_timeout=30) as sub:
                    results.put(("ready", None))
                    start = time.process_time()
                    try:
                        await sub.next(timeout=seconds)
                    except cuframes.TimeoutError:
                        pass
                    results.put(("done", time.process_time() - start))

            asyncio.run(wait())
        else:
            with cuframes.Subscriber(key, dir=directory, connect_timeout=30) as sub:
                results.put(("ready", None))
                start = time.process_time()
                try:
                    sub.next(timeout=seconds)
                except cuframes.TimeoutError:
                    pass
                results.put(("done", time.process_time() - start))


def idle_case(settings: Settings, mode: str) -> dict[str, Any]:
    import cuframes

    key = f"notify-idle-{mode}-{os.getpid()}"
    seconds = settings.idle_s
    with (
        cuframes.Publisher(key, 64, 64, "gray8", backend="host", dir=settings.work_dir) as _pub,
        Children() as children,
    ):
        children.start(idle_main, key, settings.work_dir, mode, seconds)
        children.expect("ready", timeout=60)
        cpu_s = children.expect("done", timeout=seconds + 60)
    return row(
        "notify",
        "cuframes",
        f"idle CPU, {mode} subscriber",
        "-",
        value=round(100 * cpu_s / seconds, 4),
        unit="% of a core",
        seconds=seconds,
    )


def run(settings: Settings) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    # 25 fps runs are long by nature: fewer frames there.
    fps25_frames = max(10, min(settings.frames, 250))
    cases = [("notify", 0), ("notify", 1), ("notify", 16), ("plain", 16)]
    for period_s, frames in ((settings.period_s, settings.frames), (FPS25_S, fps25_frames)):
        for mode, count in cases:
            try:
                rows.append(overhead_case(settings, mode, count, period_s, frames))
            except Exception as error:  # one broken case must not hide the others
                failed = f"{type(error).__name__}: {error}"
                rows.append(row("notify", "cuframes", f"{mode} x{count}", "64x64", error=failed))
    for mode in ("asyncio", "blocking"):
        try:
            rows.append(idle_case(settings, mode))
        except Exception as error:
            rows.append(row("notify", "cuframes", f"idle CPU, {mode}", "-", error=f"{type(error).__name__}: {error}"))
    return rows


if __name__ == "__main__":
    from .standalone import main

    main(run)
