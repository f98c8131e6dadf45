"""What every benchmark section shares: settings, percentiles, frame sizes, child processes.

A section is a module with ``run(settings: Settings) -> list[dict]``. Each dict is a
*row*; rows share this shape so that the report can table and plot them together:

    {"section": "latency",          # which part of the issue it answers
     "method": "cuframes",          # cuframes | floor | legacy_ipc | host_path | torch_mp | nvdec ...
     "case": "borrow-sleep",        # what was measured (borrow-spin, read_into, attach, ...)
     "size": "1080p",               # 1080p | 4k | "-" where it does not apply
     "latency_us": {...},           # percentiles(...) of the samples, when it is a latency
     "value": 12.3, "unit": "fps",  # or a single figure (throughput, CPU %, cameras)
     "missed": 0, "torn": 0,        # where frames are counted
     "note": "..."}                 # anything a reader needs to interpret the row

The stamp point, the same for every method (issue 19, item 2): the producer takes a
CLOCK_MONOTONIC stamp when the frame is complete in its own *private* buffer (its source:
after the stream sync that finishes writing it there), before any method-specific step, and
the stamp travels with the frame (cuframes: the frame's pts). So cuframes' copy into its
slot and its publish(), legacy IPC's copy into the shared allocation, and the host path's
device-to-host copy are all inside the latency they report. Sources rotate over several
buffers so that L2 hits do not flatter copies.

Every latency row carries ``regime`` (Settings.regimes: back to back, and 25 fps) and
``skipped``: the frames published in the measured window that the consumer never saw (its
``missed`` count), printed beside every percentile; ``latency_us["n"]`` is the sample count.
A row with ``skipped`` as text instead was not measured, and says why.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import platform
import queue
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# Real frame sizes, NV12: a Y plane plus a half-height interleaved UV plane.
FRAME_SIZES: dict[str, tuple[int, int]] = {"1080p": (1920, 1080), "4k": (3840, 2160)}
SOURCE_BUFFERS = 4  # rotated: 4 x 12 MB of 4K frames is more than the H100's 50 MB L2


def nv12_bytes(size: str) -> int:
    width, height = FRAME_SIZES[size]
    return width * height * 3 // 2


@dataclasses.dataclass(frozen=True)
class Regime:
    """A publishing rate at which latencies are measured. Each regime has its own sample count,
    the same for every method measured in it (a row names its regime and carries its count)."""

    name: str  # "0.3ms" (back to back: CPUs and GPU stay warm) | "25fps" (a camera: 40 ms between frames)
    period_s: float
    frames: int
    warmup: int


@dataclasses.dataclass
class Settings:
    quick: bool = False
    # Latency samples per case after warm-up (the issue asks for at least 10,000).
    frames: int = 10_000
    warmup: int = 500
    sizes: tuple[str, ...] = ("1080p", "4k")
    # Publishing period for latency cases: subscribers go back to sleep between frames.
    period_s: float = 0.0003
    work_dir: str = "/tmp"
    device: int = 0
    # Section time budget in seconds (a guard, not a target): a section that would
    # run past it reports what it has.
    budget_s: float = 90.0
    # Frames per timed loop of the in-process CPU measurements (bench/harness/facade.py).
    loop_frames: int = 20_000
    # How long the idle-CPU cases of bench/harness/notify.py wait for nothing.
    idle_s: float = 10.0
    # Samples per case at a camera's rate (25 fps, 40 ms apart): 600 take 24 s a case, so the
    # 25 fps rows resolve p50 and p99 but not p99.9; every row says its count.
    frames_25fps: int = 600
    warmup_25fps: int = 25
    # The regimes to measure, by name (`run.py --regimes`); empty: all of them.
    regime_names: tuple[str, ...] = ()

    @property
    def regimes(self) -> tuple[Regime, ...]:
        """The rates every latency is measured at: back to back (period_s), then a camera's 25 fps
        (only those named in ``regime_names`` when it is set)."""
        return tuple(r for r in self.all_regimes if not self.regime_names or r.name in self.regime_names)

    @property
    def all_regimes(self) -> tuple[Regime, ...]:
        return (
            Regime(
                "0.3ms" if self.period_s == 0.0003 else f"{self.period_s * 1e3:g}ms",
                self.period_s,
                self.frames,
                self.warmup,
            ),
            Regime("25fps", 0.04, self.frames_25fps, self.warmup_25fps),
        )

    @classmethod
    def make(cls, quick: bool, work_dir: str, smoke: bool = False) -> Settings:
        if smoke:  # CI: each case runs, tiny counts, nothing judged
            return cls(
                frames=50,
                warmup=10,
                sizes=("1080p",),
                work_dir=work_dir,
                budget_s=60.0,
                loop_frames=200,
                idle_s=0.5,
                frames_25fps=5,
                warmup_25fps=1,
            )
        if quick:
            return cls(
                quick=True,
                frames=2_000,
                warmup=200,
                sizes=("1080p",),
                work_dir=work_dir,
                budget_s=30.0,
                idle_s=3.0,
                frames_25fps=100,
                warmup_25fps=5,
            )
        return cls(work_dir=work_dir)


def monotonic_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p99/p99.9/max/mean of samples (nearest rank), with their count."""
    if not samples:
        return {"n": 0}
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "p50": pick(0.50),
        "p99": pick(0.99),
        "p999": pick(0.999),
        "max": ordered[-1],
        "mean": sum(ordered) / len(ordered),
        "n": len(ordered),
    }


def row(section: str, method: str, case: str, size: str = "-", **fields: Any) -> dict[str, Any]:
    return {"section": section, "method": method, "case": case, "size": size, **fields}


def latency_row(
    section: str, method: str, case: str, size: str, samples_us: list[float], **fields: Any
) -> dict[str, Any]:
    """A row of percentiles. ``skipped`` (frames the consumer never saw) defaults to the row's
    ``missed`` when it has one, so that every latency is printed beside what it left out."""
    if "skipped" not in fields and isinstance(fields.get("missed"), int):
        fields["skipped"] = fields["missed"]
    return row(section, method, case, size, latency_us=percentiles(samples_us), **fields)


class PublishTimes:
    """The producer's side of each frame: publish() as its caller sees it (sync
    included), and the parts Publisher.last_timing reports, in microseconds.

    With ``synced_by`` (the stream the frame was written on), the caller synchronises that
    stream itself first and then times publish() alone: ``caller_us`` is then cuframes'
    overhead as the caller's clock sees it (nothing is left for publish() to wait for), plus
    the acquire() call when the caller timed it (``acquire_call_us``)."""

    def __init__(self) -> None:
        self.call_us: list[float] = []
        self.sync_us: list[float] = []
        self.overhead_us: list[float] = []
        self.acquire_us: list[float] = []
        self.wake_us: list[float] = []
        self.caller_us: list[float] = []

    def acquire(self, pub: Any, **options: Any) -> tuple[Any, float]:
        """``pub.acquire(**options)`` and how long the call took (µs), for publish(..., acquire_call_us=)."""
        start = time.perf_counter_ns()
        frame = pub.acquire(**options)
        return frame, (time.perf_counter_ns() - start) / 1e3

    def publish(self, pub: Any, frame: Any, synced_by: Any = None, acquire_call_us: float = 0.0) -> None:
        start = time.perf_counter_ns()
        if synced_by is not None:
            synced_by.synchronize()
            synced = time.perf_counter_ns()
            frame.publish()
            self.caller_us.append(acquire_call_us + (time.perf_counter_ns() - synced) / 1e3)
        else:
            frame.publish()
        self.call_us.append((time.perf_counter_ns() - start) / 1e3)
        timing = pub.last_timing
        self.sync_us.append(timing.sync_ns / 1e3)
        self.overhead_us.append(timing.overhead_ns / 1e3)
        self.acquire_us.append(timing.acquire_ns / 1e3)
        self.wake_us.append(timing.wake_ns / 1e3)


class ChildError(RuntimeError):
    """A benchmark child process failed, hung or died."""


class Children:
    """Child processes (spawned, so CUDA is never inherited across fork) that report
    through one queue. Leaving the ``with`` block kills any survivor."""

    def __init__(self) -> None:
        self._ctx = mp.get_context("spawn")
        self.results = self._ctx.Queue()
        self._procs: list[Any] = []

    def start(self, target: Callable[..., None], *args: Any) -> Any:
        """Runs ``target(results_queue, *args)`` in a new process."""
        proc = self._ctx.Process(target=target, args=(self.results, *args), daemon=True)
        proc.start()
        self._procs.append(proc)
        return proc

    def get(self, timeout: float, what: str = "a result") -> Any:
        """The next message; raises ChildError on timeout, or at once if every child died."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.results.get(timeout=min(0.5, max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                pass
            if time.monotonic() >= deadline:
                raise ChildError(f"no {what} within {timeout:.0f} s")
            if self._procs and all(not p.is_alive() for p in self._procs):
                try:
                    return self.results.get(timeout=0.5)
                except queue.Empty:
                    codes = [p.exitcode for p in self._procs]
                    raise ChildError(f"every child exited (codes {codes}) before sending {what}") from None

    def expect(self, tag: str, timeout: float) -> Any:
        """The payload of the next message, which must be tagged ``tag`` (children send
        ``("error", text)`` when they fail)."""
        kind, payload = self.get(timeout, what=f"{tag!r}")
        if kind != tag:
            raise ChildError(f"expected {tag!r} from a child, got {kind!r}: {payload}")
        return payload

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self._procs:
            proc.join(timeout=5 if exc[0] is None else 0.1)
        for proc in self._procs:
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
        self.results.close()
        self.results.join_thread()


@contextmanager
def reporting_errors(results: Any) -> Iterator[None]:
    """Wraps a child's body: any exception goes to the parent as ("error", text)."""
    try:
        yield
    except BaseException as error:  # the parent fails the section with this text
        results.put(("error", f"{type(error).__name__}: {error}"))


def device_meta() -> dict[str, str]:
    """Device name, driver and date for the results' stamp."""
    meta = {
        "host": platform.node(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": str(os.cpu_count()),
    }
    try:
        query = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
        name, driver = [part.strip() for part in query.stdout.splitlines()[0].split(",")]
        meta.update(device=name, driver=driver)
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        meta.update(device="no GPU", driver="-")
    return meta
