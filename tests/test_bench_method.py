"""The benchmark's method on a CPU (issue 19): the wake floor measured from C, the tear check and
its control, the verdict guards, and run.py's --merge and --regimes. The figures are not checked
(speed targets live in bench/); that each part measures what it says, and can fail, is."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # bench/ is not an installed package
    sys.path.insert(0, str(REPO))

from bench.harness import tear, verdicts, wake_floor  # noqa: E402
from bench.harness.common import Settings, latency_row, row  # noqa: E402


def smoke(tmp_path: Path) -> Settings:
    return Settings.make(False, str(tmp_path), smoke=True)


@pytest.mark.timeout(120)
@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler (cc) to build bench/cpp/wake_floor.c")
def test_wake_floor_from_c_and_from_python_in_every_regime(tmp_path):
    settings = smoke(tmp_path)
    rows = wake_floor.run(settings)
    assert not [r for r in rows if "error" in r or "skipped" in r and isinstance(r["skipped"], str)], rows
    for regime in settings.regimes:
        for case in wake_floor.CASES:
            for method, origin in (("wake-floor", "from C"), ("wake-floor-py", "from Python")):
                [r] = [
                    r
                    for r in rows
                    if r["regime"] == regime.name and r["method"] == method and r["case"] == f"{case[1]}, {origin}"
                ]
                lat = r["latency_us"]
                # Every frame is one sample (the parent waits for the child to take each), and a
                # hand-off takes time but not a whole period.
                assert lat["n"] == regime.frames and r["skipped"] == 0
                assert 0 < lat["p50"] <= lat["max"] < 1e6


def test_wake_floor_without_a_compiler_is_a_stated_skip(tmp_path, monkeypatch):
    monkeypatch.setattr(wake_floor.shutil, "which", lambda name: None)
    monkeypatch.setattr(wake_floor, "run_mode", lambda settings, spin, regime: [1.0] * regime.frames)
    rows = wake_floor.run(smoke(tmp_path))
    from_c = [r for r in rows if r["method"] == "wake-floor"]
    assert from_c and all("no C compiler" in r["skipped"] and "error" not in r for r in from_c)
    from_python = [r for r in rows if r["method"] == "wake-floor-py"]
    assert len(from_python) == len(from_c) and all("error" not in r for r in from_python)


@pytest.mark.timeout(120)
def test_tear_check_finds_no_tear_in_held_frames_and_every_tear_after_release(tmp_path):
    held, control = tear.run_backend(smoke(tmp_path), "host", 1.0)
    assert held["slots"] == tear.SUBSCRIBERS * tear.MAX_HELD + 2  # the Publisher's minimum
    assert held["checked"] > 0 and held["torn"] == 0 and held["producer_skipped"] == 0
    # The control reads a slot the producer has provably rewritten: every read must be torn,
    # so a check that could not see a tear fails here.
    assert control["checked"] > 0 and control["torn"] == control["checked"]


def test_tear_pages_see_a_single_changed_page(tmp_path):
    """The check compares every page, not a sample: one changed word is a tear."""
    import numpy as np

    buffer = np.zeros(3 * tear.PAGE, dtype=np.uint8)
    pages = tear.Pages("host", 0)
    address = buffer.ctypes.data
    pages.write(address, 3, 7)
    assert pages.all_equal(address, 3, 7)
    buffer[2 * tear.PAGE] = 8
    assert not pages.all_equal(address, 3, 7)


def _latency(case: str, n: int, p50: float, **fields: Any) -> dict[str, Any]:
    r = latency_row("latency", "cuframes", case, "4k", [p50] * n, **fields)
    return r


def _verdicts(rows: list[dict[str, Any]], settings: Settings, smoke_run: bool = False) -> dict[str, str]:
    out = verdicts.evaluate(rows, ("4k",), settings.regimes, smoke=smoke_run)
    return {t["target"]: t["verdict"] + (f" ({t['note']})" if t["note"] else "") for t in out}


def test_verdicts_need_the_regimes_sample_count(tmp_path):
    settings = dataclasses.replace(smoke(tmp_path), frames=20)
    full = _verdicts([_latency("borrow-sleep", 20, 5.0, regime="0.3ms")], settings)
    assert full["borrow, sleeping, 4k, 0.3ms"] == "met"
    short = _verdicts([_latency("borrow-sleep", 19, 5.0, regime="0.3ms")], settings)
    assert (
        short["borrow, sleeping, 4k, 0.3ms"].startswith("not judged")
        and "n=19 < 20" in short["borrow, sleeping, 4k, 0.3ms"]
    )
    # A row without a regime is the first regime's, with its count.
    assert _verdicts([_latency("borrow-sleep", 19, 5.0)], settings)["borrow, sleeping, 4k, 0.3ms"].startswith(
        "not judged"
    )
    assert _verdicts([_latency("borrow-sleep", 20, 50.0)], settings)["borrow, sleeping, 4k, 0.3ms"] == "MISSED"


def test_verdicts_of_a_smoke_run_are_not_judged(tmp_path):
    settings = smoke(tmp_path)
    judged = _verdicts([_latency("borrow-sleep", 50, 5.0, regime="0.3ms")], settings, smoke_run=True)
    assert judged and all(v.startswith("not judged") for v in judged.values())


def test_verdicts_ignore_fallbacks_skips_and_errors(tmp_path):
    settings = smoke(tmp_path)
    probe = row(
        "latency",
        "cuframes-c++",
        "borrow-sleep, C++ API",
        "64x64",
        latency_us={"p50": 1.0, "p99": 2.0, "n": 50},
        backend="host",
        regime="0.3ms",
    )
    rows = [
        probe,
        row("latency", "cuframes", "borrow-spin", "4k", regime="0.3ms", error="boom"),
        row("latency", "cuframes", "borrow-sleep", "4k", regime="0.3ms", skipped="no GPU"),
    ]
    assert _verdicts(rows, settings) == {}
    judged = _verdicts([{**probe, "backend": "cuda"}], settings)
    assert judged == {"borrow-sleep, C++ publisher and subscriber, 0.3ms": "met"}


def test_host_path_is_compared_only_with_the_same_gpu_work(tmp_path):
    settings = smoke(tmp_path)
    host = latency_row("latency", "host_path", "read_into", "4k", [500.0] * 50, regime="0.3ms")
    borrow = _latency("borrow-sleep", 50, 10.0, regime="0.3ms")
    assert not [t for t in _verdicts([host, borrow], settings) if "host path" in t]
    kernel = _latency("borrow+first-kernel", 50, 160.0, regime="0.3ms")
    judged = _verdicts([host, borrow, kernel], settings)
    same_work = "against the host path at its best, 4k, frame used by a kernel on the consumer's GPU"
    assert judged[f"{same_work} (same work on both sides), 0.3ms"].startswith("MISSED")


def test_host_path_is_judged_at_its_best_variant(tmp_path):
    """The verdict takes the host path's fastest variant, not its first row."""
    settings = smoke(tmp_path)
    plain = latency_row("latency", "host_path", "read_into", "4k", [5000.0] * 50, regime="0.3ms")
    piped = latency_row("latency", "host_path", "read_into, pipelined", "4k", [900.0] * 50, regime="0.3ms")
    kernel = _latency("borrow+first-kernel", 50, 100.0, regime="0.3ms")
    targets = verdicts.evaluate([plain, piped, kernel], ("4k",), settings.regimes, smoke=False)
    (target,) = [t for t in targets if t["target"].startswith("against the host path at its best, 4k")]
    assert "read_into, pipelined" in target["measured"] and "= 9.0 x" in target["measured"]


def test_tear_control_that_finds_nothing_is_missed(tmp_path):
    common = dict(backend="host", slots=6, published_fps=1000.0, producer_skipped=0, inconclusive=0)
    rows = [
        row("tear", "cuframes", "held 0-2 ms, checked before release, host", "1080p", checked=10, torn=0, **common),
        row("tear", "cuframes", "control: checked after release, host", "1080p", checked=10, torn=0, **common),
    ]
    judged = _verdicts(rows, smoke(tmp_path))
    assert judged["no torn frame while held, host"] == "met"
    assert judged["the tear check can fail (control), host"].startswith("MISSED")


def _bench(*args: str, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--smoke", "--out", str(out), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.timeout(300)
@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler (cc) to build bench/cpp/wake_floor.c")
def test_merge_takes_the_earlier_runs_other_sections_and_records_them(tmp_path):
    first = _bench("--only", "wake_floor", "--regimes", "25fps", out=tmp_path / "first")
    assert first.returncode == 0, first.stdout + first.stderr
    earlier = json.loads((tmp_path / "first" / "bench-smoke.json").read_text())
    assert {r["regime"] for r in earlier["rows"]} == {"25fps"} and {r["part"] for r in earlier["rows"]} == {
        "wake_floor"
    }
    first_json = tmp_path / "first" / "bench-smoke.json"
    second = _bench("--only", "tear", "--merge", str(first_json), out=tmp_path / "second")
    assert second.returncode == 0, second.stdout + second.stderr
    merged = json.loads((tmp_path / "second" / "bench-smoke.json").read_text())
    assert {r["part"] for r in merged["rows"]} == {"wake_floor", "tear"}
    assert len([r for r in merged["rows"] if r["part"] == "wake_floor"]) == len(earlier["rows"])
    [source] = merged["merged_from"]
    assert source["sections"] == ["wake_floor"] and source["command"] == earlier["command"]
    # A section and regime measured now is not taken from the earlier run; another regime is.
    third = tmp_path / "third"
    again = _bench("--only", "wake_floor", "--regimes", "0.3ms", "--merge", str(first_json), out=third)
    assert again.returncode == 0, again.stdout + again.stderr
    result = json.loads((third / "bench-smoke.json").read_text())
    assert sorted(r["regime"] for r in result["rows"]) == sorted(
        ["0.3ms"] * len(earlier["rows"]) + ["25fps"] * len(earlier["rows"])
    )
    assert result["merged_from"][0]["regimes"] == ["25fps"]
    fourth = tmp_path / "fourth"
    same = _bench("--only", "wake_floor", "--regimes", "25fps", "--merge", str(first_json), out=fourth)
    assert same.returncode == 0, same.stdout + same.stderr
    result = json.loads((fourth / "bench-smoke.json").read_text())
    assert result["merged_from"][0]["sections"] == [] and len(result["rows"]) == len(earlier["rows"])


def test_merge_refuses_what_it_cannot_attribute(tmp_path):
    stale = tmp_path / "old.json"
    stale.write_text(json.dumps({"rows": [{"section": "latency", "method": "cuframes", "case": "x"}]}))
    done = _bench("--only", "wake_floor", "--merge", str(stale), out=tmp_path / "out")
    assert done.returncode == 2 and "name no section" in done.stderr
    done = _bench("--only", "wake_floor", "--regimes", "1fps", out=tmp_path / "out")
    assert done.returncode == 2 and "unknown regime" in done.stderr


@pytest.mark.timeout(300)
@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler (cc) to build bench/cpp/wake_floor.c")
def test_a_run_killed_midway_keeps_its_sections_and_report_merges_them(tmp_path):
    """The GPU machine kills a call at its time limit: the sections done by then must survive in
    bench-smoke.partial.json, and --report must turn such parts into a report without measuring."""
    out = tmp_path / "cut"
    partial = out / "bench-smoke.partial.json"
    # notify waits on idle CPUs for many seconds even in a smoke run: time enough to kill it there.
    command = [sys.executable, str(REPO / "bench" / "run.py"), "--smoke", "--out", str(out)]
    run = subprocess.Popen([*command, "--only", "wake_floor,notify"], cwd=REPO, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not partial.exists() and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert partial.exists(), f"no checkpoint after the first section (exit {run.poll()})"
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
    cut = json.loads(partial.read_text())
    assert cut["complete"] is False and cut["not_run"] == ["notify"]
    assert cut["rows"] and {r["part"] for r in cut["rows"]} == {"wake_floor"}
    assert not (out / "bench-smoke.json").exists()

    done = _bench("--only", "tear", out=tmp_path / "tear")
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (tmp_path / "tear" / "bench-smoke.partial.json").exists(), "a finished run left its checkpoint"
    merged = _bench(
        "--report",
        "--merge",
        str(partial),
        "--merge",
        str(tmp_path / "tear" / "bench-smoke.json"),
        out=tmp_path / "report",
    )
    assert merged.returncode == 0, merged.stdout + merged.stderr
    result = json.loads((tmp_path / "report" / "bench-smoke.json").read_text())
    assert {r["part"] for r in result["rows"]} == {"wake_floor", "tear"} and result["section_seconds"] == {}
    assert result["merged_from"][0]["not_run"] == ["notify"] and "not_run" not in result["merged_from"][1]
    assert result["meta"]["measured_from"] <= result["meta"]["date"]


def test_report_refuses_parts_from_two_machines_and_a_run_that_measures(tmp_path):
    parts = []
    for index, device in enumerate(("NVIDIA H100 80GB HBM3", "NVIDIA H200")):
        path = tmp_path / f"part{index}.json"
        rows = [{"section": "floor", "method": "m", "case": f"c{index}", "part": "floor", "value": 1}]
        path.write_text(json.dumps({"meta": {"device": device, "driver": "580", "date": "x"}, "rows": rows}))
        parts += ["--merge", str(path)]
    done = _bench("--report", *parts, out=tmp_path / "out")
    assert done.returncode == 2 and "2 machines" in done.stderr and "H200" in done.stderr
    done = _bench("--report", "--only", "tear", *parts[:2], out=tmp_path / "out")
    assert done.returncode == 2 and "measures nothing" in done.stderr
    assert not (tmp_path / "out").exists()


def test_merge_records_what_each_file_gave_after_later_files_replaced_theirs(tmp_path):
    def part(name: str, groups: list[tuple[str, str]]) -> list[str]:
        rows = [{"section": s, "method": "m", "case": "c", "part": s, "regime": g, "value": 1} for s, g in groups]
        path = tmp_path / name
        path.write_text(json.dumps({"meta": {"device": "GPU", "driver": "1", "date": name}, "rows": rows}))
        return ["--merge", str(path)]

    first = part("a.json", [("latency", "0.3ms"), ("floor", "0.3ms")])
    second = part("b.json", [("latency", "0.3ms")])
    done = _bench("--report", *first, *second, out=tmp_path / "out")
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads((tmp_path / "out" / "bench-smoke.json").read_text())
    assert [m["sections"] for m in result["merged_from"]] == [["floor"], ["latency"]]
    assert len(result["rows"]) == 2 and result["meta"]["measured_from"] == "a.json"
    # The files' order, whatever the hash seed: a report made twice is the same file.
    assert [r["part"] for r in result["rows"]] == ["latency", "floor"]


def test_a_comparison_shown_but_not_judged_reads_reported_not_unmeasured(tmp_path):
    settings = smoke(tmp_path)
    mine = _latency("read_into", 50, 250.0, regime="0.3ms")
    torch = latency_row("latency", "torch_mp", "read_into", "4k", [390.0] * 50, regime="0.3ms", variant="pooled")
    judged = _verdicts([mine, torch], settings)
    assert judged["against torch.multiprocessing at its best (pool shared once), read_into, 4k, 0.3ms"] == "reported"
