"""`cuframes bench` on a machine without a GPU: each GPU section is skipped with one
line (no ERROR rows, no child's command line), the run exits 0, and the results go to
the user's cache folder, not into the source checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import cuframes

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(cuframes.cuda_available(), reason="checks the run on a machine without a usable GPU")
def test_bench_without_a_gpu_skips_its_sections_and_writes_outside_the_checkout(tmp_path):
    results = REPO / "bench" / "results"
    before = {path: path.stat().st_mtime_ns for path in results.iterdir()} if results.is_dir() else {}
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-m", "cuframes", "bench", "--only", "floor,latency,fanout"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    skipped = [line for line in done.stdout.splitlines() if "skipped, needs a CUDA GPU" in line]
    assert [line.split(":")[0] for line in skipped] == ["== floor", "== latency", "== fanout"], done.stdout
    assert "ERROR" not in done.stdout and "python -c" not in done.stdout + done.stderr
    out = tmp_path / "cache" / "cuframes" / "bench"
    assert (out / "bench-full.json").is_file() and f"written: {out}" in done.stdout
    after = {path: path.stat().st_mtime_ns for path in results.iterdir()} if results.is_dir() else {}
    assert after == before, "bench wrote into the source checkout"
