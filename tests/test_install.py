"""The installed package's C++ surface: every public header is installed and usable
through find_package(cuframes), and libcuframes.so exports the API and nothing else.

Pins issue 13 item 2: `#include <cuframes/packets.hpp>` against an install failed (the
header was not installed), and about 315 internal `cuframes::` symbols (Connection,
ProducerRing, send_message, ...) were exported.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

import cuframes

ROOT = Path(__file__).resolve().parents[1]
HEADERS = ROOT / "cpp" / "include" / "cuframes"
CONSUMER = ROOT / "tests" / "cpp" / "install_consumer"
ABI0_HEADER = ROOT / "tests" / "cpp" / "abi" / "cuframes_abi0.h"


def _public_headers() -> list[str]:
    return sorted(p.name for p in HEADERS.iterdir() if p.suffix in (".h", ".hpp"))


def _installed_library() -> Path:
    lib = Path(cuframes.get_cmake_dir()).parents[1]  # <package>/lib/cmake/cuframes -> <package>/lib
    found = sorted(lib.glob("libcuframes.so*"))
    assert found, f"no libcuframes.so in {lib}"
    return found[0]


def test_every_public_header_is_installed() -> None:
    installed = Path(cuframes.get_include()) / "cuframes"
    assert _public_headers(), HEADERS
    missing = [name for name in _public_headers() if not (installed / name).is_file()]
    assert missing == [], f"public headers not installed in {installed}: {missing}"


def test_the_consumer_uses_every_public_header() -> None:
    """The program below must include each header, so a new one is never left out of it."""
    included = set(re.findall(r"#include <cuframes/([\w.]+)>", (CONSUMER / "main.cpp").read_text()))
    assert included == set(_public_headers())


def test_a_cxx_program_builds_and_runs_against_the_installed_package(tmp_path: Path, cf_dir: Path) -> None:
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip("cmake is not installed")
    if not any(shutil.which(c) for c in ("c++", "g++", "clang++")):
        pytest.skip("no C++ compiler (c++, g++ or clang++) is installed")
    build = tmp_path / "build"
    configure = subprocess.run(
        [
            cmake,
            "-S",
            str(CONSUMER),
            "-B",
            str(build),
            f"-Dcuframes_DIR={cuframes.get_cmake_dir()}",
            "-DCMAKE_BUILD_TYPE=Release",
            "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert configure.returncode == 0, configure.stdout + configure.stderr
    compile_ = subprocess.run([cmake, "--build", str(build)], capture_output=True, text=True, timeout=300)
    assert compile_.returncode == 0, compile_.stdout + compile_.stderr
    # Compiled against the installed headers, not this checkout's.
    flags = (build / "compile_commands.json").read_text()
    assert cuframes.get_include() in flags and str(HEADERS.parent) not in flags, flags
    run = subprocess.run([str(build / "consumer"), str(cf_dir)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "consumer: ok" in run.stdout


def _exported_names() -> tuple[set[str], set[str]]:
    """The API as the public headers declare it: C functions and C++ names in namespace cuframes."""
    c_functions: set[str] = set()
    cxx_names: set[str] = set()
    for header in [*HEADERS.iterdir(), ABI0_HEADER]:  # ABI 0's functions stay for old binaries
        text = header.read_text()
        c_functions |= set(re.findall(r"CUFRAMES_API\b[^;{]*?\b(cuframes_\w+)\s*\(", text))
        if header.suffix == ".hpp":
            cxx_names |= set(re.findall(r"class CUFRAMES_API (\w+)", text))
            cxx_names |= set(re.findall(r"CUFRAMES_API\b[^;{]*?\b(\w+)\s*\(", text))
            # Types named in exported signatures (options, infos, enums) travel with them.
            cxx_names |= set(re.findall(r"^(?:struct|enum class|class) (\w+)", text, flags=re.M))
            cxx_names |= set(re.findall(r"^using (\w+) =", text, flags=re.M))
    return c_functions, cxx_names


def test_the_library_exports_the_api_only() -> None:
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("nm (binutils) is not installed")
    result = subprocess.run(
        [nm, "-D", "--defined-only", "-C", str(_installed_library())], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    symbols = [line.split(" ", 2)[2] for line in result.stdout.splitlines() if line.count(" ") >= 2]
    c_functions, cxx_names = _exported_names()
    assert {"Publisher", "Subscriber", "WritableFrame", "compute_layout"} <= cxx_names, cxx_names

    internal = sorted(
        {name for symbol in symbols for name in re.findall(r"cuframes::(\w+)", symbol) if name not in cxx_names}
    )
    assert internal == [], f"internal cuframes:: names exported: {internal}"
    unknown_c = sorted({s for s in symbols if re.fullmatch(r"cuframes_\w+", s) and s not in c_functions})
    assert unknown_c == [], f"C symbols that no header declares: {unknown_c}"
    # And the API is there: every C function of today's header, the C++ classes.
    assert sorted(c_functions - set(symbols)) == []
    assert any(s.startswith("cuframes::Publisher::loan") for s in symbols), "no cuframes::Publisher::loan"
    assert any(s.startswith("cuframes::find_nal_units(") for s in symbols), "no cuframes::find_nal_units (annexb.hpp)"
