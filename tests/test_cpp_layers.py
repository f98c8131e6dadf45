"""The C++ include directions hold, and their check catches a break (scripts/check_layers.py).

The check runs in the lint gate on the real tree; here it also runs on a copy of
cpp/ with one bad include injected per rule, to show that it fails and names the
offending file, line and layers, not only that today's tree passes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHECK = REPO / "scripts" / "check_layers.py"


def run_check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK), str(root)], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_tree_keeps_the_layer_rules() -> None:
    result = run_check(REPO)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("file", "include", "expected"),
    [
        (
            "cpp/src/producer/server.cpp",
            '"consumer/connection.hpp"',
            "layer 'producer' may not include layer 'consumer'",
        ),
        (
            "cpp/src/consumer/connection.cpp",
            '"producer/server.hpp"',
            "layer 'consumer' may not include layer 'producer'",
        ),
        ("cpp/src/base/memfd.cpp", '"protocol/wire.hpp"', "layer 'base' may not include layer 'protocol'"),
        ("cpp/src/capi/c_api.cpp", '"base/unique_fd.hpp"', "layer 'capi' may not include layer 'base'"),
        ("cpp/src/protocol/wire.cpp", '"unique_fd.hpp"', "write internal includes from cpp/src, as LAYER/FILE"),
        ("cpp/src/media/format.cpp", "<pybind11/pybind11.h>", "the core knows no Python"),
        ("cpp/include/cuframes/publisher.hpp", '"base/unique_fd.hpp"', "a public header includes public headers only"),
        ("cpp/bindings/publisher.cpp", '"protocol/ring.hpp"', "the bindings include public headers only"),
    ],
)
def test_a_bad_include_is_named(tmp_path: Path, file: str, include: str, expected: str) -> None:
    shutil.copytree(REPO / "cpp", tmp_path / "cpp")
    target = tmp_path / file
    lines = target.read_text().splitlines(keepends=True)
    lines.insert(1, f"#include {include}\n")  # line 2: after the first line, whatever it is
    target.write_text("".join(lines))

    result = run_check(tmp_path)

    assert result.returncode == 1
    assert f"{target}:2: #include {include}: {expected}" in result.stderr, result.stderr


def test_a_file_outside_the_layer_folders_is_refused(tmp_path: Path) -> None:
    shutil.copytree(REPO / "cpp", tmp_path / "cpp")
    stray = tmp_path / "cpp" / "src" / "stray.cpp"
    stray.write_text("int stray;\n")

    result = run_check(tmp_path)

    assert result.returncode == 1
    assert f"{stray}: not in a layer folder of cpp/src" in result.stderr, result.stderr
