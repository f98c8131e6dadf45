"""Idle CPU: a subscriber waiting in next() while nothing is published, on the cuda backend.

Through the core's own wait and through the Python facade (which waits in 1 s slices so
that Ctrl-C works). The measurement itself lives in bench/idle_and_disconnect.py.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from .common import Settings, row

# The same wait without cuframes: a process that only holds a CUDA primary
# context and sleeps. What the driver's own threads cost, for comparison.
CONTEXT_ONLY = """
import sys, time
from cuda.bindings import driver
seconds = float(sys.argv[1])
assert int(driver.cuInit(0)[0]) == 0
err, dev = driver.cuDeviceGet(0)
err, ctx = driver.cuDevicePrimaryCtxRetain(dev)
assert int(err) == 0, err
driver.cuCtxSetCurrent(ctx)
time.sleep(2)
cpu, wall = time.process_time(), time.monotonic()
time.sleep(seconds)
print(100 * (time.process_time() - cpu) / (time.monotonic() - wall))
"""


def context_only_percent(seconds: float) -> float:
    child = subprocess.run(
        [sys.executable, "-c", CONTEXT_ONLY, str(seconds)],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    return float(child.stdout.strip())


def run(settings: Settings) -> list[dict[str, Any]]:
    from bench.idle_and_disconnect import idle_cpu_percent

    seconds = 4.0 if settings.quick else 8.0
    rows: list[dict[str, Any]] = []
    for through_core, case in ((True, "idle-cpu core"), (False, "idle-cpu facade")):
        try:
            value = idle_cpu_percent("cuda", settings.work_dir, seconds, through_core)
            rows.append(row("idle", "cuframes", case, value=value, unit="% of a core", seconds=seconds))
        except Exception as error:  # reported, the harness goes on
            rows.append(row("idle", "cuframes", case, error=f"{type(error).__name__}: {error}"))
    try:
        rows.append(
            row(
                "idle",
                "cuda-context-only",
                "idle-cpu baseline",
                value=context_only_percent(seconds),
                unit="% of a core",
                seconds=seconds,
                note="a process holding a CUDA context and sleeping: the driver's share",
            )
        )
    except Exception as error:  # reported, the harness goes on
        rows.append(row("idle", "cuda-context-only", "idle-cpu baseline", error=f"{type(error).__name__}: {error}"))
    return rows


if __name__ == "__main__":
    from .standalone import main

    main(run)
