"""Publish -> borrow latency of the C++ core alone, without Python on either side.

Compiles bench/cpp/latency_probe.cpp against the installed package's headers and
library (c++ on PATH), then runs it on the cuda backend with a sleeping and a spinning
subscriber, in every regime of Settings.regimes (the probe paces itself in C++). The
difference from the Python rows of the latency section is what the
Python facade adds; the difference from the wake floor is what cuframes adds.

The probe's frames are not written (64x64, nothing to copy into the slot), so it times from
cuframes' own stamp after publish()'s sync: these rows compare with the latency section's
``over_sync_us``, and the C++ targets are judged "over the sync", on the cuda backend only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from typing import Any

from .common import Regime, Settings, row

SOURCE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cpp", "latency_probe.cpp")


def build(work_dir: str) -> str:
    import cuframes

    compiler = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if compiler is None:
        raise RuntimeError("no C++ compiler on PATH")
    library_dir = os.path.join(os.path.dirname(cuframes.__file__), "lib")
    binary = os.path.join(work_dir, "latency_probe")
    subprocess.run(
        [
            compiler,
            "-std=c++17",
            "-O2",
            SOURCE,
            "-I",
            cuframes.get_include(),
            "-L",
            library_dir,
            "-lcuframes",
            f"-Wl,-rpath,{library_dir}",
            "-o",
            binary,
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=180,
    )
    return binary


def probe(binary: str, backend: str, spin_ns: int, case: str, regime: Regime, budget_s: float) -> dict[str, Any]:
    """One run of the probe in ``regime`` (its pacing done in C++): a latency row, or an error row."""
    try:
        done = subprocess.run(
            [
                binary,
                backend,
                str(spin_ns),
                str(regime.frames),
                str(regime.warmup),
                str(round(regime.period_s * 1e6)),
            ],
            capture_output=True,
            text=True,
            timeout=budget_s + 60 + 2 * (regime.frames + regime.warmup) * regime.period_s,
            check=True,
        )
        p50, p99, p999, worst, missed = done.stdout.split()
        return row(
            "latency",
            "cuframes-c++",
            case,
            "64x64",
            latency_us={
                "p50": float(p50),
                "p99": float(p99),
                "p999": float(p999),
                "max": float(worst),
                "n": regime.frames,
            },
            missed=int(missed),
            skipped=int(missed),
            backend=backend,
            regime=regime.name,
            note="bench/cpp/latency_probe.cpp: C++ publisher and subscriber processes, 64x64 gray8 "
            "frames (the borrow does not depend on the frame size)",
        )
    except (subprocess.SubprocessError, ValueError, OSError) as error:
        detail = getattr(error, "stderr", "") or ""
        return row(
            "latency",
            "cuframes-c++",
            case,
            "64x64",
            regime=regime.name,
            backend=backend,
            error=f"{error} {detail[-500:]}",
        )


def run(settings: Settings) -> list[dict[str, Any]]:
    import cuframes

    backend = "cuda" if cuframes.cuda_available() else "host"
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="cuframes-probe-") as work_dir:
        try:
            binary = build(work_dir)
        except (subprocess.CalledProcessError, RuntimeError, OSError) as error:
            detail = getattr(error, "stderr", "") or ""
            return [
                row("latency", "cuframes-c++", "probe", error=f"building the probe failed: {error} {detail[-500:]}")
            ]
        for regime in settings.regimes:
            for spin_ns, case in ((0, "borrow-sleep, C++ API"), (-1, "borrow-spin, C++ API")):
                rows.append(probe(binary, backend, spin_ns, case, regime, settings.budget_s))
    return rows


if __name__ == "__main__":
    from .standalone import main

    main(run)
