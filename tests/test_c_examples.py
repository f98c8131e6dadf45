"""The C examples build against the installed package with find_package(cuframes)
and exchange frames as two separate processes.

Pins: the wheel ships a usable CMake package (library, headers, config), the C
ABI works across processes, and on the host backend every byte arrives as written.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from packet_producer import PACKET_PRODUCER

import cuframes

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "c"
FRAMES = 30


def _c_compiler() -> str | None:
    candidates = [os.environ["CC"]] if os.environ.get("CC") else []
    candidates += ["cc", "gcc", "clang"]
    for name in candidates:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def examples_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip("cmake is not installed")
    compiler = _c_compiler()
    if compiler is None:
        pytest.skip("no C compiler (cc, gcc or clang) is installed")

    cmake_dir = Path(cuframes.get_cmake_dir())
    assert (cmake_dir / "cuframesConfig.cmake").is_file(), f"no package config in {cmake_dir}"
    build = tmp_path_factory.mktemp("c-examples")
    configure = subprocess.run(
        [
            cmake,
            "-S",
            str(EXAMPLES),
            "-B",
            str(build),
            f"-Dcuframes_DIR={cmake_dir}",
            f"-DCMAKE_C_COMPILER={compiler}",
            "-DCMAKE_BUILD_TYPE=Release",
            "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON",
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert configure.returncode == 0, configure.stdout + configure.stderr
    compile_ = subprocess.run(
        [cmake, "--build", str(build), "-j", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert compile_.returncode == 0, compile_.stdout + compile_.stderr
    # The examples compiled against the installed headers, not this checkout's.
    flags = (build / "compile_commands.json").read_text()
    assert cuframes.get_include() in flags, flags
    assert str(EXAMPLES.parents[1] / "cpp" / "include") not in flags, flags
    return build


def _exchange_frames(build: Path, backend: str, runtime_dir: Path, key: str) -> None:
    env = dict(os.environ, CUFRAMES_DIR=str(runtime_dir))
    # Enough frames to outlast a slow start; it stops when the subscriber leaves.
    publisher = subprocess.Popen(
        [str(build / "first_publisher"), backend, "6000", key],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        subscriber = subprocess.run(
            [str(build / "first_subscriber"), str(FRAMES), key],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert subscriber.returncode == 0, subscriber.stdout + subscriber.stderr
        frames = [line for line in subscriber.stdout.splitlines() if line.startswith("frame seq=")]
        assert len(frames) == FRAMES, subscriber.stdout
        assert not any("BAD" in line for line in frames)
        assert "stream: time base 1/100, 100/1 fps, colour matrix 1 range 1" in subscriber.stdout
        if backend == "host":
            assert all(line.endswith("pattern ok") for line in frames), subscriber.stdout

        out, err = publisher.communicate(timeout=30)
        assert publisher.returncode == 0, out + err
        assert f"publisher: done (backend {backend})" in out
    finally:
        if publisher.poll() is None:
            publisher.kill()
            publisher.communicate(timeout=10)
    # A clean close leaves nothing behind.
    assert os.listdir(runtime_dir) == []


def test_c_publisher_and_subscriber_exchange_frames(examples_build: Path, backend: str, cf_dir: Path, key: str) -> None:
    _exchange_frames(examples_build, backend, cf_dir, key)


@pytest.mark.gpu
def test_c_examples_on_the_cuda_backend(examples_build: Path, cf_dir: Path, key: str) -> None:
    _exchange_frames(examples_build, "cuda", cf_dir, key)


def test_c_subscriber_fails_cleanly_on_a_bad_key(examples_build: Path, cf_dir: Path) -> None:
    result = subprocess.run(
        [str(examples_build / "first_subscriber"), "1", "../escape"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "CUFRAMES_ERR_INVALID_ARGUMENT" in result.stderr


def test_c_recorder_writes_a_decodable_stream_of_the_packets(
    examples_build: Path, children, backend: str, cf_dir: Path, key: str, tmp_path: Path
) -> None:
    av = pytest.importorskip("av")
    producer = children.spawn(PACKET_PRODUCER, key, backend, "--frames", "40", "--interval", "0.002")
    children.read_line(producer, "up")
    out = tmp_path / "recording.h264"
    result = subprocess.run(
        [str(examples_build / "record_packets"), "1000", key, str(out)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # A packet subscriber joins at the newest keyframe when it maps the ring, which
    # can come after the producer counted it and went on publishing (a loaded
    # machine): from there on, every packet (a keyframe every 10) up to the 40th.
    recorded = re.search(
        rf"recorded (\d+) packets \((\d+) keyframes, 0 lost to overruns\) to {re.escape(str(out))}", result.stdout
    )
    assert recorded, result.stdout
    packets, keyframes = int(recorded.group(1)), int(recorded.group(2))
    assert 1 <= keyframes <= 4 and packets == 10 * keyframes, result.stdout
    with av.open(str(out), format="h264") as recording:
        assert sum(1 for _ in recording.decode(video=0)) == packets
    children.wait(producer)
