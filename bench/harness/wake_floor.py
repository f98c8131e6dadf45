"""The floor under a sleeping subscriber: one process wakes another through a futex.

A parent stamps CLOCK_MONOTONIC into shared memory, bumps a futex word and calls
FUTEX_WAKE; a child process asleep in FUTEX_WAIT on that word reads the clock when it
returns. That is the kernel's cross-process wake-up, the part of a sleeping borrow that
no library can remove (spinning can). The same with the child spinning on the word
gives the cache-line hand-off under a spinning borrow.

Each is measured twice, in every regime of ``Settings.regimes`` (back to back, and 25 fps,
where the CPUs have gone idle between frames):

- ``from C`` (method ``wake-floor``): bench/cpp/wake_floor.c, compiled at run time with cc
  into the work folder, C on both sides and its pacing in C: the floor under the C++ API's
  rows (a row with the reason when there is no C compiler);
- ``from Python`` (method ``wake-floor-py``): the same hand-off with Python on both sides,
  the floor under the Python rows it is compared with (the interpreter's own wake-up and
  clock reads are in it).

None of it needs a GPU.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import shutil
import struct
import subprocess
import tempfile
import time
from typing import Any

from .common import Children, Regime, Settings, latency_row, reporting_errors, row

SOURCE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cpp", "wake_floor.c")
CASES = ((False, "futex wake, cross-process"), (True, "shared word, spinning reader"))

SYS_FUTEX = 202  # x86-64
FUTEX_WAIT, FUTEX_WAKE = 0, 1
# Layout of the shared page: the futex word at 0, the stamp at 8, the count at 16.


def _libc() -> Any:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def waiter_main(results: Any, path: str, frames: int, spin: bool) -> None:
    with reporting_errors(results):
        libc = _libc()
        with open(path, "r+b") as f:
            page = mmap.mmap(f.fileno(), 4096)
        word = ctypes.c_uint32.from_buffer(page, 0)
        address = ctypes.addressof(word)
        clock, monotonic = time.clock_gettime_ns, time.CLOCK_MONOTONIC
        latencies: list[float] = []
        seen = word.value
        results.put(("ready", None))
        while len(latencies) < frames:
            if spin:
                while word.value == seen:
                    pass
            else:
                while word.value == seen:
                    libc.syscall(SYS_FUTEX, ctypes.c_void_p(address), FUTEX_WAIT, ctypes.c_uint32(seen), None, None, 0)
            now = clock(monotonic)
            seen = word.value
            (stamp,) = struct.unpack_from("<Q", page, 8)
            latencies.append((now - stamp) / 1e3)
        del word
        page.close()
        results.put(("done", latencies))


def run_mode(settings: Settings, spin: bool, regime: Regime | None = None) -> list[float]:
    """Python on both sides: the waiter's latencies (µs) in ``regime`` (default: the first)."""
    regime = regime or settings.regimes[0]
    libc = _libc()
    with tempfile.NamedTemporaryFile(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as backing:
        backing.write(b"\0" * 4096)
        backing.flush()
        page = mmap.mmap(backing.fileno(), 4096)
        word = ctypes.c_uint32.from_buffer(page, 0)
        address = ctypes.addressof(word)
        wanted = regime.frames + regime.warmup
        with Children() as children:
            children.start(waiter_main, backing.name, wanted, spin)
            children.expect("ready", timeout=60)
            outcome = None
            deadline = time.monotonic() + settings.budget_s
            while outcome is None and time.monotonic() < deadline:
                time.sleep(regime.period_s)
                struct.pack_into("<Q", page, 8, time.clock_gettime_ns(time.CLOCK_MONOTONIC))
                word.value = (word.value + 1) & 0xFFFFFFFF
                libc.syscall(SYS_FUTEX, ctypes.c_void_p(address), FUTEX_WAKE, 1, None, None, 0)
                if not children.results.empty():
                    outcome = children.results.get()
            if outcome is None:
                raise RuntimeError("the waiter did not finish in time")
            kind, payload = outcome
            if kind != "done":
                raise RuntimeError(f"waiter failed: {payload}")
        del word
        page.close()
    return payload[regime.warmup :]


def build(work_dir: str) -> str:
    """Compiles wake_floor.c into ``work_dir``; RuntimeError naming what is missing or failed."""
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        raise RuntimeError("no C compiler (cc, gcc or clang) on PATH: install gcc to measure the floor from C")
    binary = os.path.join(work_dir, "wake_floor")
    done = subprocess.run(
        [compiler, "-std=gnu11", "-O2", SOURCE, "-o", binary], capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise RuntimeError(f"compiling {SOURCE} failed: {done.stderr[-500:]}")
    return binary


def run_c(binary: str, spin: bool, regime: Regime, timeout_s: float) -> list[float]:
    """C on both sides: the child's latencies (µs), its pacing done in C."""
    done = subprocess.run(
        [
            binary,
            "spin" if spin else "futex",
            str(round(regime.period_s * 1e6)),
            str(regime.frames),
            str(regime.warmup),
        ],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wake_floor exited with {done.returncode}: {done.stderr.strip()[-500:]}")
    samples = [int(line) / 1e3 for line in done.stdout.split()]
    if len(samples) != regime.frames:
        raise RuntimeError(f"wake_floor printed {len(samples)} samples, expected {regime.frames}")
    return samples


def run(settings: Settings) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    try:
        binary: str | None = build(settings.work_dir)
        why_not = ""
    except (OSError, subprocess.SubprocessError, RuntimeError) as error:
        binary, why_not = None, str(error)
    for regime in settings.regimes:
        timeout_s = settings.budget_s + 3 * (regime.frames + regime.warmup) * regime.period_s
        for spin, case in CASES:
            fields: dict[str, Any] = {"regime": regime.name, "skipped": 0}
            if binary is None:
                rows.append(row("floor", "wake-floor", f"{case}, from C", regime=regime.name, skipped=why_not))
            else:
                try:
                    rows.append(
                        latency_row(
                            "floor",
                            "wake-floor",
                            f"{case}, from C",
                            "-",
                            run_c(binary, spin, regime, timeout_s),
                            **fields,
                            note="no cuframes: raw futex / cache line between two processes, C on both sides",
                        )
                    )
                except (OSError, subprocess.SubprocessError, RuntimeError) as error:
                    rows.append(row("floor", "wake-floor", f"{case}, from C", **fields, error=str(error)))
            try:
                rows.append(
                    latency_row(
                        "floor",
                        "wake-floor-py",
                        f"{case}, from Python",
                        "-",
                        run_mode(settings, spin, regime),
                        **fields,
                        note="no cuframes: raw futex / cache line between two processes, Python on both sides",
                    )
                )
            except Exception as error:  # reported, the harness goes on
                rows.append(
                    row(
                        "floor",
                        "wake-floor-py",
                        f"{case}, from Python",
                        **fields,
                        error=f"{type(error).__name__}: {error}",
                    )
                )
    return rows


if __name__ == "__main__":
    from .standalone import main

    main(run)
