"""The peers' benchmark sections on a machine without a GPU (issue 19, item 7): the C++ legacy-IPC
probe compiles and runs its two processes end to end against a stand-in libcuda
(tests/fake_libcuda.c, host memory shared by name), fails with a message instead of crashing when
the driver finds no GPU, and the pure parts (slot offsets, chunking, regimes, the NVDEC retention
ratio, the staging file) hold their arithmetic."""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.harness import alt_host_path, alt_host_staged, alt_legacy_ipc, alt_legacy_probe, bounce
from bench.harness.alt_nvdec import retention
from bench.harness.alt_support import find_cuda_include, regimes_for, slot_offsets
from bench.harness.common import Settings, nv12_bytes

HERE = Path(__file__).resolve().parent
COMPILER = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
needs_compiler = pytest.mark.skipif(COMPILER is None, reason="no C++ compiler on PATH")


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> str:
    if find_cuda_include() is None:
        pytest.fail("no cuda.h for the probe: `pip install nvidia-cuda-runtime` (scripts/test.sh does)")
    return alt_legacy_probe.build(str(tmp_path_factory.mktemp("probe")))


@pytest.fixture(scope="module")
def fake_driver(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A folder holding the stand-in libcuda.so.1, for LD_LIBRARY_PATH."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler on PATH")
    folder = tmp_path_factory.mktemp("fake-cuda")
    subprocess.run(
        [cc, "-shared", "-fPIC", "-O1", str(HERE / "fake_libcuda.c"), "-o", str(folder / "libcuda.so.1")],
        check=True,
        timeout=120,
    )
    return str(folder)


def shm_names() -> set[str]:
    """What /dev/shm holds (the stand-ins' memory and the staging files go there)."""
    return set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()


def smoke_settings(tmp_path: Path) -> Settings:
    return Settings.make(quick=False, work_dir=str(tmp_path), smoke=True)


@needs_compiler
def test_the_legacy_ipc_probe_compiles_against_the_found_cuda_header(probe):
    assert os.access(probe, os.X_OK)


@needs_compiler
def test_the_probe_measures_every_regime_through_one_shared_allocation(probe, fake_driver, tmp_path, monkeypatch):
    monkeypatch.setenv("LD_LIBRARY_PATH", fake_driver)
    before = shm_names()
    settings = dataclasses.replace(smoke_settings(tmp_path), frames=30, warmup=5, frames_25fps=3, warmup_25fps=1)
    rows = alt_legacy_probe.run(settings)
    assert [r.get("error") for r in rows] == [None] * 4, rows
    assert [(r["case"], r["regime"]) for r in rows] == [
        ("borrow, C++, one allocation", "0.3ms"),
        ("read_into, C++, one allocation", "0.3ms"),
        ("borrow, C++, one allocation", "25fps"),
        ("read_into, C++, one allocation", "25fps"),
    ]
    counts = {r["regime"]: r["latency_us"]["n"] for r in rows}
    assert counts == {"0.3ms": 30, "25fps": 3}
    for r in rows:
        lat = r["latency_us"]
        assert 0 < lat["p50"] <= lat["p99"] <= lat["max"]
    borrow, read_into = rows[0]["latency_us"], rows[1]["latency_us"]
    assert borrow["p50"] <= read_into["p50"]  # the copy comes after holding the slot
    assert rows[2]["latency_us"]["p50"] >= 0  # 40 ms apart, the frames still arrive
    assert "stride" in rows[1]["note"] and rows[1]["copy_us"]["n"] == 30
    leftovers = [name for name in shm_names() - before if name.startswith("fake-cuda-")]
    assert leftovers == []  # both sides freed and closed what they made


@needs_compiler
def test_the_probe_without_a_gpu_exits_with_a_message(probe, fake_driver, tmp_path):
    env = {**os.environ, "LD_LIBRARY_PATH": fake_driver, "FAKE_CUDA_INIT_ERROR": "100"}
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        done = subprocess.run(
            [probe, "consumer", str(a.fileno()), "0", "4096", "4", "10", "1", "0"],
            pass_fds=(a.fileno(),),
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        a.close()
        b.close()
    assert done.returncode == 1
    assert "cuInit failed: CUDA_ERROR_NO_DEVICE" in done.stderr


@needs_compiler
def test_the_probe_rejects_bad_arguments(probe):
    done = subprocess.run([probe, "consumer", "3", "0", "-5"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "usage:" in done.stderr
    done = subprocess.run([probe, "producer", "3", "0", "0", "4", "1", "1", "0"], capture_output=True, text=True)
    assert done.returncode == 2 and "NBYTES must be an integer >= 1" in done.stderr


def test_without_a_compiler_the_probe_rows_say_why(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no c++ there
    rows = alt_legacy_probe.run(smoke_settings(tmp_path))
    assert len(rows) == 1 and "no C++ compiler" in rows[0]["skipped"]


def test_slots_in_one_allocation_are_aligned_and_disjoint():
    stride, offsets = slot_offsets(nv12_bytes("1080p"), 16)
    assert stride % 256 == 0 and stride >= nv12_bytes("1080p") > stride - 256
    assert offsets == [k * stride for k in range(16)]
    assert slot_offsets(4096, 2, 4096) == (4096, [0, 4096])
    with pytest.raises(ValueError):
        slot_offsets(100, 4, 100)  # not a power of 2


def test_chunks_cover_the_frame_once():
    for size in ("1080p", "4k"):
        nbytes = nv12_bytes(size)
        spans = alt_host_staged.chunk_spans(nbytes)
        assert sum(length for _, length in spans) == nbytes
        assert all(offset + length == nxt for (offset, length), (nxt, _) in zip(spans, spans[1:]))
        stride, total, chunks = alt_host_staged.layout(size)
        assert chunks == len(spans) and stride % 4096 == 0
        assert total == alt_host_staged.HEADER_BYTES + alt_host_staged.BUFFERS * stride


def test_the_staging_file_starts_with_every_buffer_free(tmp_path):
    path = alt_host_staged.make_staging("1080p", str(tmp_path))
    try:
        staging = alt_host_staged._Staging(path, "1080p")
        try:
            assert [(r.seq, r.consumed) for r in staging.records] == [(-1, -1)] * alt_host_staged.BUFFERS
            assert staging.buffers % 4096 == 0
        finally:
            staging.close()
    finally:
        os.unlink(path)


def test_25fps_is_measured_at_1080p_only():
    settings = Settings.make(quick=False, work_dir="/tmp")
    assert [r.name for r in regimes_for(settings, "1080p")] == ["0.3ms", "25fps"]
    assert [r.name for r in regimes_for(settings, "4k")] == ["0.3ms"]


def test_nvdec_reports_the_throughput_kept():
    assert retention(5164.3, 5260.1) == pytest.approx(0.9818, abs=1e-4)
    assert retention(100.0, 0.0) is None


@pytest.fixture
def stand_in_cuda(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """tests/fake_cuda first on sys.path, for this process and the children it spawns."""
    monkeypatch.syspath_prepend(str(HERE / "fake_cuda"))
    before = shm_names()
    yield
    leftovers = [name for name in shm_names() - before if name.startswith("fake-cuda-py-")]
    assert leftovers == [], "a side did not free or close what it allocated or opened"


def assert_measured(rows: list[dict], cases: list[str], settings: Settings) -> None:
    assert [r.get("error") for r in rows] == [None] * len(rows), rows
    regimes = {"0.3ms": settings.frames, "25fps": settings.frames_25fps}
    assert [(r["case"], r["regime"]) for r in rows] == [(c, name) for name in regimes for c in cases]
    for r in rows:
        assert r["latency_us"]["n"] == regimes[r["regime"]] and r["latency_us"]["p50"] > 0


@pytest.mark.parametrize("variant", ["pipelined", "zero-copy"])
def test_the_staged_host_path_hands_every_chunk_over(stand_in_cuda, tmp_path, variant):
    settings = smoke_settings(tmp_path)
    rows = alt_host_staged._latency(settings, "1080p", variant)
    assert_measured(rows, list(alt_host_staged.VARIANTS[variant].values()), settings)
    assert all(r["variant"] == variant and r["producer_us"]["n"] > 0 for r in rows)
    assert not [name for name in shm_names() if name.startswith("cuframes-bench-staged-")]


def test_the_plain_host_path_measures_every_regime(stand_in_cuda, tmp_path):
    settings = smoke_settings(tmp_path)
    rows = alt_host_path._latency(settings, "1080p")
    assert_measured(rows, ["read_into"], settings)
    assert "the DtoH is inside the latency" in rows[0]["note"]


def test_the_legacy_ring_stamps_borrow_and_read_into_on_the_same_frames(stand_in_cuda, tmp_path):
    settings = smoke_settings(tmp_path)
    rows = alt_legacy_ipc._latency(settings, "1080p")
    assert_measured(rows, ["borrow", "read_into"], settings)
    assert rows[1]["copy_back_to_back_us"]["n"] > 0 and "copy_back_to_back_us" not in rows[3]


@pytest.fixture(scope="module")
def bounce_probe(tmp_path_factory: pytest.TempPathFactory) -> str:
    if find_cuda_include() is None:
        pytest.fail("no cuda.h for the probe: `pip install nvidia-cuda-runtime` (scripts/test.sh does)")
    return alt_legacy_probe.build(str(tmp_path_factory.mktemp("bounce")), bounce.SOURCE)


@needs_compiler
def test_the_bounce_probe_times_every_variant_alone_and_after_a_peer(bounce_probe, fake_driver, tmp_path, monkeypatch):
    monkeypatch.setenv("LD_LIBRARY_PATH", fake_driver)
    before = shm_names()
    settings = dataclasses.replace(smoke_settings(tmp_path), frames=12, warmup=3)
    rows = bounce.run(settings)
    assert [r.get("error") for r in rows] == [None] * 16, rows
    variants = ["dtod", "dtoh", "htod", "bounce, serial", "bounce, 2 MiB", "bounce, 1 MiB", "bounce, 512 KiB"]
    variants.append("bounce, 256 KiB")
    assert [r["case"] for r in rows] == [f"{v}, {p}" for p in ("alone", "after peer") for v in variants]
    for r in rows:
        assert r["latency_us"]["n"] == 12 and r["gpu_us"]["n"] == 12 and r["size"] == "1080p"
        assert 0 < r["latency_us"]["p50"] <= r["latency_us"]["max"]
        assert r["gpu_us"]["p50"] == pytest.approx(1.0)  # the stand-in's event pair
    assert "another process's frame copy" in rows[8]["note"] and "another process" not in rows[0]["note"]
    leftovers = [name for name in shm_names() - before if name.startswith("fake-cuda-")]
    assert leftovers == []  # both processes freed what they made


@needs_compiler
def test_the_bounce_probe_without_a_gpu_says_so_from_both_processes(bounce_probe, fake_driver):
    env = {**os.environ, "LD_LIBRARY_PATH": fake_driver, "FAKE_CUDA_INIT_ERROR": "100"}
    done = subprocess.run([bounce_probe, "4096", "3", "1"], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1 and done.stdout == ""
    assert "bounce_probe measure: cuInit failed: CUDA_ERROR_NO_DEVICE" in done.stderr


@needs_compiler
def test_the_bounce_probe_rejects_bad_arguments(bounce_probe):
    done = subprocess.run([bounce_probe, "4096"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "usage:" in done.stderr
    done = subprocess.run([bounce_probe, "4096", "0", "1"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "ROUNDS must be an integer >= 1" in done.stderr
