"""The floor under a sleeping subscriber: one process wakes another through a futex.

A parent stamps CLOCK_MONOTONIC into shared memory, bumps a futex word and calls
FUTEX_WAKE; a child process asleep in FUTEX_WAIT on that word reads the clock when it
returns. That is the kernel's cross-process wake-up, the part of a sleeping borrow that
no library can remove (spinning can). The same with the child spinning on the word
gives the cache-line hand-off under a spinning borrow. Both are timed from Python,
like the cuframes rows they are compared with.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import struct
import tempfile
import time
from typing import Any

from .common import Children, Settings, latency_row, reporting_errors, row

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


def run_mode(settings: Settings, spin: bool) -> list[float]:
    libc = _libc()
    with tempfile.NamedTemporaryFile(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as backing:
        backing.write(b"\0" * 4096)
        backing.flush()
        page = mmap.mmap(backing.fileno(), 4096)
        word = ctypes.c_uint32.from_buffer(page, 0)
        address = ctypes.addressof(word)
        wanted = settings.frames + settings.warmup
        with Children() as children:
            children.start(waiter_main, backing.name, wanted, spin)
            children.expect("ready", timeout=60)
            outcome = None
            deadline = time.monotonic() + settings.budget_s
            while outcome is None and time.monotonic() < deadline:
                time.sleep(settings.period_s)
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
    return payload[settings.warmup :]


def run(settings: Settings) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for spin, case in ((False, "futex wake, cross-process"), (True, "shared word, spinning reader")):
        try:
            rows.append(
                latency_row(
                    "floor",
                    "wake-floor",
                    case,
                    "-",
                    run_mode(settings, spin),
                    note="no cuframes: raw futex / cache line between two processes, from Python",
                )
            )
        except Exception as error:  # reported, the harness goes on
            rows.append(row("floor", "wake-floor", case, error=f"{type(error).__name__}: {error}"))
    return rows


if __name__ == "__main__":
    from .standalone import main

    main(run)
