"""Which GPU engine pays the hand-over between processes, and can read_into avoid it (issue 19).

On the H100 VM the first compute-engine work after another process's GPU work cost ~140 µs more than
back to back (FLOORS.md), while a host-to-device copy in that position ran at full speed: the copy
engines may not pay the switch. read_into's copy is where cuframes pays it today (187-209 µs at 1080p
against a 15-20 µs in-process copy). This section measures that, engine by engine, and the copies
read_into could use instead (bench/harness/engines_read.py).

How to read the engines section (rows: section "engines", method "engines"; times in µs, submit ->
cuStreamSynchronize returned, taken with CLOCK_MONOTONIC in the measured process; the wake-up that
hands it the turn is never inside a sample):

- ``<op> alone``: the op back to back in a process with no other GPU process alive. Ops: ``kernel``
  (a 1-thread PTX kernel storing %globaltimer), ``memset`` (cuMemsetD8Async, 1 byte), ``dtod`` /
  ``htod`` / ``dtoh`` (one 1080p NV12 frame, 3.1 MB; host side pinned). kernel and memset run on the
  compute engine (the memset as a kernel), htod/dtoh on copy engines, dtod on whichever the driver picks.
- ``<op> after peer``: the same op first thing after a peer process did a producer's work (a DtoD copy
  of one frame of its own + sync) and handed over through a semaphore. ``switch_us`` = its p50 minus
  the alone p50: what that engine pays for the other process having used the GPU.
- ``<op> after peer, gap G``: kernel and dtod when the measured process first waits G (0-10 ms) after
  the peer's sync returned (fewer samples per point; the note says how many): does the switch wait
  for work, or is it paid even once the GPU has long been idle? ``gap_actual_us`` is the gap kept.
- ``<op> after idle peer``: the peer holds a context and memory but does no GPU work: the cost of
  merely sharing the GPU with another context, and of the turn-taking rhythm itself.
- ``<op> after other context, same process``: a second context (cuCtxCreate) in the measured process
  does the peer's copy, then the op runs on the primary context: a switch between contexts without a
  second process.
- kernel rows also carry ``submit_to_start_us`` and ``start_to_done_us``: the kernel's own
  %globaltimer stamp, moved onto CLOCK_MONOTONIC by ``clock calibration`` (value: the offset's
  uncertainty in ns). A switch that sits *before* the work starts shows in submit_to_start; one that
  slows the work itself, in start_to_done.
- ``read_into ...`` / ``copy floor ...`` rows: see engines_read.py.

Run alone: ``python -m bench.harness.engines [--quick]``. Each part runs in spawned children (this
process never holds a CUDA context) and reports an error row and goes on if it fails.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import sys
import time
from typing import Any

from .common import SOURCE_BUFFERS, Children, Settings, nv12_bytes, percentiles, reporting_errors, row
from .cudrv import CudaSession, check, create_context, fill_value
from .engines_ptx import StampKernel, clock_offset, gap_label, gpu_split, op_rows, schedule
from .peers import STALL_S, STARTUP_S, Inbox, monotonic_ns
from .standalone import main

OPS = ("kernel", "memset", "dtod", "htod", "dtoh")
GAP_OPS = ("kernel", "dtod")
GAPS_S = (0.0, 0.0001, 0.001, 0.003, 0.01)
CALIBRATION_READS = 500
#: Wall-clock allowance of the whole section (a guard: parts past it report "skipped").
SECTION_S = {"quick": 150.0, "full": 190.0}


def gap_samples(settings: Settings) -> int:
    """Samples per gap-sweep point: the 10 ms points cost 10 ms each, so fewer than settings.frames."""
    return 100 if settings.quick else 300


class Engines:
    """One process's buffers and the five ops, each timed from just before its submit to
    cuStreamSynchronize returning. Sources and targets rotate (SOURCE_BUFFERS) so L2 does not help."""

    def __init__(self, cu: CudaSession, nbytes: int) -> None:
        self.cu, self.drv, self.nbytes = cu, cu.drv, nbytes
        self.stream = cu.stream()
        self.src = [cu.alloc(nbytes) for _ in range(SOURCE_BUFFERS)]
        self.dst = [cu.alloc(nbytes) for _ in range(SOURCE_BUFFERS)]
        for index, ptr in enumerate(self.src):
            cu.fill(ptr, nbytes, fill_value(index))
        self.host, _ = cu.host_alloc(nbytes)
        self.word, word_dev = cu.host_alloc(8, mapped=True)
        self.kernel = StampKernel(cu.drv, word_dev)
        self.turn = 0

    def time(self, op: str) -> tuple[int, int, int]:
        """(t_submit, gpu_start_ns or 0, t_done) of one ``op``."""
        drv, stream, nbytes = self.drv, self.stream, self.nbytes
        self.turn += 1
        src, dst = self.src[self.turn % SOURCE_BUFFERS], self.dst[(self.turn + 1) % SOURCE_BUFFERS]
        if op == "kernel":
            ctypes.c_uint64.from_address(self.word).value = 0  # so a kernel that did not run cannot pass
            t0 = monotonic_ns()
            result = self.kernel.launch(stream)
        elif op == "memset":
            t0 = monotonic_ns()
            result = drv.cuMemsetD8Async(dst, self.turn & 0xFF, 1, stream)
        elif op == "dtod":
            t0 = monotonic_ns()
            result = drv.cuMemcpyDtoDAsync(dst, src, nbytes, stream)
        elif op == "htod":
            t0 = monotonic_ns()
            result = drv.cuMemcpyHtoDAsync(dst, self.host, nbytes, stream)
        elif op == "dtoh":
            t0 = monotonic_ns()
            result = drv.cuMemcpyDtoHAsync(self.host, src, nbytes, stream)
        else:
            raise ValueError(f"unknown op {op!r}")
        synced = drv.cuStreamSynchronize(stream)
        t1 = monotonic_ns()
        check(result, op)
        check(synced, f"cuStreamSynchronize after {op}")
        gpu = ctypes.c_uint64.from_address(self.word).value if op == "kernel" else 0
        if op == "kernel" and not gpu:
            raise RuntimeError("the stamp kernel returned without writing its %globaltimer stamp")
        return t0, gpu, t1

    def calibrate(self) -> tuple[int, float]:
        """(offset_ns, uncertainty_ns) of %globaltimer against CLOCK_MONOTONIC, from back-to-back stamp
        kernels in this process (engines_ptx.clock_offset)."""
        return clock_offset([self.time("kernel") for _ in range(CALIBRATION_READS)])

    def close(self) -> None:
        self.cu.sync(self.stream)
        self.kernel.close()


class Samples:
    """Per "<op>|<situation>": latencies (µs), kernel (submit, gpu, done) triples, gaps kept (µs)."""

    def __init__(self) -> None:
        self.us: dict[str, list[float]] = {}
        self.triples: dict[str, list[tuple[int, int, int]]] = {}
        self.gaps: dict[str, list[float]] = {}

    def add(self, key: str, sample: tuple[int, int, int], gap_us: float | None = None) -> None:
        t0, gpu, t1 = sample
        self.us.setdefault(key, []).append((t1 - t0) / 1e3)
        if gpu:
            self.triples.setdefault(key, []).append(sample)
        if gap_us is not None:
            self.gaps.setdefault(key, []).append(gap_us)

    def payload(self) -> dict[str, Any]:
        return {"us": self.us, "triples": self.triples, "gaps": self.gaps}


def _second_context(cu: CudaSession, nbytes: int) -> tuple[Any, list[int], Any]:
    """A second context in this process with two frame buffers and a stream; the primary is current again."""
    drv = cu.drv
    ctx = create_context(drv, cu.device)
    buffers = [int(check(drv.cuMemAlloc(nbytes), "cuMemAlloc (second context)")) for _ in range(2)]
    stream = check(drv.cuStreamCreate(int(drv.CUstream_flags.CU_STREAM_NON_BLOCKING)), "cuStreamCreate")
    check(drv.cuCtxSetCurrent(cu.context), "cuCtxSetCurrent(primary)")
    return ctx, buffers, stream


def _alone_child(results: Any, device: int, nbytes: int, rounds: int, warmup: int, seconds: float) -> None:
    """Each op back to back with no other GPU process; then the same after a second context's copy."""
    with reporting_errors(results):
        deadline = monotonic_ns() + int(seconds * 1e9)
        samples = Samples()
        with CudaSession(device) as cu:
            eng = Engines(cu, nbytes)
            calibration = eng.calibrate()
            drop = min(warmup, rounds // 10)
            for op in OPS:
                for i in range(drop + rounds):
                    if monotonic_ns() > deadline:
                        break
                    sample = eng.time(op)
                    if i >= drop:
                        samples.add(f"{op}|alone", sample)
            drv = cu.drv
            ctx, (src, dst), stream = _second_context(cu, nbytes)
            try:
                for op in OPS:
                    for i in range(drop + rounds):
                        if monotonic_ns() > deadline:
                            break
                        check(drv.cuCtxSetCurrent(ctx), "cuCtxSetCurrent(second)")
                        check(drv.cuMemcpyDtoDAsync(dst, src, nbytes, stream), "cuMemcpyDtoDAsync (second)")
                        check(drv.cuStreamSynchronize(stream), "cuStreamSynchronize (second)")
                        check(drv.cuCtxSetCurrent(cu.context), "cuCtxSetCurrent(primary)")
                        sample = eng.time(op)
                        if i >= drop:
                            samples.add(f"{op}|after other context, same process", sample)
            finally:
                check(drv.cuCtxSetCurrent(ctx), "cuCtxSetCurrent(second)")
                check(drv.cuStreamDestroy(stream), "cuStreamDestroy (second)")
                for ptr in (src, dst):
                    check(drv.cuMemFree(ptr), "cuMemFree (second)")
                check(drv.cuCtxDestroy(ctx), "cuCtxDestroy")
                check(drv.cuCtxSetCurrent(cu.context), "cuCtxSetCurrent(primary)")
            eng.close()
        results.put(("alone", {**samples.payload(), "offset": calibration}))


def _pingpong_child(
    results: Any,
    role: str,
    mine: Any,
    theirs: Any,
    shared: Any,
    turns: list[tuple[str, str, float, str]],
    device: int,
    nbytes: int,
    seconds: float,
) -> None:
    """role "peer": on its turn a frame copy + sync of its own ("work") or nothing ("idle"), stamps
    shared[0] and hands over. role "measured": on its turn waits until the gap since shared[0] has
    passed, times one op, hands over; past ``seconds`` it sets shared[1] and both stop."""
    with reporting_errors(results):
        deadline = monotonic_ns() + int(seconds * 1e9)
        samples = Samples()
        with CudaSession(device) as cu:
            if role == "peer":
                stream = cu.stream()
                src, dst = cu.alloc(nbytes), cu.alloc(nbytes)
                cu.fill(src, nbytes, fill_value(0))
            else:
                eng = Engines(cu, nbytes)
                before = eng.calibrate()
            results.put((f"{role}-ready", None))
            for op, peer, gap_s, key in turns:
                if not mine.acquire(timeout=STALL_S):
                    raise TimeoutError(f"{role}: the other process did not hand over within {STALL_S:.0f} s")
                try:
                    if shared[1]:
                        break
                    if role == "peer":
                        if peer == "work":
                            cu.copy_dtod(dst, src, nbytes, stream)
                            cu.sync(stream)
                        shared[0] = monotonic_ns()
                        continue
                    if monotonic_ns() > deadline:
                        shared[1] = 1
                        break
                    start = shared[0] + int(gap_s * 1e9)
                    if gap_s > 0.0005:
                        time.sleep(max(0.0, (start - monotonic_ns()) / 1e9 - 0.0003))
                    while monotonic_ns() < start:
                        pass
                    sample = eng.time(op)
                    if key:
                        samples.add(key, sample, (sample[0] - shared[0]) / 1e3)
                finally:
                    theirs.release()
            if role == "measured":
                after = eng.calibrate()
                eng.close()
        out = {**samples.payload(), "offset": before, "offset_after": after} if role == "measured" else None
        results.put((f"{role}-done", out))


def _alone(settings: Settings, seconds: float) -> dict[str, Any]:
    with Children() as children:
        children.start(_alone_child, settings.device, nv12_bytes("1080p"), settings.frames, settings.warmup, seconds)
        return Inbox(children).wait("alone", STARTUP_S + seconds + 10)


def pingpong_blocks(settings: Settings) -> list[tuple[str, str, str, float, int]]:
    """After a working peer (every op), the gap sweep (GAP_OPS x GAPS_S), after an idle peer (every op)."""
    blocks = [(op, "after peer", "work", 0.0, settings.frames) for op in OPS]
    blocks += [
        (op, f"after peer, gap {gap_label(gap)}", "work", gap, gap_samples(settings))
        for op in GAP_OPS
        for gap in GAPS_S
    ]
    blocks += [(op, "after idle peer", "idle", 0.0, settings.frames) for op in OPS]
    return blocks


def _pingpong(settings: Settings, seconds: float) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    peer_turn, measured_turn = ctx.Semaphore(0), ctx.Semaphore(0)
    shared = ctx.RawArray("q", 2)  # [peer's last sync returned (ns), stop flag]
    turns = schedule(pingpong_blocks(settings), settings.warmup)
    nbytes = nv12_bytes("1080p")
    with Children() as children:
        inbox = Inbox(children)
        for role, mine, theirs in (("peer", peer_turn, measured_turn), ("measured", measured_turn, peer_turn)):
            children.start(_pingpong_child, role, mine, theirs, shared, turns, settings.device, nbytes, seconds)
        inbox.wait("peer-ready", STARTUP_S)
        inbox.wait("measured-ready", STARTUP_S)
        peer_turn.release()  # the peer goes first
        out = inbox.wait("measured-done", seconds + 30)
        inbox.wait("peer-done", 30)
    return out


NOTES = {
    "alone": "submit -> sync returned, back to back, no other GPU process",
    "after other context, same process": "first thing after a second context in the same process copied a "
    "frame + synced (cuCtxSetCurrent between, not timed)",
    "after peer": "first thing after another process's frame copy + sync (turn handed over by semaphores, "
    "the wake-up not timed)",
    "after idle peer": "the same turn-taking, but the peer process does no GPU work (it holds a context)",
}


def build_rows(settings: Settings, alone: dict[str, Any] | None, pong: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The engine rows from the two parts' payloads (either may be None: that part failed)."""
    measured: dict[str, list[float]] = {}
    offsets: dict[str, int] = {}
    notes = dict(NOTES)
    for gap in GAPS_S:
        notes[f"after peer, gap {gap_label(gap)}"] = (
            f"first thing {gap_label(gap)} after another process's frame copy + sync returned; "
            f"{gap_samples(settings)} samples per gap point"
        )
    for payload in (alone, pong):
        if payload is not None:
            offsets.update({key: payload["offset"][0] for key in payload["us"]})
            measured.update(payload["us"])
    base = {op: measured.get(f"{op}|alone", []) for op in OPS}
    wanted = {situation: gap_samples(settings) if ", gap " in situation else settings.frames for situation in notes}
    rows = op_rows(measured, base, notes, wanted)
    triples = {**(alone or {}).get("triples", {}), **(pong or {}).get("triples", {})}
    gaps = (pong or {}).get("gaps", {})
    for r, key in zip(rows, measured):
        if key in triples:
            to_start, to_done = gpu_split([tuple(t) for t in triples[key]], offsets[key])
            r["submit_to_start_us"], r["start_to_done_us"] = percentiles(to_start), percentiles(to_done)
        if ", gap " in key and key in gaps:
            r["gap_actual_us"] = percentiles(gaps[key])
    for name, payload in (("alone", alone), ("ping-pong", pong)):
        if payload is None:
            continue
        offset, uncertainty = payload["offset"]
        drift = payload["offset_after"][0] - offset if "offset_after" in payload else None
        rows.append(
            row(
                "engines",
                "engines",
                f"clock calibration, {name} process",
                "-",
                value=round(uncertainty, 1),
                unit="ns",
                offset_ns=offset,
                drift_ns=drift,
                note=f"%globaltimer - CLOCK_MONOTONIC from {CALIBRATION_READS} back-to-back stamp kernels: "
                "each ran between the CPU reads around its launch + sync, the intervals intersected; value: "
                "the half-width (the offset's uncertainty); drift_ns: the offset at the end minus at the start",
            )
        )
    return rows


def run(settings: Settings) -> list[dict[str, Any]]:
    import cuframes

    from . import engines_read

    if not cuframes.cuda_available():  # bench/run.py skips the section itself; this is for running it alone
        print(f"engines: skipped, needs a CUDA GPU ({cuframes.cuda_unavailable_reason()})", file=sys.stderr)
        return []
    end = time.monotonic() + SECTION_S["quick" if settings.quick else "full"]
    rows: list[dict[str, Any]] = []

    def part(name: str, reserve_s: float, work: Any) -> Any:
        """Runs ``work(seconds)`` with what is left of the section's time (at most settings.budget_s),
        or puts an error row and returns None."""
        left = end - time.monotonic() - reserve_s
        print(f"   engines: {name} ({left:.0f} s left)", file=sys.stderr, flush=True)
        if left < 3:
            rows.append(row("engines", "engines", name, error="skipped: the section's time budget was spent"))
            return None
        try:
            return work(min(settings.budget_s, left))
        except Exception as error:  # one broken part must not hide the others
            rows.append(row("engines", "engines", name, error=f"{type(error).__name__}: {error}"))
            print(f"   engines: {name} failed: {error}", file=sys.stderr, flush=True)
            return None

    def show(new: list[dict[str, Any]]) -> None:
        """Each finished row on stderr at once, so a run cut short still shows what it measured."""
        for r in new:
            lat = r.get("latency_us", {})
            print(
                f"   engines: {r['case']} {r['size']}: p50 {lat.get('p50', '-')}, p99 {lat.get('p99', '-')}, "
                f"n {lat.get('n', '-')}, switch {r.get('switch_us', '-')}, {r.get('error', '')}",
                file=sys.stderr,
                flush=True,
            )

    # Reserves: what the parts after this one need at the least (each child pair starts in a few s).
    alone = part("alone + two contexts", 120, lambda s: _alone(settings, s))
    pong = part("ping-pong", 90, lambda s: _pingpong(settings, s))
    rows += build_rows(settings, alone, pong)
    floor = part("copy floor in-process", 80, lambda s: engines_read.floor_rows(settings, s))
    rows += floor or []
    show(rows)
    for mode in engines_read.MODES:
        one = (
            part("read_into: push", 50, lambda s: engines_read.push_case(settings, settings.frames, s))
            if mode == "push"
            else part(
                f"read_into: {mode}", 50, lambda s, m=mode: engines_read.read_case(settings, m, 0.0, settings.frames, s)
            )
        )
        rows += [one] if one else []
        show(rows[-1:])
    for mode in engines_read.GAP_MODES:
        one = part(
            f"read_into: {mode}, gap 10 ms",
            5,
            lambda s, m=mode: engines_read.read_case(settings, m, engines_read.GAP_S, gap_samples(settings), s),
        )
        rows += [one] if one else []
        show(rows[-1:])
    return rows


if __name__ == "__main__":
    sys.exit(main(run))
