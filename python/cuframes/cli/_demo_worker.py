"""One subscriber of `cuframes demo` (and of the multi-process tests).

Run as ``python -m cuframes.cli._demo_worker --key KEY [--dir DIR] ...``. It checks
EVERY frame it gets against the test pattern (both barcodes decode to
frame.seq, sampled rows match, pts and metadata match) after copying it to
host memory, and writes JSON lines to stdout: "ready", periodic "stats",
"problem" (the first few integrity errors) and a final "done".
Exit code: 0 clean, 1 integrity errors, 2 failed (could not connect, crashed).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from typing import Any

import numpy as np

from .._pattern import TestPattern
from ..errors import DisconnectedError, TimeoutError
from ..subscriber import Subscriber

_MAX_PROBLEMS_REPORTED = 5


def _emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def run(
    key: str,
    *,
    dir: str | None,
    index: int,
    connect_timeout: float,
    max_frames: int | None,
    seconds: float | None,
    report_interval: float,
    stall: float,
) -> int:
    stop = False

    def on_signal(signum: int, _frame: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        sub = Subscriber(key, dir=dir, connect_timeout=connect_timeout)
    except Exception as error:  # report why, then fail
        _emit(
            "done", index=index, reason="failed", error=f"{type(error).__name__}: {error}", frames=0, missed=0, errors=0
        )
        return 2
    with sub:
        pattern = TestPattern(sub.format, sub.width, sub.height)
        packed = np.empty(sub.packed_size, dtype=np.uint8)
        _emit("ready", index=index, backend=sub.backend, format=sub.format, width=sub.width, height=sub.height)
        frames = missed = errors = 0
        latencies_us: list[float] = []
        last_seq = 0
        started = last_report = time.monotonic()
        frames_at_last_report = 0
        reason = "stopped"
        if stall > 0:
            # Hold as many frames as allowed and sit on them: the producer must go on regardless.
            held = [sub.next(timeout=connect_timeout) for _ in range(sub.max_held)]
            _emit("stalled", index=index, seqs=[f.seq for f in held])
            time.sleep(stall)
            for f in held:
                f.release()
        while not stop:
            now = time.monotonic()
            if seconds is not None and now - started >= seconds:
                reason = "seconds"
                break
            if max_frames is not None and frames >= max_frames:
                reason = "max_frames"
                break
            try:
                frame = sub.next(timeout=0.2)
            except TimeoutError:
                continue
            except DisconnectedError:
                reason = "disconnected"
                break
            arrived_ns = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
            with frame:
                seq = frame.seq
                latencies_us.append((arrived_ns - frame.timestamp_ns) / 1000.0)
                frame.copy_to(packed)
                problems = pattern.check(seq, packed)
                if frame.pts != pattern.pts(seq):
                    problems.append(f"pts {frame.pts} != {pattern.pts(seq)}")
                if frame.metadata != pattern.metadata(seq):
                    problems.append(f"metadata {frame.metadata!r} != {pattern.metadata(seq)!r}")
                if last_seq and seq != last_seq + 1 + frame.missed:
                    problems.append(f"seq {seq} after {last_seq} with missed={frame.missed}")
                if last_seq and seq <= last_seq:
                    problems.append(f"seq went backwards: {seq} after {last_seq}")
                missed += frame.missed if last_seq else 0
                last_seq = seq
            frames += 1
            if problems:
                errors += 1
                if errors <= _MAX_PROBLEMS_REPORTED:
                    _emit("problem", index=index, seq=seq, problems=problems)
            now = time.monotonic()
            if now - last_report >= report_interval:
                fps = (frames - frames_at_last_report) / (now - last_report)
                _emit(
                    "stats",
                    index=index,
                    frames=frames,
                    missed=missed,
                    errors=errors,
                    fps=fps,
                    lat_us=latencies_us,
                    last_seq=last_seq,
                )
                latencies_us = []
                last_report, frames_at_last_report = now, frames
        elapsed = time.monotonic() - started
        _emit(
            "done",
            index=index,
            reason=reason,
            frames=frames,
            missed=missed,
            errors=errors,
            lat_us=latencies_us,
            last_seq=last_seq,
            fps=frames / elapsed if elapsed > 0 else 0.0,
        )
    return 1 if errors else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cuframes.cli._demo_worker", description=__doc__.splitlines()[0])
    parser.add_argument("--key", required=True)
    parser.add_argument("--dir", default=None)
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--connect-timeout", type=float, default=15.0)
    parser.add_argument("--max-frames", type=int, default=None, help="leave after this many frames")
    parser.add_argument("--seconds", type=float, default=None, help="leave after this long")
    parser.add_argument("--report-interval", type=float, default=0.25)
    parser.add_argument("--stall", type=float, default=0.0, help="first hold max_held frames this long")
    args = parser.parse_args(argv)
    try:
        return run(
            args.key,
            dir=args.dir,
            index=args.index,
            connect_timeout=args.connect_timeout,
            max_frames=args.max_frames,
            seconds=args.seconds,
            report_interval=args.report_interval,
            stall=args.stall,
        )
    except Exception as error:
        _emit(
            "done",
            index=args.index,
            reason="failed",
            error=f"{type(error).__name__}: {error}",
            frames=0,
            missed=0,
            errors=0,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
