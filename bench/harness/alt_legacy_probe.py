"""Legacy CUDA IPC at its best, with its stamps taken in C++: runs bench/cpp/legacy_ipc_probe.cpp.

Python on either side adds wake-up and call costs that cuframes' C++ probe (core_probe.py) does not
pay; this is the same comparison for legacy IPC. The probe is compiled at run time into
``settings.work_dir`` (c++ on PATH, cuda.h found as cuframes' build finds it: the CUDA toolkit, then
the nvidia-cuda-runtime wheel); libcuda is dlopen'ed by the probe, so nothing links it. Without a
compiler or cuda.h the rows say why they were skipped.

Every slot lives in ONE cuMemAlloc, shared by one cuIpcGetMemHandle / cuIpcOpenMemHandle; slots are
found by offset. The producer stamps when the frame is complete in its private buffer (before its
copy into the slot); the consumer sleeps in poll() on a socketpair, takes the newest frame, stamps
``borrow`` (it holds the slot's pointer), copies the slot into its own buffer, syncs and stamps
``read_into``. One process pair per size and regime (``alt_support.regimes_for``: back to back at
every size, 25 fps at 1080p only). Run from the legacy_ipc section, or alone:

    python -m bench.harness.alt_legacy_probe [--quick]
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from typing import Any

from .alt_support import find_cuda_include, regime_seconds, regimes_for
from .common import Regime, Settings, nv12_bytes, row
from .standalone import main

SOURCE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cpp", "legacy_ipc_probe.cpp")
SLOTS = 16
CASES = {"borrow": "borrow, C++, one allocation", "read_into": "read_into, C++, one allocation"}


class ProbeUnavailable(RuntimeError):
    """The probe cannot be built here (no compiler or no cuda.h): its rows are skipped, not failed."""


def compile_command(binary: str, source: str = SOURCE) -> list[str]:
    """The compiler command for a probe of bench/cpp/ (default: this one), or ProbeUnavailable saying
    what is missing."""
    compiler = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if compiler is None:
        raise ProbeUnavailable("no C++ compiler on PATH (c++, g++ or clang++)")
    include = find_cuda_include()
    if include is None:
        raise ProbeUnavailable(
            "no cuda.h: install the CUDA toolkit or `pip install nvidia-cuda-runtime`, or set CUDA_HOME"
        )
    return [compiler, "-std=c++17", "-O2", "-Wall", "-Wextra", source, "-I", include, "-ldl", "-o", binary]


def build(work_dir: str, source: str = SOURCE) -> str:
    """Compiles the probe ``source`` into ``work_dir``; its path."""
    binary = os.path.join(work_dir, os.path.splitext(os.path.basename(source))[0])
    done = subprocess.run(compile_command(binary, source), capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        raise RuntimeError(f"compiling {os.path.basename(source)} failed: {done.stderr[-800:]}")
    return binary


def run_pair(binary: str, settings: Settings, size: str, regime: Regime) -> tuple[dict[str, Any], dict[str, Any]]:
    """One producer and one consumer process of the probe; their JSON (consumer, producer)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    args = [
        str(settings.device),
        str(nv12_bytes(size)),
        str(SLOTS),
        str(regime.frames),
        str(regime.warmup),
        str(round(regime.period_s * 1e6)),
    ]
    procs: list[subprocess.Popen[str]] = []
    try:
        for mode, sock in (("producer", ours), ("consumer", theirs)):
            fd = sock.fileno()
            procs.append(
                subprocess.Popen(
                    [binary, mode, str(fd), *args],
                    pass_fds=(fd,),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        ours.close()  # each child holds its own end: a child that dies hangs up on the other
        theirs.close()
        timeout = regime_seconds(regime) + 60
        outputs = []
        for mode, proc in reversed(list(zip(("producer", "consumer"), procs))):  # the consumer decides the end
            out, err = proc.communicate(timeout=timeout)
            if proc.returncode != 0:
                raise RuntimeError(f"the probe's {mode} exited {proc.returncode}: {err.strip()[-500:]}")
            outputs.append(json.loads(out))
            timeout = 30
        return outputs[0], outputs[1]
    finally:
        ours.close()
        theirs.close()
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


def run(settings: Settings) -> list[dict[str, Any]]:
    first = CASES["read_into"]
    try:
        binary = build(settings.work_dir)
    except ProbeUnavailable as reason:
        return [row("latency", "legacy_ipc", first, "-", skipped=str(reason))]
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        return [row("latency", "legacy_ipc", first, "-", error=f"building the probe failed: {error}")]
    rows: list[dict[str, Any]] = []
    for size in settings.sizes:
        for regime in regimes_for(settings, size):
            try:
                consumer, producer = run_pair(binary, settings, size, regime)
            except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as error:
                rows.append(row("latency", "legacy_ipc", first, size, regime=regime.name, error=str(error)))
                continue
            note = (
                f"bench/cpp/legacy_ipc_probe.cpp, C++ on both sides: {SLOTS} slots in ONE cuMemAlloc (stride "
                f"{consumer['stride']} B), one cuIpcGetMemHandle/cuIpcOpenMemHandle, slots by offset; frames "
                "announced over a socketpair (consumer sleeps in poll(), takes the newest); latency from the "
                "producer's stamp (frame complete in its private buffer, before its copy into the slot); borrow "
                "and read_into (cuMemcpyDtoDAsync + cuStreamSynchronize) stamped on the same frames; "
                f"{producer['published']} frames published, {producer['dropped']} dropped as their slot was "
                "still being read"
            )
            for key, case in CASES.items():
                # borrow also from after the producer's copy into the slot and its sync: the point
                # cuframes' C++ probe (latency_probe.cpp, no copy) stamps at, for a like-for-like verdict.
                extra = {"copy_us": consumer["copy"]} if key == "read_into" else {}
                if key == "borrow":
                    extra = {"over_sync_us": consumer["borrow_over_sync"]}
                rows.append(
                    row(
                        "latency",
                        "legacy_ipc",
                        case,
                        size,
                        latency_us=consumer[key],
                        missed=consumer["missed"],
                        regime=regime.name,
                        note=note,
                        **extra,
                    )
                )
    return rows


if __name__ == "__main__":
    sys.exit(main(run))
