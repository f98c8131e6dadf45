"""scripts/debian_closure.py's symbolic links: followed inside the unpacked packages, an
absolute target meaning their /, and refused where one leads out (a package's link must
never copy a file of this machine into a bundle). Its downloads run in CI's GStreamer 1.26
step (scripts/test-gst-1.26.sh)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "debian_closure.py"
_spec = importlib.util.spec_from_file_location("debian_closure", SCRIPT)
assert _spec is not None and _spec.loader is not None
closure = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(closure)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    libs = tmp_path / "usr" / "lib" / "x86_64-linux-gnu"
    libs.mkdir(parents=True)
    (libs / "libfoo.so.1.2").write_text("foo")
    os.symlink("libfoo.so.1.2", libs / "libfoo.so.1")
    os.symlink("/usr/lib/x86_64-linux-gnu/libfoo.so.1", libs / "absolute.so")
    os.symlink("usr/lib", tmp_path / "lib")  # a merged-/usr folder link
    os.symlink("../../../../etc/passwd", libs / "escape.so")
    os.symlink("/etc", tmp_path / "usr" / "etc")
    os.symlink("loop2.so", libs / "loop1.so")
    os.symlink("loop1.so", libs / "loop2.so")
    return tmp_path


@pytest.mark.parametrize(
    "name",
    [
        "usr/lib/x86_64-linux-gnu/libfoo.so.1",
        "usr/lib/x86_64-linux-gnu/absolute.so",
        "lib/x86_64-linux-gnu/libfoo.so.1",
    ],
)
def test_links_are_followed_inside_the_root(root: Path, name: str) -> None:
    assert closure.real_file(root, root / name) == root / "usr" / "lib" / "x86_64-linux-gnu" / "libfoo.so.1.2"


def test_a_link_out_of_the_root_is_refused(root: Path) -> None:
    with pytest.raises(SystemExit, match="leads out of the unpacked packages"):
        closure.real_file(root, root / "usr" / "lib" / "x86_64-linux-gnu" / "escape.so")


def test_an_absolute_folder_link_stays_inside_the_root(root: Path) -> None:
    # usr/etc -> /etc means the packages' /etc, which holds no passwd: never this machine's.
    assert closure.real_file(root, root / "usr" / "etc" / "passwd") == root / "etc" / "passwd"


def test_a_loop_of_links_is_refused(root: Path) -> None:
    with pytest.raises(SystemExit, match="loop of symbolic links"):
        closure.real_file(root, root / "usr" / "lib" / "x86_64-linux-gnu" / "loop1.so")
