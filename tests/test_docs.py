"""The docs agree with the code: the README's Python snippets (every one that
needs a GPU, torch or the cuda backend, has a host-backend numpy twin, and the
twins run as written, as a producer and a subscriber process, pixel-exact), and
the figures the docs quote from the code."""

from __future__ import annotations

import re
from pathlib import Path

import cuframes

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


def python_snippets() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.S | re.M)


def needs_a_gpu(snippet: str) -> bool:
    return "torch" in snippet or 'backend="cuda"' in snippet


def test_every_gpu_snippet_has_a_numpy_twin() -> None:
    snippets = python_snippets()
    gpu = [s for s in snippets if needs_a_gpu(s)]
    host = [s for s in snippets if not needs_a_gpu(s)]
    assert gpu, "the README has no GPU snippet: this test reads the wrong blocks"
    assert len(host) == len(gpu), f"{len(gpu)} GPU snippets, {len(host)} host twins"
    assert all("numpy" in s or "frame.y" in s for s in host), host
    for role in ("Publisher(", "Subscriber("):
        assert sum(role in s for s in gpu) == sum(role in s for s in host), role


def test_the_numpy_snippets_run_as_written(children) -> None:
    host = [s for s in python_snippets() if not needs_a_gpu(s)]
    (producer_code,) = [s for s in host if "Publisher(" in s]
    (subscriber_code,) = [s for s in host if "Subscriber(" in s]
    # "ready" once the imports are done: the subscriber then waits for the producer
    # (connect_timeout), which must not have come and gone before.
    subscriber = children.spawn(f"import cuframes, numpy; print('ready', flush=True)\n{subscriber_code}")
    children.read_line(subscriber, "ready", timeout=60)
    producer = children.spawn(producer_code)
    pub = children.wait(producer, timeout=60)
    sub = children.wait(subscriber, timeout=60)
    assert pub.returncode == 0, pub.stderr
    assert sub.returncode == 0, sub.stderr
    frames = [tuple(map(int, line.split())) for line in sub.stdout.splitlines()[1:]]
    assert frames, sub.stdout
    for seq, pts, missed, y00 in frames:
        assert seq == pts + 1 and missed >= 0
        assert y00 == pts % 256  # the ramp the producer drew for that frame


def test_the_wake_up_cost_is_the_same_in_the_docstring_and_performance_md() -> None:
    measured = re.search(
        r"a sleeping subscriber's wake-up \| about (\d+) µs",
        (REPO / "docs" / "performance.md").read_text(encoding="utf-8"),
    )
    assert measured
    docstring = " ".join(cuframes.Subscriber.__doc__.split())
    assert f"wake-up (about {measured.group(1)} µs" in docstring, docstring
    assert f"a {measured.group(1)} µs wake-up" in README.read_text(encoding="utf-8")


def test_integration_md_sizes_the_default_packet_ring_as_publish_does() -> None:
    from cuframes.cli.publish import default_packet_ring_bytes

    text = " ".join((REPO / "docs" / "integration.md").read_text(encoding="utf-8").split())
    sized = re.search(r"The ring is sized from the frame \((\w+) uncompressed NV12 frames, (\d+) to (\d+) MiB", text)
    assert sized, "integration.md no longer says how the packet ring is sized"
    frames = ["one", "two", "three", "four", "five", "six", "seven", "eight"].index(sized.group(1)) + 1
    low, high = int(sized.group(2)) << 20, int(sized.group(3)) << 20
    for width, height in ((1920, 1080), (3840, 2160), (320, 240), (16384, 16384)):
        assert default_packet_ring_bytes(width, height) == min(high, max(low, frames * width * height * 3 // 2))


def test_snapshot_is_described_as_the_newest_frame_everywhere() -> None:
    from cuframes.cli.inspect import snapshot

    assert "newest frame" in snapshot.help
    for path in (README, REPO / "docs" / "integration.md"):
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if "cuframes snapshot" in line]
        assert lines and all("next frame" not in line for line in lines), lines
        assert any("newest frame" in line for line in lines), lines


def test_the_supported_pythons_are_one_range_in_pyproject_and_readme() -> None:
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    oldest = re.search(r'^requires-python = ">=(3\.\d+)"', pyproject, re.M).group(1)
    listed = re.findall(r'"Programming Language :: Python :: (3\.\d+)"', pyproject)
    assert listed and listed[0] == oldest, (oldest, listed)  # .ci/run tests the first and the last
    assert f"supports Python {oldest} to {listed[-1]}" in README.read_text(encoding="utf-8")
