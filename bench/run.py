"""The benchmark suite: cuframes, the physical floor and the alternatives, in one run.

    python bench/run.py [--quick] [--only SECTION,...] [--regimes 0.3ms,25fps] [--merge EARLIER.json]... [--out DIR]
    python bench/run.py --report --merge PART.json... [--out DIR]

Most sections need a CUDA GPU, torch (the producer's frames and the subscribers'
buffers) and cuda-bindings; without a usable GPU each of them is skipped with one line,
and the others (wake_floor, core_probe, packets) still run. The NVDEC section also needs
PyNvVideoCodec and the clip made by bench/make_clip.sh (it reports itself skipped
without them). The full run takes about 35 minutes on an H100, most of it the 25 fps cases
(600 frames 40 ms apart per case), so it is run in parts there (below); --quick (a few minutes) is
what scripts/gpu-check.sh runs.

Writes bench-{full,quick}.{json,md,png} into --out (default: $XDG_CACHE_HOME/cuframes/bench,
i.e. ~/.cache/cuframes/bench; never into the source tree unless asked with
--out bench/results), and the same into $OUT when set, each stamped with the device,
driver and date; prints the table, the verdict on every target and the files written
last. bench/RESULTS.md explains the latest figures.

A full run can be split over several calls (each under 10 minutes on a GPU machine): run
groups of sections with --only (and of regimes with --regimes), then the last group with
``--merge`` naming the earlier runs' JSON: their rows for the sections and regimes this run
did not measure are merged in before the verdicts, and each is recorded in ``merged_from``
(its command, device, date, settings, sections and regimes). ``--report`` measures nothing: it
writes the report of the ``--merge`` files alone (all from one device and driver, whose stamp
it keeps), for when the last group ran out of time.

After each section the rows so far are written to ``<stem>.partial.json`` in the same folders,
and removed when the run completes: a run killed by a time limit (the GPU machine's 10 minutes)
keeps what it measured, and that file can be given to ``--merge`` like a finished run's
(``"complete": false`` and ``"not_run"`` say what it lacks).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import json
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:  # `python bench/run.py` from anywhere; spawned children inherit the path
    sys.path.insert(0, REPO)

from bench.harness import report  # noqa: E402
from bench.harness.common import FRAME_SIZES, Settings, device_meta, row  # noqa: E402

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
    "tear": "bench.harness.tear",
    "idle": "bench.harness.idle",
    "nvdec": "bench.harness.alt_nvdec",
    "packets": "bench.harness.packets",
    "mps": "bench.harness.mps",
    "convert": "bench.harness.convert",
    "facade": "bench.harness.facade",
    "notify": "bench.harness.notify",
    "engines": "bench.harness.engines",
    "bounce": "bench.harness.bounce",
}
# The sections that measure GPU memory. The others run on any machine.
NEEDS_GPU = (
    "floor",
    "latency",
    "legacy_ipc",
    "host_path",
    "torch_mp",
    "fanout",
    "idle",
    "nvdec",
    "mps",
    "convert",
    "engines",
    "bounce",
)


def default_out() -> str:
    """Results go to the user's cache, not into the checkout (which they would dirty)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "cuframes", "bench")


def gpu_unavailable_reason() -> str | None:
    """Why the GPU sections cannot run here, or None when they can."""
    try:
        import cuframes
    except ImportError as error:
        return f"cuframes is not importable: {error}"
    return None if cuframes.cuda_available() else cuframes.cuda_unavailable_reason()


def run_sections(
    names: list[str],
    settings: Settings,
    no_gpu: str | None,
    checkpoint: Callable[[list[dict[str, Any]], dict[str, float]], None] = lambda rows, seconds: None,
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Runs each section in turn; ``checkpoint`` gets the rows and times so far after each one."""
    rows: list[dict[str, Any]] = []
    seconds: dict[str, float] = {}
    for name in names:
        if no_gpu is not None and name in NEEDS_GPU:
            print(f"== {name}: skipped, needs a CUDA GPU ({no_gpu})", flush=True)
            continue
        start = time.monotonic()
        print(f"== {name}", flush=True)
        try:
            section_rows = importlib.import_module(SECTIONS[name]).run(settings)
        except Exception as error:  # a broken section is reported, the others still run
            section_rows = [row(name, name, "section", error=f"{type(error).__name__}: {error}")]
        seconds[name] = round(time.monotonic() - start, 1)
        for r in section_rows:
            r.setdefault("part", name)  # the run section it came from: what --merge goes by
            print("   ", report.text_table([r], []).splitlines()[1], flush=True)
        rows += section_rows
        checkpoint(rows, seconds)
    return rows, seconds


def merge(paths: list[str], names: list[str], regimes: set[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows of earlier runs (their JSON) that this run does not measure: those of sections not
    in ``names``, and those of a regime not in ``regimes`` (so that a run can be split by regime
    too); a later file wins over an earlier one for the same section and regime. Also what each
    earlier run was. ValueError when a file is unreadable or was not written by this harness."""
    # (section, regime) -> (the index of the file it comes from, its rows): a later file replaces.
    taken: dict[tuple[str, str | None], tuple[int, list[dict[str, Any]]]] = {}
    merged_from: list[dict[str, Any]] = []
    for index, path in enumerate(paths):
        try:
            with open(path) as f:
                earlier = json.load(f)
            rows = earlier["rows"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(f"--merge {path}: not a bench run's JSON ({type(error).__name__}: {error})") from None
        untagged = [r for r in rows if "part" not in r]
        if untagged:
            raise ValueError(f"--merge {path}: {len(untagged)} rows name no section ('part'): run it again")
        kept = [r for r in rows if r["part"] not in names or r.get("regime", "") not in regimes | {""}]
        for group in dict.fromkeys((r["part"], r.get("regime")) for r in kept):  # in the file's order
            taken[group] = (index, [r for r in kept if (r["part"], r.get("regime")) == group])
        merged_from.append(
            {
                "path": path,
                "command": earlier.get("command"),
                "meta": earlier.get("meta"),
                "settings": earlier.get("settings"),
                "skipped_sections": earlier.get("skipped_sections") or [],
                # A checkpoint of a run cut short (``.partial.json``): the sections it never reached.
                **({"not_run": earlier.get("not_run") or []} if earlier.get("complete") is False else {}),
            }
        )
    for index, source in enumerate(merged_from):  # what each file gave, once later ones replaced theirs
        groups = [group for group, (owner, _) in taken.items() if owner == index]
        source["sections"] = sorted({part for part, _ in groups})
        source["regimes"] = sorted({regime for _, regime in groups if regime})
    return [r for _, rows in taken.values() for r in rows], merged_from


def merged_meta(merged_from: list[dict[str, Any]]) -> dict[str, Any]:
    """--report's stamp: the merged runs' device and driver, which must be one; ValueError if not."""
    machines = {(str((m["meta"] or {}).get("device")), str((m["meta"] or {}).get("driver"))) for m in merged_from}
    if len(machines) != 1:
        found = "; ".join(f"{device}, driver {driver}" for device, driver in sorted(machines))
        raise ValueError(f"--report: the --merge files come from {len(machines)} machines ({found}), not one")
    dates = sorted(str((m["meta"] or {}).get("date")) for m in merged_from)
    meta = dict(merged_from[-1]["meta"])
    meta.update(date=dates[-1], measured_from=dates[0], reported=device_meta()["date"])
    return meta


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames, 1080p only, smaller fan-out (~2 min)")
    parser.add_argument("--only", default="", help=f"comma-separated sections of: {', '.join(SECTIONS)}")
    parser.add_argument("--out", default=None, help=f"results folder (default: {default_out()})")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny counts, to check that the sections run (CI); figures and verdicts mean nothing then",
    )
    parser.add_argument(
        "--regimes", default="", help="comma-separated rates to measure latencies at: 0.3ms, 25fps (default: all)"
    )
    parser.add_argument(
        "--merge",
        action="append",
        default=[],
        metavar="PATH",
        help="an earlier run's JSON whose rows for sections not run now are merged in (repeatable)",
    )
    parser.add_argument(
        "--report",
        action="store_true",
        help="measure nothing: write the report of the --merge files (one device) alone",
    )
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    if args.report and (args.only or args.regimes or not args.merge):
        parser.error("--report measures nothing: give it --merge files, and neither --only nor --regimes")
    if args.report:
        names = []
    known = [r.name for r in Settings.make(args.quick, "", smoke=args.smoke).all_regimes]
    chosen = tuple(n.strip() for n in args.regimes.split(",") if n.strip())
    if [n for n in chosen if n not in known]:
        parser.error(f"unknown regime(s) in {args.regimes!r}; choose from {', '.join(known)}")
    try:
        merged, merged_from = merge(args.merge, names, set(chosen or known))
        meta = merged_meta(merged_from) if args.report else device_meta()
    except ValueError as error:
        parser.error(str(error))

    directories = [args.out or default_out()] + ([os.environ["OUT"]] if os.environ.get("OUT") else [])
    stem = "bench-smoke" if args.smoke else "bench-quick" if args.quick else "bench-full"
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cuframes-bench-") as work_dir:
        settings = Settings.make(args.quick, work_dir, smoke=args.smoke)
        settings = dataclasses.replace(settings, regime_names=chosen)
        no_gpu = None if args.report else gpu_unavailable_reason()

        def result_of(rows: list[dict[str, Any]], seconds: dict[str, float]) -> dict[str, Any]:
            return {
                "meta": meta,
                "merged_from": merged_from,
                "command": "python bench/run.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
                "settings": {k: v for k, v in vars(settings).items() if k != "work_dir"},
                "section_seconds": seconds,
                "total_seconds": round(time.monotonic() - started, 1),
                "skipped_sections": [n for n in names if no_gpu is not None and n in NEEDS_GPU]
                + [n for m in merged_from for n in (m.get("skipped_sections") or [])],
                "rows": rows,
            }

        def checkpoint(rows: list[dict[str, Any]], seconds: dict[str, float]) -> None:
            partial = result_of(list(rows), dict(seconds))
            partial.update(complete=False, not_run=[n for n in names if n not in seconds])
            report.write_json(partial, directories, stem + ".partial")

        rows, seconds = run_sections(names, settings, no_gpu, checkpoint)
    result = result_of(rows + merged, seconds)
    sizes = tuple(dict.fromkeys([*settings.sizes, *(r["size"] for r in merged if r.get("size") in FRAME_SIZES)]))
    measured = {r.get("regime") for r in merged} | ({r.name for r in settings.regimes} if names else set())
    regimes = tuple(r for r in settings.all_regimes if r.name in measured)
    result["targets"] = report.evaluate(result["rows"], sizes, regimes, smoke=args.smoke)
    written = report.write(result, directories, stem)
    for directory in directories:  # the run completed: its checkpoint is superseded
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(directory, stem + ".partial.json"))

    print()
    print(
        f"cuframes bench ({stem.removeprefix('bench-')}): {meta['device']}, driver {meta['driver']}, "
        f"{meta['date']}, {result['total_seconds']:.0f} s; sections: "
        + ", ".join(f"{k} {v:.0f}s" for k, v in seconds.items())
    )
    print(report.text_table(result["rows"], result["targets"]))
    print("written: " + ", ".join(written))
    failed = [r for r in result["rows"] if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
