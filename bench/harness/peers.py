"""What the producer/consumer sections share: a mailbox over Children's result queue, the time
budget, a paced producer loop and a consumer loop over a cuframes Subscriber.

Timing model (the same in every section, see common.py): the producer stamps CLOCK_MONOTONIC
when the frame is complete in its own private buffer (after the stream sync that finishes it
there), before any method-specific copy or hand-over, and sends that stamp with the frame; the consumer
takes CLOCK_MONOTONIC when the frame is where the case says (held, or copied into its own buffer)
and records the difference in µs. The first ``settings.warmup`` frames of each phase are dropped.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from .common import ChildError, Children, Settings

#: A phase with no frame for this long means the producer stalled (it publishes every period_s).
STALL_S = 5.0
#: Seconds a child may take to start: spawn, imports (torch), CUDA context.
STARTUP_S = 90.0


class Inbox:
    """Messages ``(tag, payload)`` from several children over one queue, taken by tag in any order.
    ``("error", text)`` from any child raises ChildError at once."""

    def __init__(self, children: Children) -> None:
        self.children = children
        self._kept: dict[str, list[Any]] = {}

    def wait(self, tag: str, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while not self._kept.get(tag):
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChildError(f"no {tag!r} from a child within {timeout:.0f} s")
            kind, payload = self.children.get(left, what=repr(tag))
            if kind == "error":
                raise ChildError(str(payload))
            self._kept.setdefault(kind, []).append(payload)
        return self._kept[tag].pop(0)


class Budget:
    """The section's wall-clock allowance: min(settings.budget_s, ~60 s full / ~20 s quick)."""

    def __init__(self, settings: Settings, full_s: float = 58.0, quick_s: float = 19.0) -> None:
        self.limit = min(settings.budget_s, quick_s if settings.quick else full_s)
        self.end = time.monotonic() + self.limit

    def left(self) -> float:
        return self.end - time.monotonic()

    def share(self, parts_left: int, overhead_s: float) -> float:
        """Seconds of measuring for the next of ``parts_left`` equal parts, each of which also
        spends ``overhead_s`` starting up; at least 1 s."""
        return max(1.0, (self.left() - parts_left * overhead_s) / max(1, parts_left))


def monotonic_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def paced(stop: Any, period_s: float, max_seconds: float, step: Callable[[int], None]) -> int:
    """Calls ``step(i)`` for i = 0, 1, ..., sleeping ``period_s`` after each, until the
    multiprocessing Event ``stop`` is set; RuntimeError after ``max_seconds`` (a safety net: the
    consumer sets ``stop`` long before). Returns how many steps ran."""
    end = time.monotonic() + max_seconds
    i = 0
    while not stop.is_set():
        if time.monotonic() > end:
            raise RuntimeError(f"the producer ran {max_seconds:.0f} s without being stopped")
        step(i)
        i += 1
        if period_s > 0:
            time.sleep(period_s)
    return i


def phase_result(samples: list[float], missed: int, wanted: int, got: int, seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {"samples": samples, "missed": missed}
    if got < wanted:
        out["note"] = f"cut short by the time budget ({seconds:.1f} s): {len(samples)} samples"
    return out


def collect_frames(
    sub: Any, settings: Settings, seconds: float, handle: Callable[[Any, bool], float]
) -> dict[str, Any]:
    """Takes frames from a cuframes Subscriber until warmup + frames were handled or ``seconds``
    passed. ``handle(frame, warming)`` does the case's work on a held frame and returns its latency
    in µs; the frame is released afterwards. ``missed`` sums ``frame.missed`` over measured frames."""
    import cuframes

    wanted = settings.warmup + settings.frames
    deadline = time.monotonic() + seconds
    samples: list[float] = []
    missed = 0
    got = 0
    while got < wanted:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            frame = sub.next(timeout=min(left, STALL_S))
        except cuframes.TimeoutError:
            if time.monotonic() >= deadline:
                break
            raise RuntimeError(f"no frame for {STALL_S:.0f} s: the producer stalled") from None
        try:
            warming = got < settings.warmup
            latency = handle(frame, warming)
            if not warming:
                samples.append(latency)
                missed += frame.missed
        finally:
            frame.release()
        got += 1
    return phase_result(samples, missed, wanted, got, seconds)


def exit_report(children: Children) -> str:
    """ "" when every child exited with status 0, else what they exited with (a child that had
    to be killed leaves what the driver would have cleaned up, e.g. /dev/shm/cuda.shm.*)."""
    codes = [proc.exitcode for proc in getattr(children, "_procs", [])]
    if all(code == 0 for code in codes):
        return ""
    return f"child exit codes {codes} (negative: killed by that signal)"


def remove_ipc_event_files(children: Children) -> list[str]:
    """Removes /dev/shm/cuda.shm.* files of children that have exited; returns their names.

    CUDA backs interprocess *events* (cudaIpcGetEventHandle, which torch uses to share CUDA
    tensors) with POSIX shared memory named after the creating process's pid, and leaves the file
    behind when the process exits. Only files naming a pid of one of ``children``, all of which
    must have exited, are removed."""
    procs = list(getattr(children, "_procs", []))
    if any(proc.is_alive() for proc in procs):
        return []
    pids = {f"{proc.pid:x}" for proc in procs if proc.pid is not None}
    removed = []
    try:
        names = os.listdir("/dev/shm")
    except OSError:
        return []
    for name in names:
        parts = name.split(".")
        if name.startswith("cuda.shm.") and len(parts) >= 4 and parts[3] in pids:
            try:
                os.unlink(os.path.join("/dev/shm", name))
                removed.append(name)
            except OSError:
                pass
    return removed
