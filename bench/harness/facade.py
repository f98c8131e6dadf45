"""What the Python facade costs over the core, side by side in one run, on any machine.

Two measurements, on the host backend (and on cuda too when a GPU is usable):

- **Spinning borrow, three layers.** publish -> a spinning subscriber in another
  process holding the frame, through the C++ API (bench/cpp/latency_probe.cpp, built
  by core_probe), through ``_core.Subscriber.next`` and through ``cuframes.Subscriber``.
  64x64 gray8 frames every ``period_s``: the borrow does not depend on the frame size.
  The facade's goal: p50 within 1.3 x the C++ probe's.
- **CPU per frame, in one process.** A publisher and a subscriber in this process:
  publish, take and release a frame, per layer, best of five runs of ``loop_frames``.
  The goal: ``for frame in sub`` at most 1 µs over ``_core``. These are CPU costs, the
  ones the spinning borrow pays after the frame arrives, without the cross-core wake.

CI smoke-runs this section (tiny counts) to keep it working; speed is judged only by
the verdicts of a real run (bench/run.py), never in tests.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from typing import Any

from .common import Children, Settings, latency_row, reporting_errors, row

LAYERS = ("_core", "facade")
SIZE = "64x64"


def subscriber_main(results: Any, key: str, directory: str, layer: str, frames: int) -> None:
    """Child: spins for `frames` frames through `layer`, sends their latencies (µs)."""
    with reporting_errors(results):
        import cuframes

        clock = time.clock_gettime_ns
        monotonic = time.CLOCK_MONOTONIC
        latencies: list[float] = []
        missed = 0
        with cuframes.Subscriber(key, dir=directory, connect_timeout=30, spin=None) as sub:
            results.put(("ready", None))
            if layer == "_core":
                core = sub._core
                while len(latencies) < frames:
                    lease = core.next(10)
                    now = clock(monotonic)
                    latencies.append((now - lease.timestamp_ns) / 1e3)
                    missed += lease.missed
                    lease.release()
            else:
                while len(latencies) < frames:
                    frame = sub.next(timeout=10)
                    now = clock(monotonic)
                    latencies.append((now - frame.timestamp_ns) / 1e3)
                    missed += frame.missed
                    frame.release()
        results.put(("done", {"latencies": latencies, "missed": missed}))


def spin_case(settings: Settings, backend: str, layer: str) -> dict[str, Any]:
    import cuframes

    key = f"facade-{backend}-{layer.strip('_')}-{os.getpid()}"
    wanted = settings.frames + settings.warmup
    with (
        cuframes.Publisher(
            key, 64, 64, "gray8", backend=backend, dir=settings.work_dir, slots=8, max_subscribers=1
        ) as pub,
        Children() as children,
    ):
        children.start(subscriber_main, key, settings.work_dir, layer, wanted)
        children.expect("ready", timeout=60)
        deadline = time.monotonic() + settings.budget_s
        published = 0
        outcome = None
        while outcome is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the subscriber took fewer than {wanted} frames in {settings.budget_s:.0f} s")
            pub.acquire(pts=published).publish()
            published += 1
            time.sleep(settings.period_s)
            if not children.results.empty():
                outcome = children.results.get()
        kind, payload = outcome
        if kind != "done":
            raise RuntimeError(f"subscriber failed: {payload}")
    return latency_row(
        "facade",
        layer,
        f"borrow-spin, {backend}",
        SIZE,
        payload["latencies"][settings.warmup :],
        missed=payload["missed"],
        published=published,
        backend=backend,
    )


def probe_case(settings: Settings, backend: str, binary: str) -> dict[str, Any]:
    done = subprocess.run(
        [binary, backend, "-1", str(settings.frames), str(settings.warmup), str(int(settings.period_s * 1e6))],
        capture_output=True,
        text=True,
        timeout=settings.budget_s + 60,
        check=True,
    )
    p50, p99, p999, worst, missed = done.stdout.split()
    return row(
        "facade",
        "c++",
        f"borrow-spin, {backend}",
        SIZE,
        latency_us={"p50": float(p50), "p99": float(p99), "p999": float(p999), "max": float(worst)},
        n=settings.frames,
        missed=int(missed),
        backend=backend,
        note="bench/cpp/latency_probe.cpp: C++ publisher and subscriber",
    )


def cpu_per_frame(settings: Settings) -> list[dict[str, Any]]:
    """publish + take + release in one process, per layer: best of five runs, ns per frame."""
    import cuframes

    n = max(200, settings.loop_frames)
    results: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory(prefix="cuframes-facade-") as directory,
        cuframes.Publisher("cpu", 64, 64, "gray8", backend="host", dir=directory, slots=10) as pub,
        cuframes.Subscriber("cpu", dir=directory) as sub,
    ):
        core = sub._core
        frames = iter(sub)

        def publish_only() -> None:
            pub.acquire().publish()

        def through_core() -> None:
            pub.acquire().publish()
            core.next(0).release()

        def through_next() -> None:
            pub.acquire().publish()
            sub.next(0).release()

        def through_iteration() -> None:
            pub.acquire().publish()
            next(frames)  # the loop releases the previous frame

        cases = {
            "publish only": publish_only,
            "_core next+release": through_core,
            "facade next+release": through_next,
            "facade for-loop": through_iteration,
        }
        for name, step in cases.items():
            for _ in range(n // 10):
                step()
            best = float("inf")
            for _ in range(5):
                start = time.perf_counter_ns()
                for _ in range(n):
                    step()
                best = min(best, (time.perf_counter_ns() - start) / n)
            results[name] = best
    base = results["publish only"]
    rows = [
        row("facade", name, "cpu per frame, host", "-", value=round(value - base, 1), unit="ns", frames=n)
        for name, value in results.items()
        if name != "publish only"
    ]
    rows.append(row("facade", "publish only", "cpu per frame, host", "-", value=round(base, 1), unit="ns", frames=n))
    return rows


def run(settings: Settings) -> list[dict[str, Any]]:
    import cuframes

    from .core_probe import build

    rows: list[dict[str, Any]] = []
    backends = ["host"] + (["cuda"] if cuframes.cuda_available() else [])
    with tempfile.TemporaryDirectory(prefix="cuframes-facade-probe-") as build_dir:
        try:
            binary: str | None = build(build_dir)
        except (subprocess.CalledProcessError, RuntimeError, OSError) as error:
            detail = getattr(error, "stderr", "") or ""
            binary = None
            failed = f"building the probe failed: {error} {detail[-500:]}"
            rows.append(row("facade", "c++", "probe", SIZE, error=failed))
        for backend in backends:
            if binary is not None:
                try:
                    rows.append(probe_case(settings, backend, binary))
                except (subprocess.SubprocessError, ValueError, OSError) as error:
                    detail = getattr(error, "stderr", "") or ""
                    rows.append(row("facade", "c++", f"borrow-spin, {backend}", SIZE, error=f"{error} {detail[-500:]}"))
            for layer in LAYERS:
                try:
                    rows.append(spin_case(settings, backend, layer))
                except Exception as error:  # one broken case must not hide the others
                    rows.append(
                        row("facade", layer, f"borrow-spin, {backend}", SIZE, error=f"{type(error).__name__}: {error}")
                    )
    try:
        rows += cpu_per_frame(settings)
    except Exception as error:
        rows.append(row("facade", "facade", "cpu per frame, host", "-", error=f"{type(error).__name__}: {error}"))
    return rows


if __name__ == "__main__":
    from .standalone import main

    main(run)
