"""What the peers' sections (legacy IPC, host path, torch.multiprocessing) share beyond peers.py:
the regimes each size is measured in, how long a regime may take, rows for a two-stamp pass, slot
offsets in one allocation, and where cuda.h is for the C++ probe.

Regimes (issue 19, item 3): every latency case runs back to back (``0.3ms``) at every size, and at
a camera's 25 fps for 1080p only: 625 frames 40 ms apart take 25 s a case, and the full run of the
peers' sections must stay within about 5 minutes on an H100.

Two stamps per frame: the consumer takes the borrow stamp (it holds the frame) and then, on the
same frame, copies it into its own buffer and takes the read_into stamp. Borrowing is CPU work
only, so the copy that follows does not change it, and one pass gives both rows with the same
frames and the same sample count at half the wall time of two passes.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Callable
from typing import Any

from .common import Regime, Settings, latency_row, percentiles
from .peers import STALL_S

#: The only size measured at 25 fps (a 25 fps case takes 25 s; see the module's docstring).
SLOW_REGIME_SIZES = ("1080p",)
#: Alignment of slots inside one allocation: copies start on 256-byte boundaries, like cudaMalloc's.
SLOT_ALIGN = 256


def regimes_for(settings: Settings, size: str) -> list[Regime]:
    """The regimes ``size`` is measured in: all of them for 1080p, the back-to-back one otherwise."""
    regimes = list(settings.regimes)
    return regimes if size in SLOW_REGIME_SIZES else regimes[:1]


def regime_seconds(regime: Regime) -> float:
    """A safety net on one regime's pass: its frames at 1.5 x their period (at least 0.5 ms a frame,
    what a copy-bound 0.3 ms case really runs at), plus 10 s. Passes end when their frames are in."""
    return (regime.warmup + regime.frames) * max(regime.period_s, 0.0005) * 1.5 + 10.0


def slot_offsets(nbytes: int, slots: int, align: int = SLOT_ALIGN) -> tuple[int, list[int]]:
    """(stride, offsets) of ``slots`` frames of ``nbytes`` in one allocation, each on ``align``."""
    if nbytes <= 0 or slots <= 0 or align <= 0 or align & (align - 1):
        raise ValueError(f"slot_offsets({nbytes}, {slots}, {align}): sizes must be positive, align a power of 2")
    stride = (nbytes + align - 1) & ~(align - 1)
    return stride, [k * stride for k in range(slots)]


class TwoStamps:
    """Samples of one regime's pass: borrow (held), read_into (copied) and the copy alone, in µs,
    with the frames missed between measured ones."""

    def __init__(self, regime: Regime) -> None:
        self.regime = regime
        self.borrow: list[float] = []
        self.read_into: list[float] = []
        self.copy: list[float] = []
        self.missed = 0
        self.got = 0
        self.started = time.monotonic()

    @property
    def wanted(self) -> int:
        return self.regime.warmup + self.regime.frames

    @property
    def warming(self) -> bool:
        return self.got < self.regime.warmup

    def add(self, stamp_ns: int, held_ns: int, copied_ns: int, missed: int) -> None:
        """One frame handled; counted only after the warm-up."""
        if not self.warming:
            self.borrow.append((held_ns - stamp_ns) / 1e3)
            self.read_into.append((copied_ns - stamp_ns) / 1e3)
            self.copy.append((copied_ns - held_ns) / 1e3)
            self.missed += missed
        self.got += 1

    def result(self) -> dict[str, Any]:
        """Plain data for the parent (lists of floats), with a note when the pass was cut short."""
        out: dict[str, Any] = {
            "regime": self.regime.name,
            "borrow": self.borrow,
            "read_into": self.read_into,
            "copy_us": percentiles(self.copy),
            "missed": self.missed,
        }
        if self.got < self.wanted:
            out["note"] = (
                f"cut short after {time.monotonic() - self.started:.1f} s: {len(self.read_into)} samples "
                f"of {self.regime.frames}"
            )
        return out


def collect_two_stamps(sub: Any, regime: Regime, handle: Callable[[Any, bool], tuple[int, int]]) -> dict[str, Any]:
    """A regime's pass over a cuframes Subscriber: ``handle(frame, warming)`` holds, copies and
    returns (held_ns, copied_ns); the frame's pts is the producer's stamp. ``frame.missed`` counts
    the frames skipped before it."""
    import cuframes

    stamps = TwoStamps(regime)
    deadline = time.monotonic() + regime_seconds(regime)
    while stamps.got < stamps.wanted and time.monotonic() < deadline:
        try:
            frame = sub.next(timeout=STALL_S)
        except cuframes.TimeoutError:
            raise RuntimeError(f"no frame for {STALL_S:.0f} s: the producer stalled") from None
        try:
            held, copied = handle(frame, stamps.warming)
            stamps.add(frame.pts, held, copied, frame.missed)
        finally:
            frame.release()
    return stamps.result()


def two_stamp_rows(
    method: str, size: str, passes: list[dict[str, Any]], cases: dict[str, str], note: str, **fields: Any
) -> list[dict[str, Any]]:
    """Rows of two-stamp passes: one per regime and per case in ``cases`` (the pass's key ->
    the row's case name), each with ``regime``, the copy alone (read_into rows) and ``note``."""
    rows = []
    for measured in passes:
        for key, case in cases.items():
            extra = dict(fields)
            text = note
            if key == "read_into":
                extra["copy_us"] = measured["copy_us"]
                text += "; copy_us: the copy + sync alone, from holding the frame"
            if "note" in measured:
                text += f"; {measured['note']}"
            rows.append(
                latency_row(
                    "latency",
                    method,
                    case,
                    size,
                    measured[key],
                    regime=measured["regime"],
                    missed=measured["missed"],
                    note=text,
                    **extra,
                )
            )
    return rows


def find_cuda_include() -> str | None:
    """The folder holding cuda.h, searched in the order cuframes' CMakeLists.txt uses: $CUDA_HOME,
    $CUDA_PATH, /usr/local/cuda, then the nvidia-cuda-runtime wheel (nvidia/cu13, cu12,
    cuda_runtime); None when there is none."""
    for root in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if root and os.path.isfile(os.path.join(root, "include", "cuda.h")):
            return os.path.join(root, "include")
    try:
        spec = importlib.util.find_spec("nvidia")
    except (ImportError, ValueError):
        spec = None
    for base in (spec.submodule_search_locations or []) if spec else []:
        for sub in ("cu13", "cu12", "cuda_runtime"):
            include = os.path.join(base, sub, "include")
            if os.path.isfile(os.path.join(include, "cuda.h")):
                return include
    return None
