"""Running one section alone: ``python -m bench.harness.<module> [--quick]`` from the repository root
prints that section's rows as JSON on stdout (progress and errors go to stderr).

Each section module ends with::

    if __name__ == "__main__":
        sys.exit(main(run))
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from typing import Any

from .common import FRAME_SIZES, Settings, device_meta


def parse_settings(argv: list[str] | None, description: str, work_dir: str) -> tuple[Settings, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="the quick settings (fewer frames, 1080p only)")
    parser.add_argument("--frames", type=int, default=None, help="latency samples per case (after warm-up)")
    parser.add_argument("--warmup", type=int, default=None, help="frames dropped first")
    parser.add_argument("--sizes", default=None, help=f"comma-separated, of {', '.join(FRAME_SIZES)}")
    parser.add_argument("--period", type=float, default=None, help="seconds between publishes")
    parser.add_argument("--device", type=int, default=None, help="CUDA ordinal")
    parser.add_argument("--budget", type=float, default=None, help="section time budget, seconds")
    parser.add_argument("--work-dir", default=None, help="where sockets go (default: a new temporary folder)")
    parser.add_argument("--meta", action="store_true", help="print {meta, rows} instead of the rows alone")
    args = parser.parse_args(argv)
    settings = Settings.make(args.quick, args.work_dir or work_dir)
    changes: dict[str, Any] = {}
    if args.frames is not None:
        changes["frames"] = max(1, args.frames)
    if args.warmup is not None:
        changes["warmup"] = max(0, args.warmup)
    if args.sizes:
        sizes = tuple(s.strip() for s in args.sizes.split(",") if s.strip())
        unknown = [s for s in sizes if s not in FRAME_SIZES]
        if unknown:
            parser.error(f"unknown size(s) {unknown}; known: {list(FRAME_SIZES)}")
        changes["sizes"] = sizes
    if args.period is not None:
        changes["period_s"] = args.period
    if args.device is not None:
        changes["device"] = args.device
    if args.budget is not None:
        changes["budget_s"] = args.budget
    return dataclasses.replace(settings, **changes), args


def main(
    run: Callable[[Settings], list[dict[str, Any]]], argv: list[str] | None = None, description: str | None = None
) -> int:
    """Parses the command line, runs ``run(settings)``, prints the rows as JSON; 1 on failure."""
    doc = description or (sys.modules[run.__module__].__doc__ or "").strip().splitlines()[0:1]
    with tempfile.TemporaryDirectory(prefix="cuframes-bench-") as work_dir:
        settings, args = parse_settings(argv, doc if isinstance(doc, str) else " ".join(doc), work_dir)
        start = time.monotonic()
        try:
            rows = run(settings)
        except Exception:
            traceback.print_exc()
            return 1
        spec = getattr(sys.modules.get(run.__module__), "__spec__", None)
        name = spec.name if spec is not None else run.__module__
        print(f"{name}: {len(rows)} rows in {time.monotonic() - start:.1f} s", file=sys.stderr)
    out: Any = {"meta": device_meta(), "settings": dataclasses.asdict(settings), "rows": rows} if args.meta else rows
    json.dump(out, sys.stdout, indent=2)
    print()
    return 0
