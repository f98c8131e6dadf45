"""read_into through pinned host memory, issued from C++: runs bench/cpp/bounce_probe.cpp.

The engines section's bounce (engines_read.py, issued from Python) escaped most of the GPU's switch
between contexts (its copy took 135 µs after a peer, 125 µs back to back) but its download and
upload did not overlap: 125 µs is the two added. Python's per-call cost may be what serialised
them. This section answers, for each frame size, with the copies issued from C++:

- does a chunked bounce overlap its two directions (``bounce, CHUNK`` against ``bounce, serial``,
  ``dtoh`` and ``htod`` alone), on the CPU's clock and the GPU's (events around the copy);
- does it still escape the switch (the same, ``after peer``: the first GPU work after another
  process's frame copy + sync) where ``dtod``, what read_into's copy is, pays it.

If a C++ bounce after a peer beats ``dtod`` after a peer, read_into can use it for device
destinations; if not, these rows are the measurement that shows it. Rows: section ``engines``,
method ``bounce-probe``, case ``<variant>, <alone|after peer>``, ``latency_us`` the CPU's submit ->
sync returned, ``gpu_us`` the GPU's, settings.frames samples each.

    python -m bench.harness.bounce [--quick]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from .alt_legacy_probe import ProbeUnavailable, build
from .common import Settings, nv12_bytes, row
from .standalone import main

SOURCE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cpp", "bounce_probe.cpp")
#: Per-sample ceiling for the time limit: a 4K round of 8 variants, each after the peer's copy.
ROUND_S = 0.02


def probe(binary: str, settings: Settings, size: str) -> dict[str, Any]:
    """One run of the probe (it forks its peer itself); its JSON. RuntimeError with its message."""
    rounds, warmup = settings.frames, min(settings.warmup, settings.frames)
    command = [binary, str(nv12_bytes(size)), str(rounds), str(warmup), str(settings.device)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60 + (rounds + warmup) * ROUND_S)
    if done.returncode != 0:
        raise RuntimeError(f"bounce_probe exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout)


def run(settings: Settings) -> list[dict[str, Any]]:
    try:
        binary = build(settings.work_dir, SOURCE)
    except ProbeUnavailable as reason:
        return [row("engines", "bounce-probe", "bounce", "-", skipped=str(reason))]
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        return [row("engines", "bounce-probe", "bounce", "-", error=f"building the probe failed: {error}")]
    rows: list[dict[str, Any]] = []
    for size in settings.sizes:
        try:
            result = probe(binary, settings, size)
        except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as error:
            rows.append(row("engines", "bounce-probe", "bounce", size, error=str(error)))
            continue
        for case in result["cases"]:
            note = (
                "bench/cpp/bounce_probe.cpp: one frame of this process's own memory, copies issued from C++; "
                "latency_us: submit -> sync returned (CPU), gpu_us: events around the copy"
            )
            if case["phase"] == "after peer":
                note += "; the first GPU work after another process's frame copy + sync (turn handed over, not timed)"
            rows.append(
                row(
                    "engines",
                    "bounce-probe",
                    f"{case['variant']}, {case['phase']}",
                    size,
                    latency_us=case["cpu_us"],
                    gpu_us=case["gpu_us"],
                    note=note,
                )
            )
    return rows


if __name__ == "__main__":
    sys.exit(main(run))
