"""Programs and plugins from another Debian release, with every library they load.

scripts/gst-gpu-bundle.sh --gst 1.26 uses it to carry Debian 13's GStreamer to a GPU
machine whose image has none (or an older one), and scripts/gst-compat-check.sh (--unpack)
to build against its headers: each named file is taken from its
package, then the shared libraries it needs (ELF NEEDED), and theirs, each from the
package that the suite's Contents index says holds it. The C library and its loader go
to a folder of their own (OUT/glibc), since they must never be on LD_LIBRARY_PATH of the
machine's own programs; everything else to OUT/lib. Packages are downloaded from the
mirror and unpacked under CACHE, never installed.

    python3 scripts/debian_closure.py --cache build/gst-bundle --out .gpu-carry/gst-1.26 \\
        --take usr/bin/gst-launch-1.0=bin --elf build/.../libgstcuframes.so
    python3 scripts/debian_closure.py --cache build/gst-compat/debian --unpack libgstreamer1.0-dev
"""

from __future__ import annotations

import argparse
import gzip
import lzma
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

ARCH_LIBS = ("usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu", "usr/lib64", "lib64", "usr/lib", "lib")
# The C library's package: its files go to OUT/glibc, never onto the machine's library path.
LIBC_PACKAGE = "libc6"
LIBC_PARTS = (
    "ld-linux-x86-64.so.2",
    "libc.so.6",
    "libm.so.6",
    "libdl.so.2",
    "libpthread.so.0",
    "librt.so.1",
    "libresolv.so.2",
)
# Loaded from the GPU machine's driver, never carried (and named by no NEEDED entry anyway).
FROM_THE_DRIVER = ("libcuda.so", "libnvcuvid.so", "libnvidia-encode.so", "libnvrtc.so")


def fetch(url: str, dest: Path) -> Path:
    if not dest.exists() or dest.stat().st_size == 0:
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_suffix(dest.suffix + ".part")
        for attempt in range(3):
            try:
                with urllib.request.urlopen(url, timeout=120) as response, open(partial, "wb") as out:
                    shutil.copyfileobj(response, out)
                break
            except OSError as error:
                if attempt == 2:
                    sys.exit(f"debian_closure.py: cannot download {url}: {error}")
        partial.rename(dest)
    return dest


class Suite:
    """One Debian suite's indexes: package -> pool file, and file path -> package."""

    def __init__(self, mirror: str, suite: str, cache: Path) -> None:
        self.mirror = mirror.rstrip("/")
        self.cache = cache
        self.root = cache / "root"
        packages = fetch(f"{self.mirror}/dists/{suite}/main/binary-amd64/Packages.xz", cache / f"Packages-{suite}.xz")
        self.pool: dict[str, str] = {}
        fields: dict[str, str] = {}
        with lzma.open(packages, "rt", encoding="utf-8") as index:
            lines = index.read().splitlines() + [""]
        for line in lines:
            if line.strip():
                if not line[0].isspace() and ":" in line:
                    name, value = line.split(":", 1)
                    fields[name] = value.strip()
                continue
            if "Package" in fields and "Filename" in fields:
                self.pool[fields["Package"]] = fields["Filename"]
            fields = {}
        self.suite = suite
        self._owner: dict[str, str] | None = None
        self.unpacked: set[str] = set()

    @property
    def owner(self) -> dict[str, str]:
        """File path (no leading /) -> the package that holds it, from the Contents index
        (13 MB: read only when a file is looked up)."""
        if self._owner is None:
            contents = fetch(
                f"{self.mirror}/dists/{self.suite}/main/Contents-amd64.gz", self.cache / f"Contents-{self.suite}.gz"
            )
            self._owner = {}
            with gzip.open(contents, "rt", encoding="utf-8", errors="replace") as index:
                for line in index:
                    path, _, where = line.rstrip("\n").rpartition(" ")
                    path = path.strip()
                    if path.startswith(ARCH_LIBS) or path.startswith("usr/bin/"):
                        # "section/package[,section/package]": the first is enough
                        self._owner[path] = where.split(",")[0].rsplit("/", 1)[-1]
        return self._owner

    def unpack(self, package: str) -> None:
        if package in self.unpacked:
            return
        if package not in self.pool:
            sys.exit(f"debian_closure.py: {package} is not in the suite's Packages index")
        deb = fetch(f"{self.mirror}/{self.pool[package]}", self.cache / "debs" / Path(self.pool[package]).name)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(self.root)], check=True)
        self.unpacked.add(package)

    def file(self, path: str) -> tuple[Path, str]:
        """The unpacked file at path (a path inside the suite, no leading /) and its package."""
        package = self.owner.get(path)
        if package is None:
            sys.exit(f"debian_closure.py: no package of the suite holds {path}")
        self.unpack(package)
        return self.root / path, package

    def library(self, soname: str) -> tuple[Path, str] | None:
        for folder in ARCH_LIBS:
            if f"{folder}/{soname}" in self.owner:
                return self.file(f"{folder}/{soname}")
        return None


def real_file(root: Path, path: Path) -> Path:
    """path (under root) with its symbolic links followed inside root: an absolute link
    target means root's /, not this machine's."""
    for _ in range(40):
        if not path.is_symlink():
            return path
        target = Path(os.readlink(path))
        path = root / target.relative_to("/") if target.is_absolute() else path.parent / target
    sys.exit(f"debian_closure.py: a loop of symbolic links at {path}")


def needed(elf: Path) -> list[str]:
    out = subprocess.run(["readelf", "-d", str(elf)], check=True, capture_output=True, text=True).stdout
    return [line.split("[", 1)[1].split("]", 1)[0] for line in out.splitlines() if "(NEEDED)" in line]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mirror", default="http://deb.debian.org/debian")
    parser.add_argument("--suite", default="trixie")
    parser.add_argument("--cache", type=Path, required=True, help="downloads and unpacked packages")
    parser.add_argument("--out", type=Path, help="the bundle (needed with --take and --elf)")
    parser.add_argument(
        "--unpack",
        action="append",
        default=[],
        metavar="PACKAGE",
        help="only unpack these packages under CACHE/root, and print that folder",
    )
    parser.add_argument(
        "--take", action="append", default=[], metavar="PATH=FOLDER", help="a file of the suite, copied to OUT/FOLDER"
    )
    parser.add_argument(
        "--elf",
        action="append",
        default=[],
        type=Path,
        help="a local binary (already in OUT) whose libraries are needed too",
    )
    parser.add_argument(
        "--provided",
        action="append",
        default=[],
        metavar="SONAME",
        help="a library the bundle already holds (not from the suite)",
    )
    args = parser.parse_args()

    suite = Suite(args.mirror, args.suite, args.cache)
    if args.unpack:
        for package in args.unpack:
            suite.unpack(package)
        print(suite.root)
        return 0
    if args.out is None:
        parser.error("--out is needed unless --unpack is given")
    suite.unpack(LIBC_PACKAGE)  # the loader is needed even where no NEEDED names it
    (args.out / "lib").mkdir(parents=True, exist_ok=True)
    (args.out / "glibc").mkdir(parents=True, exist_ok=True)

    queue: list[Path] = list(args.elf)
    for take in args.take:
        path, _, folder = take.partition("=")
        source, _package = suite.file(path)
        dest = args.out / folder / Path(path).name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(real_file(suite.root, source), dest)
        queue.append(dest)

    have = set(args.provided)
    carried: list[str] = []
    while queue:
        for soname in needed(queue.pop()):
            if soname in have or soname.startswith(FROM_THE_DRIVER):
                continue
            have.add(soname)
            found = suite.library(soname)
            if found is None:
                sys.exit(f"debian_closure.py: no package of {args.suite} holds {soname}")
            source, package = found
            dest = args.out / ("glibc" if package == LIBC_PACKAGE else "lib") / soname
            shutil.copy2(real_file(suite.root, source), dest)
            carried.append(f"{soname} ({package})")
            queue.append(dest)
    # The C library's loader, and the parts of it that libraries loaded later (dlopen: the
    # driver's libcuda) need, whether or not a NEEDED entry here names them.
    libc_dir = suite.root / "usr/lib/x86_64-linux-gnu"
    for name in LIBC_PARTS:
        dest = args.out / "glibc" / name
        if not dest.exists():
            shutil.copy2(real_file(suite.root, libc_dir / name), dest)
    loader = args.out / "glibc" / "ld-linux-x86-64.so.2"
    if not loader.exists():
        sys.exit("debian_closure.py: the suite's libc6 has no ld-linux-x86-64.so.2")
    print(f"debian_closure.py: {len(carried)} libraries from {args.suite}: " + ", ".join(sorted(carried)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
