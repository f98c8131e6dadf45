"""Turns the rows of a harness run into the verdict on each target, a table, JSON,
Markdown and a PNG plot."""

from __future__ import annotations

import json
import os
from typing import Any

Rows = list[dict[str, Any]]


def find(rows: Rows, **match: Any) -> dict[str, Any] | None:
    """The first row whose fields equal `match` and that has no error."""
    for r in rows:
        if "error" not in r and all(r.get(k) == v for k, v in match.items()):
            return r
    return None


def p50(r: dict[str, Any] | None, field: str = "latency_us") -> float | None:
    return None if r is None or field not in r else r[field].get("p50")


def _target(name: str, goal: str, measured: str, met: bool | None, why: str = "") -> dict[str, Any]:
    return {
        "target": name,
        "goal": goal,
        "measured": measured,
        "verdict": "not measured" if met is None else ("met" if met else "MISSED"),
        "note": why,
    }


def _ratio_text(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def evaluate(rows: Rows, sizes: tuple[str, ...]) -> list[dict[str, Any]]:
    """Each of the issue's targets, met or missed, from this run's rows."""
    out: list[dict[str, Any]] = []
    for size in sizes:
        r = find(rows, section="latency", method="cuframes", case="borrow-sleep", size=size)
        if r:
            lat = r["latency_us"]
            out.append(
                _target(
                    f"borrow, sleeping, {size}",
                    "p50 <= 10 us, p99 <= 50 us over the sync",
                    f"p50 {lat['p50']:.1f}, p99 {lat['p99']:.1f} us",
                    lat["p50"] <= 10 and lat["p99"] <= 50,
                )
            )
        r = find(rows, section="latency", method="cuframes", case="borrow-spin", size=size)
        core = find(rows, section="latency", method="cuframes", case="borrow-spin, core", size=size)
        if r and core:
            out.append(
                _target(
                    f"borrow, spinning, {size}, through _core (no facade)",
                    "p50 <= 2 us",
                    f"p50 {p50(core):.2f} us",
                    p50(core) <= 2,
                )
            )
        if r:
            out.append(_target(f"borrow, spinning, {size}", "p50 <= 2 us", f"p50 {p50(r):.2f} us", p50(r) <= 2))
        ours = p50(find(rows, section="latency", method="cuframes", case="read_into", size=size))
        floor = p50(find(rows, section="floor", method="floor", case="copy+sync", size=size))
        if ours is not None and floor is not None:
            out.append(
                _target(
                    f"read_into, {size}",
                    "p50 <= 1.3 x floor (same run)",
                    f"{ours:.1f} us = {ours / floor:.2f} x floor {floor:.1f} us",
                    ours <= 1.3 * floor,
                )
            )
    for case, goal, limit in (
        ("borrow-sleep, C++ API", "p50 <= 10 us over the sync", 10),
        ("borrow-spin, C++ API", "p50 <= 2 us", 2),
    ):
        r = find(rows, section="latency", method="cuframes-c++", case=case)
        # The C++ goals are the cuda backend's: a host-backend fallback (no GPU) is no verdict.
        if r and r.get("backend") == "cuda":
            out.append(
                _target(
                    f"{case.replace(', C++ API', '')}, C++ publisher and subscriber",
                    goal,
                    f"p50 {p50(r):.2f}, p99 {r['latency_us']['p99']:.2f} us",
                    p50(r) <= limit,
                )
            )
    out += _facade_targets(rows)
    for size in sizes:
        # Not one of the targets: the same ratio against the floor that a
        # second process can reach (its copy right after the producer's work).
        ours = p50(find(rows, section="latency", method="cuframes", case="read_into", size=size))
        peer = p50(find(rows, section="floor", method="floor", case="copy+sync-after-peer", size=size))
        if ours and peer:
            out.append(
                _target(
                    f"read_into, {size}, against the cross-process floor",
                    "p50 <= 1.3 x copy+sync-after-peer (informative)",
                    f"{ours:.1f} us = {ours / peer:.2f} x {peer:.1f} us",
                    ours <= 1.3 * peer,
                )
            )
    mps = p50(find(rows, section="mps", case="read_into", size="1080p"))
    floor = p50(find(rows, section="floor", method="floor", case="copy+sync", size="1080p"))
    if mps and floor:
        out.append(
            _target(
                "read_into, 1080p, under MPS",
                "p50 <= 1.3 x floor (same run)",
                f"{mps:.1f} us = {mps / floor:.2f} x floor {floor:.1f} us",
                mps <= 1.3 * floor,
            )
        )
    overheads = [
        (r["subscribers"], r["overhead_us"]["p50"])
        for r in rows
        if r.get("section") == "fanout" and r.get("case") == "max-rate" and "error" not in r
    ]
    if overheads:
        worst = max(v for _, v in overheads)
        text = ", ".join(f"{n} subs {v:.2f}" for n, v in sorted(overheads))
        out.append(
            _target(
                "producer overhead",
                "<= 2 us over the sync, up to 64 subscribers",
                f"p50 {text} us",
                worst <= 2 and max(n for n, _ in overheads) >= 64,
            )
        )
    r = next((r for r in rows if r.get("section") == "fanout" and r.get("case") == "25fps" and "error" not in r), None)
    if r:
        cpu = r["cpu_percent_per_subscriber"]
        out.append(
            _target(
                f"fan-out, {r['subscribers']} subscribers at 25 fps",
                "64 subscribers, 0 torn, 0 missed",
                f"torn {r['torn']}, missed {r['missed']}, CPU p50 {cpu['p50']:.3f}% per subscriber",
                r["torn"] == 0 and r["missed"] == 0 and r["subscribers"] >= 64,
            )
        )
    idle = find(rows, section="idle", case="idle-cpu core")
    if idle:
        out.append(
            _target("idle CPU", "< 0.1% of a core per idle subscriber", f"{idle['value']:.3f}%", idle["value"] < 0.1)
        )
    if "4k" in sizes:
        host = p50(find(rows, section="latency", method="host_path", case="read_into", size="4k"))
        borrow = p50(find(rows, section="latency", method="cuframes", case="borrow-sleep", size="4k"))
        ours = p50(find(rows, section="latency", method="cuframes", case="read_into", size="4k"))
        if host and borrow:
            # The host path has no zero-copy form: its frame is usable on the
            # consumer's GPU only after the HtoD copy; cuframes' after the borrow.
            out.append(
                _target(
                    "against the host path, 4K, frame usable on the consumer's GPU",
                    ">= 10 x lower latency (cuframes borrow vs host DtoH+HtoD, p50)",
                    f"host {host:.0f} us / cuframes {borrow:.0f} us = {host / borrow:.1f} x",
                    host >= 10 * borrow,
                )
            )
        if host and ours:
            out.append(
                _target(
                    "against the host path, 4K, a private copy on both sides",
                    ">= 10 x lower latency (read_into p50)",
                    f"host {host:.0f} us / cuframes {ours:.0f} us = {host / ours:.1f} x",
                    host >= 10 * ours,
                    "both pay the GPU hand-over between processes (floor copy+sync-after-peer)",
                )
            )
    for size in sizes:
        legacy = p50(find(rows, section="latency", method="legacy_ipc", case="read_into", size=size))
        ours = p50(find(rows, section="latency", method="cuframes", case="read_into", size=size))
        if legacy and ours:
            out.append(
                _target(
                    f"against legacy CUDA IPC, latency, {size}",
                    "at least equal (read_into p50)",
                    f"cuframes {ours:.1f} us, legacy {legacy:.1f} us",
                    ours <= legacy * 1.05,
                    "within 5%: the two differ only in how the memory is shared",
                )
            )
    ours = p50(find(rows, section="attach", method="cuframes"), "latency_ms")
    legacy = p50(find(rows, section="attach", method="legacy_ipc"), "latency_ms")
    if ours and legacy:
        out.append(
            _target(
                "against legacy CUDA IPC, attach (16 x 4K slots)",
                "far lower attach cost",
                f"cuframes {ours:.2f} ms, legacy {legacy:.2f} ms ({_ratio_text(legacy, ours)})",
                ours <= 0.5 * legacy,
            )
        )
    nv = find(rows, section="nvdec", case="cameras")
    if nv and nv.get("ratio") is not None:
        out.append(
            _target(
                "against one decode per consumer",
                ">= 3 x cameras, 3 consumers each",
                f"{nv.get('cameras_shared', 0):.0f} vs {nv.get('cameras_per_consumer', 0):.0f} cameras "
                f"= {nv['ratio']:.2f} x",
                nv["ratio"] >= 3,
            )
        )
    return out


def _facade_targets(rows: Rows) -> list[dict[str, Any]]:
    """The facade against the C++ API (bench/harness/facade.py), per backend measured."""
    out: list[dict[str, Any]] = []
    for backend in ("host", "cuda"):
        cpp = p50(find(rows, section="facade", method="c++", case=f"borrow-spin, {backend}"))
        facade = p50(find(rows, section="facade", method="facade", case=f"borrow-spin, {backend}"))
        core = p50(find(rows, section="facade", method="_core", case=f"borrow-spin, {backend}"))
        if cpp and facade:
            out.append(
                _target(
                    f"facade borrow, spinning, {backend}",
                    "p50 <= 1.3 x the C++ API's (same run)",
                    f"facade {facade:.2f}, _core {core or float('nan'):.2f}, C++ {cpp:.2f} us = {facade / cpp:.2f} x",
                    facade <= 1.3 * cpp,
                )
            )
    loop = find(rows, section="facade", method="facade for-loop", case="cpu per frame, host")
    core_cpu = find(rows, section="facade", method="_core next+release", case="cpu per frame, host")
    if loop and core_cpu and "value" in loop and "value" in core_cpu:
        over = (loop["value"] - core_cpu["value"]) / 1e3
        out.append(
            _target(
                "`for frame in sub`, CPU per frame over _core",
                "<= 1 us",
                f"{over:.2f} us ({loop['value']:.0f} against {core_cpu['value']:.0f} ns)",
                over <= 1.0,
            )
        )
    return out


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
        extra.append(f"n={lat['n']}" + (f", skipped={skipped}" if isinstance(skipped, int) else ""))
    if r.get("regime"):
        extra.append(f"regime={r['regime']}")
    for field in ("value", "unit", "subscribers", "published_fps", "delivered_fps_mean", "missed", "torn", "note"):
        if r.get(field) is not None:
            extra.append(f"{field}={_fmt(r[field])}")
    if "overhead_us" in r:
        extra.append(f"overhead p50={_fmt(r['overhead_us'].get('p50'))} us")
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
    labels = [f"{r['method']} {r['case']} {r['size']}" for r in latency]
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


def write(report: dict[str, Any], directories: list[str], stem: str) -> list[str]:
    """JSON, Markdown and PNG of the report into each directory; the paths written."""
    written: list[str] = []
    for directory in directories:
        os.makedirs(directory, exist_ok=True)
        base = os.path.join(directory, stem)
        with open(base + ".json", "w") as out:
            json.dump(report, out, indent=1)
        with open(base + ".md", "w") as out:
            out.write(markdown(report))
        written += [base + ".json", base + ".md"]
        png = plot(report, base + ".png")
        if png:
            written.append(png)
    return written
