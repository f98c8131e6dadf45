"""A tear check that can fail: the fewest slots, the highest rate, subscribers that hold frames.

The producer publishes 1080p NV12 frames as fast as it can into the smallest pool the
Publisher accepts (``slots = subscribers x max_held + 2``, here 4 x 1 + 2 = 6), so every slot
is rewritten within a few frames. Before publishing frame ``i`` it writes ``i`` into the
first 32-bit word of every 4 KiB page of the frame (by the CPU on the host backend, by
cuMemsetD2D32 on the cuda backend). Each of 4 subscribers borrows the newest frame, holds
it for a random 0-2 ms while the producer laps the pool, and checks every page against the
frame's pts at the start and at the END of its hold, before release(): a page that changed
is a torn frame, and there must be none (docs/reliability.md: a held frame is never written).

The negative control shows that this check can see a tear. Every fourth frame a subscriber
releases at once and reads the same pages afterwards through the address it kept: first
right after release() (``torn_right_after_release``, counted but left to chance), then
after it has seen the producer publish a newer frame in the same slot. By then the slot has
certainly been rewritten, so every such late read must count as torn; a check that missed
them would be blind. cuframes never makes the producer wait: with this pool a free slot
always exists, and an acquire() that found none would raise LimitError, which is counted
(``producer_skipped``, must be 0) and skipped. ``missed`` counts the frames a subscriber
never saw (it takes the newest).

Runs on the host backend everywhere (CI's smoke run) and on the cuda backend too when a
GPU is usable. ``python -m bench.harness.tear [--quick]``.
"""

from __future__ import annotations

import ctypes
import os
import random
import time
from typing import Any

from .common import FRAME_SIZES, Children, Settings, reporting_errors, row

SIZE = "1080p"
SUBSCRIBERS = 4
MAX_HELD = 1
HOLD_S = 0.002  # the longest hold; each is uniform in [0, HOLD_S]
CONTROL_EVERY = 4  # every 4th frame a subscriber takes is a control
PAGE = 4096
REUSE_WAIT_S = 5.0  # a control waits this long at most for its slot to carry a newer frame
STALL_S = 10.0


def _geometry(frame: Any, backend: str) -> tuple[int, int]:
    """(address, pages) of a frame: the pages that start inside its rows, pitch included."""
    iface = frame.__cuda_array_interface__ if backend == "cuda" else frame.__array_interface__
    rows, cols = iface["shape"][0], iface["shape"][1]
    strides = iface.get("strides")
    pitch = strides[0] if strides else cols
    span = (rows - 1) * pitch + cols
    return iface["data"][0], (span - 4) // PAGE + 1


class Pages:
    """Writes and reads the first 32-bit word of each 4 KiB page at an address, host or device.
    Host views are cached per address (slots stay mapped where they are)."""

    def __init__(self, backend: str, device: int) -> None:
        self._device = None
        self._views: dict[tuple[int, int], Any] = {}
        if backend == "cuda":
            from .fanout import _DeviceReader

            self._device = _DeviceReader(device)

    def _view(self, address: int, pages: int) -> Any:
        import numpy as np

        view = self._views.get((address, pages))
        if view is None:
            words = (pages - 1) * (PAGE // 4) + 1
            whole = np.ctypeslib.as_array((ctypes.c_uint32 * words).from_address(address))
            view = self._views[(address, pages)] = whole[:: PAGE // 4]
        return view

    def write(self, address: int, pages: int, value: int) -> None:
        if self._device is not None:
            self._device.set_words(address, pages, PAGE, value)
        else:
            self._view(address, pages)[:] = value

    def all_equal(self, address: int, pages: int, value: int) -> bool:
        words = self._device.words(address, pages, PAGE) if self._device is not None else self._view(address, pages)
        return bool((words == value).all())

    def close(self) -> None:
        if self._device is not None:
            self._device.close()


def subscriber_main(results: Any, key: str, directory: str, backend: str, seconds: float, seed: int) -> None:
    """Child: holds and checks frames for `seconds` after the first; sends its counts."""
    with reporting_errors(results):
        import cuframes

        rng = random.Random(seed)
        counts = dict.fromkeys(
            ("held", "torn", "late", "late_torn", "inconclusive", "early", "early_torn", "missed"), 0
        )
        with cuframes.Subscriber(key, dir=directory, connect_timeout=30) as sub:
            pages = Pages(backend, sub.device)
            results.put(("ready", None))
            sub.next(timeout=STALL_S).release()
            end = time.monotonic() + seconds
            taken = 0
            while time.monotonic() < end:
                frame = sub.next(timeout=STALL_S)
                counts["missed"] += frame.missed
                address, n = _geometry(frame, backend)
                stamp, slot = frame.pts & 0xFFFFFFFF, frame.slot
                taken += 1
                if taken % CONTROL_EVERY:
                    counts["held"] += 1
                    intact = pages.all_equal(address, n, stamp)
                    time.sleep(rng.uniform(0, HOLD_S))  # the producer laps the pool meanwhile
                    intact = pages.all_equal(address, n, stamp) and intact  # at the end of the hold
                    counts["torn"] += not intact
                    frame.release()
                    continue
                frame.release()  # the control: the same check, after release()
                counts["early"] += 1
                counts["early_torn"] += not pages.all_equal(address, n, stamp)
                reused = False
                limit = time.monotonic() + REUSE_WAIT_S
                while not reused and time.monotonic() < limit:
                    later = sub.next(timeout=STALL_S)
                    counts["missed"] += later.missed
                    reused = later.slot == slot and (later.pts & 0xFFFFFFFF) != stamp
                    later.release()
                if reused:  # the producer has rewritten this slot since: the read must see it
                    counts["late"] += 1
                    counts["late_torn"] += not pages.all_equal(address, n, stamp)
                else:
                    counts["inconclusive"] += 1
            pages.close()
        results.put(("done", counts))


def run_backend(settings: Settings, backend: str, seconds: float) -> list[dict[str, Any]]:
    import cuframes

    width, height = FRAME_SIZES[SIZE]
    slots = SUBSCRIBERS * MAX_HELD + 2  # the Publisher's minimum for this many subscribers
    key = f"tear-{backend}-{os.getpid()}"
    with (
        cuframes.Publisher(
            key,
            width,
            height,
            "nv12",
            backend=backend,
            dir=settings.work_dir,
            slots=slots,
            max_subscribers=SUBSCRIBERS,
            max_held=MAX_HELD,
        ) as pub,
        Children() as children,
    ):
        pages = Pages(backend, pub.device)
        try:
            for index in range(SUBSCRIBERS):
                children.start(subscriber_main, key, settings.work_dir, backend, seconds, 1000 + index)
            for _ in range(SUBSCRIBERS):
                children.expect("ready", timeout=90)
            done: list[dict[str, int]] = []
            published = skipped = 0
            start = time.monotonic()
            deadline = start + seconds + 90
            while len(done) < SUBSCRIBERS:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {len(done)} of {SUBSCRIBERS} subscribers finished")
                try:
                    frame = pub.acquire(pts=published + 1)
                except cuframes.LimitError:  # no free slot: cuframes skips, it never waits
                    skipped += 1
                    continue
                address, n = _geometry(frame, backend)
                pages.write(address, n, (published + 1) & 0xFFFFFFFF)
                frame.publish()
                published += 1
                while not children.results.empty():
                    kind, payload = children.results.get()
                    if kind != "done":
                        raise RuntimeError(f"a subscriber failed: {payload}")
                    done.append(payload)
            elapsed = time.monotonic() - start
        finally:
            pages.close()
    total = {name: sum(d[name] for d in done) for name in done[0]}
    common = dict(
        backend=backend,
        subscribers=SUBSCRIBERS,
        slots=slots,
        published=published,
        published_fps=published / elapsed,
        producer_skipped=skipped,
        missed=total["missed"],
    )
    return [
        row(
            "tear",
            "cuframes",
            f"held 0-{HOLD_S * 1e3:g} ms, checked before release, {backend}",
            SIZE,
            checked=total["held"],
            torn=total["torn"],
            **common,
            note=f"{slots} slots at the highest rate; every 4 KiB page stamped with the frame's pts",
        ),
        row(
            "tear",
            "cuframes",
            f"control: checked after release, slot rewritten, {backend}",
            SIZE,
            checked=total["late"],
            torn=total["late_torn"],
            inconclusive=total["inconclusive"],
            torn_right_after_release=total["early_torn"],
            checked_right_after_release=total["early"],
            **common,
            note="must find every one torn: proves the check can see a tear",
        ),
    ]


def run(settings: Settings) -> list[dict[str, Any]]:
    import cuframes

    # 1 s in the smoke run, 2 s quick, 10 s full.
    seconds = min(10.0, max(1.0, settings.frames / 1000))
    rows: list[dict[str, Any]] = []
    backends = ["host"] + (["cuda"] if cuframes.cuda_available() else [])
    for backend in backends:
        try:
            rows += run_backend(settings, backend, seconds)
        except Exception as error:  # reported, the other backend still runs
            rows.append(
                row("tear", "cuframes", f"tear check, {backend}", SIZE, error=f"{type(error).__name__}: {error}")
            )
    if "cuda" not in backends:
        rows.append(row("tear", "cuframes", "tear check, cuda", SIZE, skipped=cuframes.cuda_unavailable_reason()))
    return rows


if __name__ == "__main__":
    from .standalone import main

    main(run)
