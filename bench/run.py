"""The benchmark suite: cuframes, the physical floor and the alternatives, in one run.

    python bench/run.py [--quick] [--only SECTION,...] [--out DIR]

Needs a CUDA GPU, torch (the producer's frames and the subscribers' buffers) and
cuda-bindings; the NVDEC section also PyNvVideoCodec and the clip made by
bench/make_clip.sh (it reports itself skipped without them). The full run takes under
8 minutes on an H100; --quick (about 2) is what scripts/gpu-check.sh runs.

Writes bench/results/bench-{full,quick}.{json,md,png}, and the same into $OUT when set,
each stamped with the device, driver and date; prints the table and the verdict on
every target last. bench/RESULTS.md explains the latest figures.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
import sys
import tempfile
import time
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:  # `python bench/run.py` from anywhere; spawned children inherit the path
    sys.path.insert(0, REPO)

from bench.harness import report  # noqa: E402
from bench.harness.common import Settings, device_meta, row  # noqa: E402

# In run order: the floor first, so that everything after is read against it.
SECTIONS: dict[str, str] = {
    "floor": "bench.harness.floor",
    "wake_floor": "bench.harness.wake_floor",
    "latency": "bench.harness.cuframes_latency",
    "core_probe": "bench.harness.core_probe",
    "legacy_ipc": "bench.harness.alt_legacy_ipc",
    "host_path": "bench.harness.alt_host_path",
    "torch_mp": "bench.harness.alt_torch_mp",
    "fanout": "bench.harness.fanout",
    "idle": "bench.harness.idle",
    "nvdec": "bench.harness.alt_nvdec",
    "packets": "bench.harness.packets",
    "mps": "bench.harness.mps",
}


def run_sections(names: list[str], settings: Settings) -> tuple[list[dict[str, Any]], dict[str, float]]:
    rows: list[dict[str, Any]] = []
    seconds: dict[str, float] = {}
    for name in names:
        start = time.monotonic()
        print(f"== {name}", flush=True)
        try:
            section_rows = importlib.import_module(SECTIONS[name]).run(settings)
        except Exception as error:  # a broken section is reported, the others still run
            section_rows = [row(name, name, "section", error=f"{type(error).__name__}: {error}")]
        seconds[name] = round(time.monotonic() - start, 1)
        for r in section_rows:
            print("   ", report.text_table([r], []).splitlines()[1], flush=True)
        rows += section_rows
    return rows, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames, 1080p only, smaller fan-out (~2 min)")
    parser.add_argument("--only", default="", help=f"comma-separated sections of: {', '.join(SECTIONS)}")
    parser.add_argument("--out", default=os.path.join(REPO, "bench", "results"), help="results folder")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cuframes-bench-") as work_dir:
        settings = Settings.make(args.quick, work_dir)
        rows, seconds = run_sections(names, settings)
    targets = report.evaluate(rows, settings.sizes)
    result = {"meta": device_meta(), "command": "python bench/run.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
              "settings": {k: v for k, v in vars(settings).items() if k != "work_dir"},
              "section_seconds": seconds, "total_seconds": round(time.monotonic() - started, 1),
              "rows": rows, "targets": targets}
    directories = [args.out] + ([os.environ["OUT"]] if os.environ.get("OUT") else [])
    written = report.write(result, directories, "bench-quick" if args.quick else "bench-full")

    meta = result["meta"]
    print()
    print(f"cuframes bench ({'quick' if args.quick else 'full'}): {meta['device']}, driver {meta['driver']}, "
          f"{meta['date']}, {result['total_seconds']:.0f} s; sections: "
          + ", ".join(f"{k} {v:.0f}s" for k, v in seconds.items()))
    print(report.text_table(rows, targets))
    print("written: " + ", ".join(written))
    failed = [r for r in rows if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
