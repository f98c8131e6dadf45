"""Turns the rows of a harness run into a table, JSON, Markdown and a PNG plot; the verdict
on each target is bench/harness/verdicts.py's (``evaluate``, re-exported here)."""

from __future__ import annotations

import json
import os
from typing import Any

from .verdicts import evaluate

__all__ = ["evaluate", "markdown", "text_table", "write"]

Rows = list[dict[str, Any]]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}" if value < 100 else f"{value:.0f}"
    return str(value)


def _describe(r: dict[str, Any]) -> list[str]:
    """method, case, size, p50, p99, p99.9, other: one table line per row."""
    lat = r.get("latency_ms") or r.get("latency_us") or r.get("publish_latency_us")
    extra = []
    if "error" in r:
        extra.append(f"ERROR {r['error']}")
    if isinstance(r.get("skipped"), str):  # the row was not measured, and says why
        extra.append(f"skipped: {r['skipped']}")
    if lat and "n" in lat:  # the sample count and the frames left out, beside every percentile
        skipped = r.get("skipped")
        extra.append(f"n={lat['n']}, skipped={skipped if isinstance(skipped, int) else '-'}")
    if r.get("regime"):
        extra.append(f"regime={r['regime']}")
    for field in (
        "value",
        "unit",
        "subscribers",
        "published_fps",
        "delivered_fps_mean",
        "missed",
        "checked",
        "torn",
        "inconclusive",
        "producer_skipped",
        "note",
    ):
        if r.get(field) is not None:
            extra.append(f"{field}={_fmt(r[field])}")
    if "overhead_us" in r:
        extra.append(f"overhead p50={_fmt(r['overhead_us'].get('p50'))} us")
    if "overhead_caller_us" in r:
        extra.append(f"caller-timed p50={_fmt(r['overhead_caller_us'].get('p50'))} us")
    unit = "ms" if "latency_ms" in r else "us"
    cells = [r.get("method", ""), r.get("case", ""), r.get("size", "")]
    if lat and "p50" in lat:
        cells += [_fmt(lat["p50"]), _fmt(lat["p99"]), _fmt(lat["p999"]), unit]
    else:
        cells += ["", "", "", ""]
    return cells + ["; ".join(extra)]


HEADER = ["method", "case", "size", "p50", "p99", "p99.9", "unit", "other"]


def text_table(rows: Rows, targets: list[dict[str, Any]]) -> str:
    lines = [f"{'section':<9} {'method':<11} {'case':<30} {'size':<6} {'p50':>8} {'p99':>8} {'p99.9':>8} unit  other"]
    for r in rows:
        method, case, size, a, b, c, unit, other = _describe(r)
        lines.append(f"{r['section']:<9} {method:<11} {case:<30} {size:<6} {a:>8} {b:>8} {c:>8} {unit:<4}  {other}")
    lines.append("")
    lines.append("targets:")
    for t in targets:
        lines.append(f"  [{t['verdict']:>6}] {t['target']}: {t['measured']} (goal {t['goal']})")
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    meta = report["meta"]
    out = [
        f"Device: {meta.get('device')}, driver {meta.get('driver')}, {meta.get('cpus')} CPUs, {meta.get('date')}",
        f"Command: `{report['command']}`",
        "",
        "| target | goal | measured | verdict |",
        "| --- | --- | --- | --- |",
    ]
    out += [f"| {t['target']} | {t['goal']} | {t['measured']} | {t['verdict']} |" for t in report["targets"]]
    out += ["", "| section | " + " | ".join(HEADER) + " |", "| --- " * (len(HEADER) + 1) + "|"]
    out += [f"| {r['section']} | " + " | ".join(_describe(r)) + " |" for r in report["rows"]]
    return "\n".join(out) + "\n"


def plot(report: dict[str, Any], path: str) -> str | None:
    """Latency percentiles by method, and fan-out throughput against subscribers. None if
    matplotlib is missing (the JSON and the table still hold everything)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rows = report["rows"]
    latency = [
        r
        for r in rows
        if r.get("section") in ("latency", "floor") and r.get("latency_us", {}).get("n") and r["latency_us"]["p50"] > 0
    ]
    fan = sorted(
        (r for r in rows if r.get("section") == "fanout" and r.get("case") == "max-rate" and "error" not in r),
        key=lambda r: r["subscribers"],
    )
    fig, (left, right) = plt.subplots(1, 2, figsize=(15, 6))
    labels = [f"{r['method']} {r['case']} {r['size']} {r.get('regime', '')}" for r in latency]
    ys = range(len(latency))
    for q, marker in (("p50", "o"), ("p99", "s"), ("p999", "^")):
        left.scatter([r["latency_us"][q] for r in latency], ys, marker=marker, label=q)
    left.set_yticks(list(ys), labels, fontsize=7)
    if latency:
        left.set_xscale("log")
    left.set_xlabel("latency from the producer's sync (us, log)")
    left.legend()
    left.grid(True, which="both", axis="x", alpha=0.3)
    left.set_title("latency by method")
    if fan:
        n = [r["subscribers"] for r in fan]
        right.plot(n, [r["published_fps"] for r in fan], "o-", label="published fps")
        right.plot(n, [r["delivered_fps_mean"] for r in fan], "s-", label="delivered fps per subscriber (mean)")
        right.set_xscale("log", base=2)
        right.set_xlabel("subscribers")
        right.set_ylabel("frames per second (1080p NV12)")
        twin = right.twinx()
        twin.plot(n, [r["publish_latency_us"]["p50"] for r in fan], "^--", color="gray", label="publish() p50 (us)")
        twin.set_ylabel("publish() p50 incl. sync (us)")
        right.legend(loc="lower left")
        twin.legend(loc="lower right")
        right.set_title("fan-out at maximum rate")
    meta = report["meta"]
    fig.suptitle(f"cuframes bench: {meta.get('device')} driver {meta.get('driver')} {meta.get('date')}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_json(report: dict[str, Any], directories: list[str], stem: str) -> list[str]:
    """The report's JSON alone into each directory, replaced whole (a temporary file renamed, so
    that a run killed mid-write leaves the previous checkpoint, not half of one); the paths."""
    written: list[str] = []
    for directory in directories:
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, stem + ".json")
        with open(path + ".tmp", "w") as out:
            json.dump(report, out, indent=1)
        os.replace(path + ".tmp", path)
        written.append(path)
    return written


def write(report: dict[str, Any], directories: list[str], stem: str) -> list[str]:
    """JSON, Markdown and PNG of the report into each directory; the paths written."""
    written: list[str] = []
    for base in (path.removesuffix(".json") for path in write_json(report, directories, stem)):
        with open(base + ".md", "w") as out:
            out.write(markdown(report))
        written += [base + ".json", base + ".md"]
        png = plot(report, base + ".png")
        if png:
            written.append(png)
    return written
