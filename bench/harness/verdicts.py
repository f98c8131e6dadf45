"""The verdict on each of the issue's targets, from a run's rows, such that none can lie.

A target is "met" or "MISSED" only when every row it rests on was measured for real:

- rows with an error, or skipped (``skipped`` as text), are never used;
- a smoke run's figures mean nothing: every target is "not judged" then;
- a latency row with fewer samples than its regime's count (``latency_us["n"]`` against
  ``Regime.frames``; a row without ``regime`` belongs to the first) is "not judged", stated;
- the C++ probe's targets are the cuda backend's: a host-backend fallback is no verdict;
- a comparison names the rows it compares, so it cannot fall back to another case (the host
  path is compared with borrow+first-kernel, the same GPU work on both sides, or not at all).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .common import Regime

Rows = list[dict[str, Any]]
Row = dict[str, Any] | None
LATENCY_FIELDS = ("latency_us", "over_sync_us")
#: The goal of a comparison that is shown but not judged (verdict "reported").
REPORT_ONLY = "report only"


def p50(r: Row, field: str = "latency_us") -> float | None:
    return None if r is None or field not in r else r[field].get("p50")


def _ratio_text(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


class Judge:
    """Finds rows and turns figures into targets, with the guards above."""

    def __init__(self, rows: Rows, regimes: Sequence[Regime], smoke: bool) -> None:
        self.rows = rows
        self.regimes = list(regimes)
        self.smoke = smoke
        self.out: list[dict[str, Any]] = []

    def find(self, regime: str | None = None, **match: Any) -> Row:
        """The first measured row whose fields equal ``match``, in ``regime`` (a row without one
        is in the first regime); None if there is none."""
        first = self.regimes[0].name if self.regimes else None
        for r in self.rows:
            if "error" in r or isinstance(r.get("skipped"), str):
                continue
            if regime is not None and r.get("regime", first) != regime:
                continue
            if all(r.get(k) == v for k, v in match.items()):
                return r
        return None

    def _too_few(self, used: Sequence[Row]) -> str:
        """Why the rows' sample counts do not allow a verdict, or ""."""
        counts = {regime.name: regime.frames for regime in self.regimes}
        first = self.regimes[0].name if self.regimes else None
        for r in used:
            if r is None:
                continue
            wanted = counts.get(r.get("regime", first))
            for field in LATENCY_FIELDS:
                n = r.get(field, {}).get("n") if isinstance(r.get(field), dict) else None
                if wanted is not None and n is not None and n < wanted:
                    return f"not judged: {r.get('method')} {r.get('case')} {r.get('size')} has n={n} < {wanted}"
        return ""

    def target(self, name: str, goal: str, measured: str, met: bool | None, used: Sequence[Row], why: str = "") -> None:
        """One verdict. ``met`` None: nothing to judge, either because the goal is REPORT_ONLY (the
        figures are shown, "reported") or because the rows are missing ("not measured")."""
        unjudged = "reported" if goal == REPORT_ONLY else "not measured"
        verdict = unjudged if met is None else ("met" if met else "MISSED")
        if self.smoke:
            verdict, why = "not judged", "smoke run: tiny counts, figures mean nothing"
        elif met is not None and (reason := self._too_few(used)):
            verdict, why = "not judged", reason
        self.out.append({"target": name, "goal": goal, "measured": measured, "verdict": verdict, "note": why})


def evaluate(
    rows: Rows, sizes: tuple[str, ...], regimes: Sequence[Regime] = (), smoke: bool = False
) -> list[dict[str, Any]]:
    """Each of the issue's targets, met or missed (or not judged, and why), from the rows."""
    judge = Judge(rows, regimes, smoke)
    names = [regime.name for regime in regimes] or [None]
    for regime in names:
        at = f", {regime}" if regime else ""
        for size in sizes:
            _latency_targets(judge, regime, at, size)
        _cpp_targets(judge, regime, at)
        _producer_targets(judge, regime, at, sizes)
        _host_path_targets(judge, regime, at, sizes)
        _peer_targets(judge, regime, at, sizes)
    _facade_targets(judge)
    _fanout_targets(judge)
    _tear_targets(judge)
    _other_targets(judge, sizes, names[0])
    return judge.out


def _latency_targets(judge: Judge, regime: str | None, at: str, size: str) -> None:
    find = judge.find
    r = find(regime, section="latency", method="cuframes", case="borrow-sleep", size=size)
    if r:  # "over the sync": from cuframes' own stamp when the row has it
        lat = r.get("over_sync_us") or r["latency_us"]
        judge.target(
            f"borrow, sleeping, {size}{at}",
            "p50 <= 10 us, p99 <= 50 us over the sync",
            f"p50 {lat['p50']:.1f}, p99 {lat['p99']:.1f} us",
            lat["p50"] <= 10 and lat["p99"] <= 50,
            [r],
        )
    r = find(regime, section="latency", method="cuframes", case="borrow-spin", size=size)
    core = find(regime, section="latency", method="cuframes", case="borrow-spin, core", size=size)
    for what, used in (("", r), (", through _core (no facade)", core)):
        if r and used:
            lat = used.get("over_sync_us") or used["latency_us"]
            judge.target(
                f"borrow, spinning, {size}{what}{at}",
                "p50 <= 2 us",
                f"p50 {lat['p50']:.2f} us",
                lat["p50"] <= 2,
                [used],
            )
    ours_row = find(regime, section="latency", method="cuframes", case="read_into", size=size)
    ours = p50(ours_row)
    for case, goal, informative in (
        ("copy+sync", "p50 <= 1.3 x floor (same run)", ""),
        (
            "copy+sync-after-peer",
            "p50 <= 1.3 x copy+sync-after-peer (informative)",
            ", against the cross-process floor",
        ),
    ):
        floor_row = find(regime, section="floor", method="floor", case=case, size=size)
        floor = p50(floor_row)
        if ours is not None and floor:
            judge.target(
                f"read_into, {size}{informative}{at}",
                goal,
                f"{ours:.1f} us = {ours / floor:.2f} x {case} {floor:.1f} us",
                ours <= 1.3 * floor,
                [ours_row, floor_row],
            )
    legacy_row = find(regime, section="latency", method="legacy_ipc", case="read_into", size=size)
    legacy = p50(legacy_row)
    if legacy and ours:
        judge.target(
            f"against legacy CUDA IPC, latency, {size}{at}",
            "at least equal (read_into p50)",
            f"cuframes {ours:.1f} us, legacy {legacy:.1f} us",
            ours <= legacy * 1.05,
            [ours_row, legacy_row],
            "within 5%: the two differ only in how the memory is shared",
        )


def _cpp_targets(judge: Judge, regime: str | None, at: str) -> None:
    for case, goal, limit in (
        ("borrow-sleep, C++ API", "p50 <= 10 us over the sync", 10),
        ("borrow-spin, C++ API", "p50 <= 2 us", 2),
    ):
        # The C++ goals are the cuda backend's: a host-backend fallback (no GPU) is no verdict.
        r = judge.find(regime, section="latency", method="cuframes-c++", case=case, backend="cuda")
        if r:
            judge.target(
                f"{case.replace(', C++ API', '')}, C++ publisher and subscriber{at}",
                goal,
                f"p50 {p50(r):.2f}, p99 {r['latency_us']['p99']:.2f} us",
                (p50(r) or 0) <= limit,
                [r],
            )


def _producer_targets(judge: Judge, regime: str | None, at: str, sizes: tuple[str, ...]) -> None:
    """cuframes' overhead over the sync, one subscriber, in every regime: on the caller's clock
    (acquire() + publish() after its own sync) and as Publisher.last_timing reports it."""
    for size in sizes:
        for case, how in (
            ("overhead, caller-timed", "caller's clock"),
            ("overhead (acquire+ring+wake)", "last_timing"),
        ):
            r = judge.find(regime, section="producer", method="cuframes", case=case, size=size)
            if r:
                lat = r["latency_us"]
                judge.target(
                    f"producer overhead, 1 subscriber, {size}, {how}{at}",
                    "<= 2 us over the sync (p50)",
                    f"p50 {lat['p50']:.2f}, p99 {lat['p99']:.2f} us",
                    lat["p50"] <= 2,
                    [r],
                )


# The host path's variants (bench/harness/alt_host_path.py, alt_host_staged.py): each verdict
# takes the best of them, so cuframes is never judged against a naive peer.
HOST_PATH_CASES = ("read_into", "read_into, pipelined", "read_into, zero-copy (mapped pinned)")


def best(judge: Judge, regime: str | None, cases: Sequence[str], **match: Any) -> Row:
    """Of the rows of ``cases`` (other fields as ``match``), the one with the lowest p50."""
    found = [judge.find(regime, case=case, **match) for case in cases]
    measured = [r for r in found if p50(r) is not None]
    return min(measured, key=lambda r: p50(r) or 0.0) if measured else None


def _host_path_targets(judge: Judge, regime: str | None, at: str, sizes: tuple[str, ...]) -> None:
    for size in sizes:
        host_row = best(judge, regime, HOST_PATH_CASES, section="latency", method="host_path", size=size)
        host = p50(host_row)
        for case, what in (
            ("borrow+first-kernel", "frame used by a kernel on the consumer's GPU (same work on both sides)"),
            ("read_into", "a private copy on both sides"),
        ):
            ours_row = judge.find(regime, section="latency", method="cuframes", case=case, size=size)
            ours = p50(ours_row)
            if host and ours and host_row:
                judge.target(
                    f"against the host path at its best, {size}, {what}{at}",
                    f">= 10 x lower latency (host path's best variant vs cuframes {case}, p50)",
                    f"host ({host_row['case']}) {host:.0f} us / cuframes {ours:.0f} us = {host / ours:.1f} x",
                    host >= 10 * ours,
                    [host_row, ours_row],
                    "both pay the GPU's switch between processes (cuframes at its first kernel)",
                )


def _peer_targets(judge: Judge, regime: str | None, at: str, sizes: tuple[str, ...]) -> None:
    """cuframes against legacy IPC and torch at their best (issue 19, item 7)."""
    ours = judge.find(regime, section="latency", method="cuframes-c++", case="borrow-sleep, C++ API", backend="cuda")
    legacy = judge.find(regime, section="latency", method="legacy_ipc", case="borrow, C++, one allocation")
    # Like for like: cuframes' C++ probe stamps once the frame is in the slot (it publishes
    # without a copy), so legacy's borrow is taken from after its copy into the slot too.
    theirs = (legacy or {}).get("over_sync_us", {}).get("p50")
    if p50(ours) and theirs:
        judge.target(
            f"against legacy CUDA IPC in C++ (one allocation), borrow{at}",
            "p50 <= 1.05 x legacy's (both in C++, from the frame being in shared memory)",
            f"cuframes {p50(ours):.2f} us, legacy {theirs:.2f} us ({_ratio_text(p50(ours), theirs)})",
            (p50(ours) or 0) <= 1.05 * theirs,
            [ours, legacy],
        )
    for size in sizes:
        mine = judge.find(regime, section="latency", method="cuframes", case="read_into", size=size)
        torch = judge.find(regime, section="latency", method="torch_mp", case="read_into", size=size, variant="pooled")
        if p50(mine) and p50(torch):
            judge.target(
                f"against torch.multiprocessing at its best (pool shared once), read_into, {size}{at}",
                REPORT_ONLY,
                f"cuframes {p50(mine):.1f} us, torch {p50(torch):.1f} us ({_ratio_text(p50(mine), p50(torch))})",
                None,
                [mine, torch],
            )


def _facade_targets(judge: Judge) -> None:
    """The facade against the C++ API (bench/harness/facade.py), per backend measured."""
    find = judge.find
    for backend in ("host", "cuda"):
        cpp = find(section="facade", method="c++", case=f"borrow-spin, {backend}")
        facade = find(section="facade", method="facade", case=f"borrow-spin, {backend}")
        core = p50(find(section="facade", method="_core", case=f"borrow-spin, {backend}"))
        if p50(cpp) and p50(facade):
            ratio = (p50(facade) or 0) / (p50(cpp) or 1)
            judge.target(
                f"facade borrow, spinning, {backend}",
                "p50 <= 1.3 x the C++ API's (same run)",
                f"facade {p50(facade):.2f}, _core {core or float('nan'):.2f}, C++ {p50(cpp):.2f} us = {ratio:.2f} x",
                ratio <= 1.3,
                [cpp, facade],
            )
    loop = find(section="facade", method="facade for-loop", case="cpu per frame, host")
    core_cpu = find(section="facade", method="_core next+release", case="cpu per frame, host")
    if loop and core_cpu and "value" in loop and "value" in core_cpu:
        over = (loop["value"] - core_cpu["value"]) / 1e3
        judge.target(
            "`for frame in sub`, CPU per frame over _core",
            "<= 1 us",
            f"{over:.2f} us ({loop['value']:.0f} against {core_cpu['value']:.0f} ns)",
            over <= 1.0,
            [loop, core_cpu],
        )


def _fanout_targets(judge: Judge) -> None:
    fan = [r for r in judge.rows if r.get("section") == "fanout" and "error" not in r and "overhead_us" in r]
    for case, goal, enough in (
        ("max-rate", "<= 2 us over the sync, up to 64 subscribers", 64),
        ("25fps", "<= 2 us over the sync, 64 subscribers at 25 fps", 64),
    ):
        rows = [r for r in fan if r.get("case") == case]
        if not rows:
            continue
        for field, how in (("overhead_caller_us", "caller's clock"), ("overhead_us", "last_timing")):
            pairs = [(r["subscribers"], r[field]["p50"]) for r in rows if r.get(field, {}).get("n")]
            if pairs:
                text = ", ".join(f"{n} subs {v:.2f}" for n, v in sorted(pairs))
                judge.target(
                    f"producer overhead, fan-out {case}, {how}",
                    goal,
                    f"p50 {text} us",
                    max(v for _, v in pairs) <= 2 and max(n for n, _ in pairs) >= enough,
                    rows,
                )
    r = next((r for r in fan if r.get("case") == "25fps"), None)
    if r and r.get("torn") is not None and r.get("checked_for_tearing"):
        cpu = r["cpu_percent_per_subscriber"]
        judge.target(
            f"fan-out, {r['subscribers']} subscribers at 25 fps",
            "64 subscribers, 0 torn, 0 missed",
            f"torn {r['torn']}, missed {r['missed']}, CPU p50 {cpu['p50']:.3f}% per subscriber",
            r["torn"] == 0 and r["missed"] == 0 and r["subscribers"] >= 64,
            [r],
        )


def _tear_targets(judge: Judge) -> None:
    for backend in ("host", "cuda"):
        held = next((r for r in judge.rows if _tear(r, backend, "held ")), None)
        control = next((r for r in judge.rows if _tear(r, backend, "control:")), None)
        if held:
            judge.target(
                f"no torn frame while held, {backend}",
                "0 torn of the frames held 0-2 ms at the fewest slots and the highest rate; producer never waits",
                f"torn {held['torn']} of {held['checked']}, producer skipped {held['producer_skipped']}, "
                f"{held['published_fps']:.0f} fps, {held['slots']} slots",
                held["checked"] > 0 and held["torn"] == 0 and held["producer_skipped"] == 0,
                [held],
            )
        if control:
            judge.target(
                f"the tear check can fail (control), {backend}",
                "every read after release() of a rewritten slot found torn",
                f"torn {control['torn']} of {control['checked']} ({control['inconclusive']} inconclusive)",
                control["checked"] > 0 and control["torn"] == control["checked"],
                [control],
                "met means the check sees tears; otherwise the held check proves nothing",
            )


def _tear(r: dict[str, Any], backend: str, prefix: str) -> bool:
    return (
        r.get("section") == "tear"
        and r.get("backend") == backend
        and "error" not in r
        and str(r.get("case", "")).startswith(prefix)
    )


def _other_targets(judge: Judge, sizes: tuple[str, ...], first: str | None) -> None:
    find = judge.find
    mps = find(first, section="mps", case="read_into", size="1080p")
    floor = find(first, section="floor", method="floor", case="copy+sync", size="1080p")
    if p50(mps) and p50(floor):
        ratio = (p50(mps) or 0) / (p50(floor) or 1)
        judge.target(
            "read_into, 1080p, under MPS",
            "p50 <= 1.3 x floor (same run)",
            f"{p50(mps):.1f} us = {ratio:.2f} x floor {p50(floor):.1f} us",
            ratio <= 1.3,
            [mps, floor],
        )
    idle = find(section="idle", case="idle-cpu core")
    if idle and "value" in idle:
        judge.target(
            "idle CPU", "< 0.1% of a core per idle subscriber", f"{idle['value']:.3f}%", idle["value"] < 0.1, [idle]
        )
    ours = p50(find(section="attach", method="cuframes"), "latency_ms")
    # Legacy at its best: one cuIpcOpenMemHandle for the whole pool, or one per slot.
    legacy = min(
        (p50(r, "latency_ms") or float("inf"))
        for r in (
            find(section="attach", method="legacy_ipc", case="attach-16x4k"),
            find(section="attach", method="legacy_ipc", case="attach-16x4k, one allocation"),
        )
    )
    if ours and legacy != float("inf"):
        judge.target(
            "against legacy CUDA IPC at its best, attach (16 x 4K slots)",
            "far lower attach cost",
            f"cuframes {ours:.2f} ms, legacy's best {legacy:.2f} ms ({_ratio_text(legacy, ours)})",
            ours <= 0.5 * legacy,
            [],
        )
    nv = find(section="nvdec", case="throughput-retention")
    if nv and nv.get("value") is not None:
        judge.target(
            "NVDEC throughput kept when sharing",
            ">= 0.95 of the decoded fps published to the subscribers",
            f"{nv.get('published_fps', 0):.0f} of {nv.get('decoded_fps', 0):.0f} fps = {nv['value']:.3f}",
            nv["value"] >= 0.95,
            [nv],
        )
