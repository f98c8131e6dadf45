"""`cuframes demo` runs end to end, passes on a healthy run, and really does
catch torn frames (its checks are not vacuous)."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from rich.console import Console

from cuframes._pattern import TestPattern
from cuframes.cli.demo import EXIT_INTEGRITY, EXIT_OK, run_demo


def test_pattern_round_trip_and_stamps() -> None:
    pattern = TestPattern("nv12", 320, 180)
    frame = pattern.render(123456789012345, np.empty(pattern.packed_size, np.uint8))
    assert pattern.decode_stamps(frame) == (123456789012345, 123456789012345)
    assert pattern.check(123456789012345, frame) == []
    assert pattern.check(123456789012344, frame) != []


@pytest.mark.parametrize("fmt", ["nv12", "p010", "i420", "rgba", "gray8"])
def test_pattern_catches_a_torn_frame(fmt: str) -> None:
    pattern = TestPattern(fmt, 320, 180)
    first = pattern.render(7, np.empty(pattern.packed_size, np.uint8))
    second = pattern.render(8, np.empty(pattern.packed_size, np.uint8))
    for cut in (pattern.packed_size // 10, pattern.packed_size // 2, pattern.packed_size * 3 // 4):
        torn = np.concatenate([first[:cut], second[cut:]])
        assert pattern.check(7, torn), f"a frame torn at byte {cut} went unnoticed"
        assert pattern.check(8, torn)


def test_pattern_refuses_frames_too_small_for_the_barcode() -> None:
    with pytest.raises(ValueError, match="too"):
        TestPattern("nv12", 64, 48)


def test_demo_passes_on_the_test_backend(backend, cf_dir) -> None:
    out = io.StringIO()
    code = run_demo(
        backend=backend, subscribers=2, seconds=1.0, fps=60, width=320, height=180, console=Console(file=out, width=120)
    )
    text = out.getvalue()
    assert code == EXIT_OK, text
    assert "PASS" in text and "0 integrity error(s)" in text


def test_demo_catches_torn_frames(backend, cf_dir) -> None:
    out = io.StringIO()
    code = run_demo(
        backend=backend,
        subscribers=1,
        seconds=1.0,
        fps=60,
        width=320,
        height=180,
        console=Console(file=out, width=120),
        tear_every=5,
    )
    text = out.getvalue()
    assert code == EXIT_INTEGRITY, text
    assert "FAIL" in text and "barcode" in text


def test_demo_command_line(backend, cf_dir) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cuframes",
            "demo",
            "--backend",
            backend,
            "--subscribers",
            "2",
            "--seconds",
            "1",
            "--width",
            "256",
            "--height",
            "144",
            "--fps",
            "30",
            "--dir",
            str(cf_dir),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS" in result.stdout
    assert list(cf_dir.iterdir()) == []  # the demo cleaned up its socket


def test_demo_reports_bad_options_as_errors(cf_dir) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cuframes", "demo", "--width", "64", "--height", "48", "--seconds", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "error" in result.stdout + result.stderr


def test_info_command() -> None:
    result = subprocess.run([sys.executable, "-m", "cuframes", "info"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "cuda backend" in result.stdout and "nv12" in result.stdout
