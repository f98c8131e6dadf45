"""read_into under CUDA MPS: does sharing one GPU context remove the hand-over cost?

Without MPS, a process that starts GPU work right after another process's work pays
the GPU's switch between their contexts (the floor section's copy+sync-after-peer:
about 150 us on an H100), and every cross-process read_into pays it. MPS runs the
clients' work in one server context. This section starts a private MPS control
daemon (its own pipe and log folders, so only the processes started here use it;
the card's settings are not touched), runs cuframes' read_into and split cases
through it, and stops the daemon. Skipped when nvidia-cuda-mps-control is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

from .common import Settings, row

CASES = ("borrow-sleep", "read_into", "split")

RUNNER = """
import dataclasses, json, sys
from bench.harness.common import Settings
from bench.harness import cuframes_latency
import torch
settings = Settings(**json.loads(sys.argv[1]))
rows = []
for case in sys.argv[2:]:
    rows += cuframes_latency.run_case(settings, "1080p", case, torch)
print("ROWS " + json.dumps(rows))
"""


def run(settings: Settings) -> list[dict[str, Any]]:
    control = shutil.which("nvidia-cuda-mps-control")
    if control is None:
        return [row("mps", "cuframes+MPS", "read_into", "1080p", skipped="nvidia-cuda-mps-control is not installed")]
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with tempfile.TemporaryDirectory(prefix="cuframes-mps-") as folder:
        env = dict(
            os.environ,
            CUDA_MPS_PIPE_DIRECTORY=os.path.join(folder, "pipe"),
            CUDA_MPS_LOG_DIRECTORY=os.path.join(folder, "log"),
            PYTHONPATH=repo + os.pathsep + os.environ.get("PYTHONPATH", ""),
        )
        os.makedirs(env["CUDA_MPS_PIPE_DIRECTORY"])
        os.makedirs(env["CUDA_MPS_LOG_DIRECTORY"])
        started = subprocess.run([control, "-d"], env=env, capture_output=True, text=True, timeout=30)
        if started.returncode != 0:
            return [
                row(
                    "mps",
                    "cuframes+MPS",
                    "read_into",
                    "1080p",
                    skipped=f"the MPS daemon did not start: {started.stderr.strip() or started.returncode}",
                )
            ]
        try:
            fields = {
                k: v for k, v in vars(settings).items() if k in {f.name for f in Settings.__dataclass_fields__.values()}
            }
            fields["sizes"] = list(fields["sizes"])
            done = subprocess.run(
                [sys.executable, "-c", RUNNER, json.dumps(fields), *CASES],
                env=env,
                cwd=repo,
                capture_output=True,
                text=True,
                timeout=settings.budget_s * len(CASES) + 120,
            )
            lines = [line for line in done.stdout.splitlines() if line.startswith("ROWS ")]
            if done.returncode != 0 or not lines:
                return [
                    row(
                        "mps",
                        "cuframes+MPS",
                        "read_into",
                        "1080p",
                        error=f"exit {done.returncode}: {(done.stderr or done.stdout)[-800:]}",
                    )
                ]
            rows = json.loads(lines[-1][5:])
        finally:
            subprocess.run([control], input="quit\n", env=env, capture_output=True, text=True, timeout=30)
    for r in rows:
        r["section"] = "mps"
        r["method"] = "cuframes+MPS"
        r["note"] = "producer and subscriber as clients of one private MPS server"
    return rows


if __name__ == "__main__":
    from .standalone import main

    main(run)
