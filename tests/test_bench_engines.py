"""The engines benchmark section's GPU-free parts (bench/harness/engines*.py): the stamp kernel's PTX text,
the %globaltimer calibration, the ping-pong schedule and gap sweep, and the rows built from samples. The
measurements themselves need a GPU (`python -m bench.harness.engines` there)."""

from __future__ import annotations

import dataclasses
import random
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # bench/ is not installed: import it from the checkout
    sys.path.insert(0, str(REPO))

from bench import run as bench_run  # noqa: E402
from bench.harness import engines  # noqa: E402
from bench.harness.common import Settings  # noqa: E402
from bench.harness.engines_ptx import (  # noqa: E402
    STAMP_KERNEL,
    STAMP_PTX,
    clock_offset,
    gpu_split,
    op_rows,
    ptx_problems,
    schedule,
)


def test_the_stamp_kernel_is_a_loadable_ptx_module_whose_entry_is_the_launched_name():
    assert ptx_problems(STAMP_PTX) == []
    assert f".visible .entry {STAMP_KERNEL}(" in STAMP_PTX
    # It reads the GPU clock and stores it: the two instructions the section relies on.
    assert "%globaltimer" in STAMP_PTX and "st.global.u64" in STAMP_PTX


@pytest.mark.parametrize(
    ("broken", "problem"),
    [
        (STAMP_PTX.replace(".target sm_90\n", ""), "target"),
        (STAMP_PTX.replace(".version 7.8\n", "") + ".version 7.8\n", "out of order"),
        (STAMP_PTX.replace("}\n", "", 1), "unbalanced"),
        (STAMP_PTX.replace("ret;", "exit;"), "ret"),
        (STAMP_PTX.replace(".address_size 64\n", ".address_size 64\n\0"), "NUL"),
    ],
)
def test_a_broken_ptx_text_is_named(broken, problem):
    assert any(problem in p for p in ptx_problems(broken)), ptx_problems(broken)


def test_the_clock_offset_is_pinned_between_the_cpu_reads_around_each_launch():
    rng = random.Random(19)
    true_offset = 1_700_000_123_456
    reads = []
    for i in range(300):
        before = 10_000_000 * i
        ran = before + rng.randint(2_000, 6_000)  # the kernel read the clock in between
        after = ran + rng.randint(1_000, 4_000)
        reads.append((before, ran + true_offset, after))
    offset, uncertainty = clock_offset(reads)
    assert abs(offset - true_offset) <= uncertainty
    # No looser than the tightest launch alone, and bounded by the quickest start and the quickest return.
    assert uncertainty <= min(after - before for before, _, after in reads) / 2
    assert (
        uncertainty
        <= (min(g - true_offset - b for b, g, _ in reads) + min(a - g + true_offset for _, g, a in reads)) / 2
    )


def test_contradicting_clock_reads_fall_back_to_the_tightest_launch():
    # A coarse GPU clock can put the reads in conflict: the tightest window's midpoint is used.
    reads = [(0, 5_000, 10_000), (100_000, 100_000, 100_400), (200_000, 214_000, 220_000)]
    assert clock_offset(reads) == (100_000 - 100_200, 200)
    with pytest.raises(ValueError):
        clock_offset([])


def test_the_gpu_stamp_splits_submit_to_done_into_waiting_and_running():
    offset = 1_000_000
    to_start, to_done = gpu_split([(0, 150_000 + offset, 160_000), (1_000, 3_000 + offset, 9_000)], offset)
    assert to_start == [150.0, 2.0] and to_done == [10.0, 6.0]


def test_the_schedule_drops_a_warm_up_per_block_and_keys_the_rest():
    turns = schedule([("kernel", "after peer", "work", 0.0, 30), ("dtod", "after idle peer", "idle", 0.001, 5)], 50)
    assert len(turns) == 3 + 30 + 0 + 5  # warm-up: min(warmup, kept // 10)
    assert turns[:3] == [("kernel", "work", 0.0, "")] * 3
    assert turns[3] == ("kernel", "work", 0.0, "kernel|after peer")
    assert turns[-1] == ("dtod", "idle", 0.001, "dtod|after idle peer")


def test_the_ping_pong_covers_every_engine_and_sweeps_the_gap_for_kernel_and_copy():
    settings = Settings.make(True, "/tmp")
    blocks = engines.pingpong_blocks(settings)
    situations = {(op, situation) for op, situation, *_ in blocks}
    for op in ("kernel", "memset", "dtod", "htod", "dtoh"):
        assert (op, "after peer") in situations and (op, "after idle peer") in situations
    sweep = [(op, gap, kept) for op, situation, peer, gap, kept in blocks if ", gap " in situation]
    assert sorted({gap for _, gap, _ in sweep}) == [0.0, 0.0001, 0.001, 0.003, 0.01]
    assert {op for op, _, _ in sweep} == {"kernel", "dtod"}
    assert {kept for _, _, kept in sweep} == {engines.gap_samples(settings)}
    # Every other block takes the sample count every latency takes (issue 19, item 5).
    assert {kept for _, situation, _, _, kept in blocks if ", gap " not in situation} == {settings.frames}
    full = Settings.make(False, "/tmp")
    assert {kept for *_, kept in engines.pingpong_blocks(full)} == {full.frames, engines.gap_samples(full)}


def test_rows_carry_the_switch_cost_against_the_same_op_alone_and_say_when_samples_are_short():
    measured = {"dtod|alone": [10.0, 11.0, 12.0], "dtod|after peer": [150.0, 160.0], "memset|after peer": [140.0]}
    rows = op_rows(measured, {"dtod": measured["dtod|alone"]}, {"after peer": "first after a peer"}, {"after peer": 2})
    by_case = {r["case"]: r for r in rows}
    assert by_case["dtod after peer"]["switch_us"] == 160.0 - 11.0  # nearest-rank p50s
    assert by_case["dtod after peer"]["size"] == "1080p" and by_case["memset after peer"]["size"] == "-"
    assert "switch_us" not in by_case["dtod alone"] and "switch_us" not in by_case["memset after peer"]
    assert "1 samples (of 2 asked)" in by_case["memset after peer"]["note"]
    assert all(r["section"] == "engines" and r["latency_us"]["n"] == len(measured[k]) for r, k in zip(rows, measured))


def test_built_rows_add_the_gpu_split_the_kept_gap_and_the_calibration():
    settings = dataclasses.replace(Settings.make(True, "/tmp"), frames=2)
    alone = {
        "us": {"kernel|alone": [5.0, 6.0]},
        "triples": {"kernel|alone": [(0, 1_000 + 3_000, 5_000), (0, 1_000 + 2_000, 6_000)]},
        "gaps": {},
        "offset": (1_000, 50.0),
    }
    pong = {
        "us": {"kernel|after peer, gap 1 ms": [150.0, 160.0]},
        "triples": {"kernel|after peer, gap 1 ms": [(0, 2_000 + 140_000, 150_000), (0, 2_000 + 150_000, 160_000)]},
        "gaps": {"kernel|after peer, gap 1 ms": [1_001.0, 1_002.0]},
        "offset": (2_000, 80.0),
        "offset_after": (2_100, 90.0),
    }
    rows = {r["case"]: r for r in engines.build_rows(settings, alone, pong)}
    gap_row = rows["kernel after peer, gap 1 ms"]
    assert gap_row["submit_to_start_us"]["p50"] == 150.0 and gap_row["start_to_done_us"]["p50"] == 10.0
    assert gap_row["gap_actual_us"]["p50"] == 1_002.0 and gap_row["switch_us"] == 160.0 - 6.0
    # A gap point is short against the gap sweep's count, not settings.frames (2 here).
    assert f"2 samples (of {engines.gap_samples(settings)} asked)" in gap_row["note"]
    assert "asked" not in rows["kernel alone"]["note"]
    assert rows["kernel alone"]["submit_to_start_us"]["p50"] == 3.0
    assert rows["clock calibration, ping-pong process"]["drift_ns"] == 100.0
    assert rows["clock calibration, alone process"]["value"] == 50.0
    # A part that failed (None) leaves the other's rows.
    assert {r["case"] for r in engines.build_rows(settings, None, pong)} == {
        "kernel after peer, gap 1 ms",
        "clock calibration, ping-pong process",
    }


def test_the_section_is_registered_as_needing_a_gpu():
    assert bench_run.SECTIONS["engines"] == "bench.harness.engines"
    assert "engines" in bench_run.NEEDS_GPU
