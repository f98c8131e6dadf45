"""scripts/ffmpeg-patch.sh: the one patch it prints for a series applies to that FFmpeg's
source (the pinned tarball scripts/build-ffmpeg.sh downloaded) with both `git apply` and
`patch -p1`, and leaves libavdevice/cuframes.c equal to ffmpeg/cuframes.c. Skips where the
tarball was not downloaded (CI's FFmpeg step downloads 5.1's)."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# scripts/build-ffmpeg.sh's download folder and version of each series.
TARBALLS = {
    "5.1": ROOT / "build" / "ffmpeg" / "download" / "ffmpeg_5.1.9.orig.tar.xz",
    "7.1": ROOT / "build" / "ffmpeg-7.1" / "download" / "ffmpeg_7.1.5.orig.tar.xz",
    "8.1": ROOT / "build" / "ffmpeg-8.1" / "download" / "ffmpeg_8.1.2.orig.tar.xz",
}
# The files the patch touches: only these are unpacked.
TOUCHED = ("configure", "libavdevice/Makefile", "libavdevice/alldevices.c")


def test_every_series_has_a_tarball_row() -> None:
    series = sorted(
        p.name.removeprefix("register-").removesuffix(".patch") for p in (ROOT / "ffmpeg").glob("register-*.patch")
    )
    assert series == sorted(TARBALLS), series
    script = (ROOT / "scripts" / "build-ffmpeg.sh").read_text(encoding="utf-8")
    for name, tarball in TARBALLS.items():
        version = tarball.name.removeprefix("ffmpeg_").removesuffix(".orig.tar.xz")
        assert f"{name}) FFMPEG_VERSION={version} " in script, (name, version)


@pytest.mark.parametrize("series", sorted(TARBALLS))
@pytest.mark.parametrize("tool", ["git", "patch"])
def test_the_patch_applies_and_adds_the_input(tmp_path: Path, series: str, tool: str) -> None:
    tarball = TARBALLS[series]
    if not tarball.is_file():
        pytest.skip(f"no {tarball} (FFMPEG_SERIES={series} bash scripts/build-ffmpeg.sh downloads it)")
    if shutil.which(tool) is None:
        pytest.skip(f"no {tool}")
    tree = tmp_path / "ffmpeg"
    tree.mkdir()
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            name = member.name.split("/", 1)[-1]
            if name in TOUCHED:
                member.name = name
                # The "data" filter where this Python has it (3.10.12+, 3.11.4+).
                kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                archive.extract(member, tree, **kwargs)
    patch = subprocess.run(
        ["bash", str(ROOT / "scripts" / "ffmpeg-patch.sh"), series], capture_output=True, check=True
    ).stdout
    command = ["git", "apply", "-"] if tool == "git" else ["patch", "-p1", "--forward", "--quiet"]
    applied = subprocess.run(command, cwd=tree, input=patch, capture_output=True, timeout=60)
    assert applied.returncode == 0, applied.stderr.decode() + applied.stdout.decode()
    assert (tree / "libavdevice" / "cuframes.c").read_bytes() == (ROOT / "ffmpeg" / "cuframes.c").read_bytes()
    assert "--enable-libcuframes" in (tree / "configure").read_text(encoding="utf-8")
    assert "ff_cuframes_demuxer" in (tree / "libavdevice" / "alldevices.c").read_text(encoding="utf-8")
    assert "CONFIG_CUFRAMES_INDEV" in (tree / "libavdevice" / "Makefile").read_text(encoding="utf-8")
