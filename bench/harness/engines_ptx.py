"""The pieces of the engines section that need no GPU to reason about: the stamp kernel (hand-written
PTX), the clock calibration, the ping-pong schedules, and the rows.

Why a hand-written kernel: the ping-pong asks "what does the *compute engine* cost first after another
process's work", so it needs the smallest possible kernel, loaded without nvcc or NVRTC (the GPU machine
has no network and the harness must not compile). The kernel reads %globaltimer first thing and stores
it through a pointer: launched into pinned, host-mapped memory it tells, on the GPU's own clock, when
the work *started*, so the CPU's submit -> sync time can be split into "waiting for the GPU" (where a
context switch would sit) and "running".

Why the calibration is an interval intersection: %globaltimer and CLOCK_MONOTONIC are different
clocks. A stamp kernel launched at CPU time b and synced at CPU time a ran somewhere in [b, a], so
offset = gpu - cpu lies in [gpu - a, gpu - b]; intersecting that interval over many back-to-back
launches in one process leaves an uncertainty of half (the quickest launch-to-start + the quickest
kernel-end-to-sync-return), a few µs: enough to tell a ~140 µs switch before the start from one inside.
%globaltimer may tick in coarse steps (1 µs on some GPUs), which can make the intersection empty; then
the tightest single launch's midpoint is used and its half-width is reported as the uncertainty.
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Sequence
from typing import Any

from .common import latency_row, percentiles

STAMP_KERNEL = "stamp"
# PTX ISA 7.8 (CUDA 11.8) is the first with sm_90 (H100, H200); the driver JITs it there and for newer
# GPUs. CUDA 13 no longer compiles for the pre-Turing targets, so an older .target would be a risk.
STAMP_PTX = """\
.version 7.8
.target sm_90
.address_size 64

.visible .entry stamp(
    .param .u64 out
)
{
    .reg .b64 %rd<4>;
    mov.u64 %rd1, %globaltimer;
    ld.param.u64 %rd2, [out];
    cvta.to.global.u64 %rd3, %rd2;
    st.global.u64 [%rd3], %rd1;
    ret;
}
"""

_DIRECTIVES = (
    re.compile(r"^\.version \d+\.\d+$", re.M),
    re.compile(r"^\.target sm_\d+a?$", re.M),
    re.compile(r"^\.address_size 64$", re.M),
    re.compile(r"^\.visible \.entry (\w+)\(", re.M),
)


def ptx_problems(text: str) -> list[str]:
    """What a PTX module text lacks for cuModuleLoadData (empty when it looks loadable): the
    directives in order, one entry, balanced braces, a ret, and no NUL inside (the driver reads the
    text up to its terminating NUL)."""
    problems = []
    last = -1
    for pattern in _DIRECTIVES:
        found = pattern.search(text)
        if found is None:
            problems.append(f"missing {pattern.pattern!r}")
        elif found.start() < last:
            problems.append(f"{pattern.pattern!r} out of order")
        else:
            last = found.start()
    if text.count("{") != text.count("}"):
        problems.append("unbalanced braces")
    if "\0" in text:
        problems.append("a NUL inside the text")
    if not re.search(r"^\s*ret;$", text, re.M):
        problems.append("no ret;")
    return problems


class StampKernel:
    """The stamp kernel loaded into the current context, launched 1 x 1 with a fixed output pointer
    (the parameter block is built once, so a launch is one driver call)."""

    def __init__(self, drv: Any, out_ptr: int) -> None:
        from .cudrv import check

        self.drv = drv
        image = ctypes.create_string_buffer(STAMP_PTX.encode())  # NUL-terminated, as the driver reads PTX
        self.module = check(drv.cuModuleLoadData(ctypes.addressof(image)), "cuModuleLoadData(stamp PTX)")
        self.function = check(drv.cuModuleGetFunction(self.module, STAMP_KERNEL.encode()), "cuModuleGetFunction")
        self._arg = ctypes.c_uint64(out_ptr)
        self._params = (ctypes.c_void_p * 1)(ctypes.addressof(self._arg))
        self.params = ctypes.addressof(self._params)

    def launch(self, stream: Any) -> Any:
        """The raw result of cuLaunchKernel (check it outside the timed region)."""
        return self.drv.cuLaunchKernel(self.function, 1, 1, 1, 1, 1, 1, 0, stream, self.params, 0)

    def close(self) -> None:
        from .cudrv import check

        check(self.drv.cuModuleUnload(self.module), "cuModuleUnload")


def clock_offset(reads: Sequence[tuple[int, int, int]]) -> tuple[int, float]:
    """(offset_ns, uncertainty_ns) with gpu_ns = cpu_ns + offset_ns, from (cpu_before, gpu, cpu_after)
    triples: the GPU read happened between the two CPU reads."""
    if not reads:
        raise ValueError("no clock reads to calibrate from")
    low = max(gpu - after for before, gpu, after in reads)
    high = min(gpu - before for before, gpu, after in reads)
    # Integers throughout: %globaltimer counts from 1970, and a float near 1.7e18 ns is only 256 ns precise.
    if low <= high:
        return (low + high) // 2, (high - low) / 2
    before, gpu, after = min(reads, key=lambda r: r[2] - r[0])
    return gpu - (before + after) // 2, (after - before) / 2


def gpu_split(samples: Sequence[tuple[int, int, int]], offset_ns: int) -> tuple[list[float], list[float]]:
    """(submit -> kernel start, kernel start -> sync returned), µs, from (cpu_submit, gpu_start, cpu_done)."""
    starts = [gpu - offset_ns for _, gpu, _ in samples]
    return (
        [(start - submit) / 1e3 for (submit, _, _), start in zip(samples, starts)],
        [(done - start) / 1e3 for (_, _, done), start in zip(samples, starts)],
    )


def schedule(blocks: Sequence[tuple[str, str, str, float, int]], warmup: int) -> list[tuple[str, str, float, str]]:
    """The ping-pong's turns, the same list in both children. Each block (op, situation, peer, gap_s,
    kept) gives min(warmup, kept // 10) warm-up turns, then ``kept`` measured ones; a turn is
    (op, peer, gap_s, key) with key "<op>|<situation>", or "" for a warm-up turn."""
    turns: list[tuple[str, str, float, str]] = []
    for op, situation, peer, gap_s, kept in blocks:
        drop = min(warmup, kept // 10)
        turns += [(op, peer, gap_s, "")] * drop + [(op, peer, gap_s, f"{op}|{situation}")] * kept
    return turns


def gap_label(gap_s: float) -> str:
    return f"{gap_s * 1e3:g} ms"


def op_rows(
    measured: dict[str, list[float]], alone: dict[str, list[float]], notes: dict[str, str], wanted: dict[str, int]
) -> list[dict[str, Any]]:
    """Rows from samples keyed "<op>|<situation>": each gets a note saying so when it has fewer samples
    than ``wanted[situation]`` and, where the same op was measured alone, ``switch_us`` = its p50 minus
    the alone p50."""
    rows = []
    for key, samples in measured.items():
        op, situation = key.split("|", 1)
        size = "1080p" if op in ("dtod", "htod", "dtoh") else "-"
        base = percentiles(alone.get(op, []))
        note = notes.get(situation, situation)
        if len(samples) < wanted.get(situation, 0):
            note += f"; {len(samples)} samples (of {wanted[situation]} asked)"
        extra: dict[str, Any] = {}
        if samples and "p50" in base and situation != "alone":
            extra["switch_us"] = round(percentiles(samples)["p50"] - base["p50"], 2)
        rows.append(latency_row("engines", "engines", f"{op} {situation}", size, samples, note=note, **extra))
    return rows
