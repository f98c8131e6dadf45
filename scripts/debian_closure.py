"""Programs and plugins from another Debian release, with every library they load.

scripts/gst-gpu-bundle.sh --gst 1.26 uses it to carry Debian 13's GStreamer to a GPU
machine whose image has none (or an older one), and scripts/gst-compat-check.sh (--unpack)
to build against its headers: each named file is taken from its
package, then the shared libraries it needs (ELF NEEDED), and theirs, each from the
package that the suite's Contents index says holds it. The C library and its loader go
to a folder of their own (OUT/glibc), since they must never be on LD_LIBRARY_PATH of the
machine's own programs; everything else to OUT/lib. Packages are downloaded from the
mirror and unpacked under CACHE, never installed. What is downloaded is checked as apt
checks it: the suite's InRelease by its signature (gpgv, with Debian's archive keyring),
the Packages index by the SHA-256 that InRelease lists, each package by the SHA-256 that
index lists (a cached file that no longer matches, after a point release, is downloaded
again). The Contents index, which only says which package holds a file, is not checked
(Suite.contents says why).

    python3 scripts/debian_closure.py --cache build/gst-bundle --out .gpu-carry/gst-1.26 \\
        --take usr/bin/gst-launch-1.0=libexec --elf build/.../libgstcuframes.so
    python3 scripts/debian_closure.py --cache build/gst-compat/debian --unpack libgstreamer1.0-dev
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import http.client
import lzma
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import NoReturn

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
# Loaded at run time from the GPU machine (the driver, and the CUDA toolkit's NVRTC), never
# carried (and named by no NEEDED entry anyway).
FROM_THE_MACHINE = ("libcuda.so", "libnvcuvid.so", "libnvidia-encode.so", "libnvrtc.so")
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
TRIES = 3


def fail(message: str) -> NoReturn:
    sys.exit(f"debian_closure.py: {message}")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, dest: Path) -> None:
    """url to dest, through dest.part: a broken transfer never leaves a file behind."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    for attempt in range(1, TRIES + 1):
        try:
            with urllib.request.urlopen(url, timeout=120) as response, open(partial, "wb") as out:
                shutil.copyfileobj(response, out)
            partial.rename(dest)
            return
        except urllib.error.HTTPError as error:
            if error.code == 404:
                fail(f"{url} is gone (404): the suite has moved on; remove the cached index and try again")
            failure: Exception = error
        except (OSError, http.client.HTTPException) as error:  # a reset, a truncated body
            failure = error
        if attempt < TRIES:
            time.sleep(5 * attempt)
    fail(f"cannot download {url}: {failure}")


def fetch(url: str, dest: Path, sha256: str) -> Path:
    """dest, downloaded unless a cached copy already has this SHA-256; checked either way."""
    if dest.is_file() and sha256_of(dest) == sha256:
        return dest
    download(url, dest)
    if sha256_of(dest) != sha256:
        dest.unlink()
        fail(f"{url} does not have the SHA-256 its signed index lists ({sha256})")
    return dest


def signed_index_hashes(mirror: str, suite: str, cache: Path) -> dict[str, str]:
    """The suite's InRelease, checked by its signature: file (e.g. main/Contents-amd64.gz) -> SHA-256.
    Downloaded every run (140 kB): it is what says whether the cached indexes are current."""
    if not KEYRING.is_file():
        fail(f"no {KEYRING}, which checks the suite's signature (apt-get install debian-archive-keyring)")
    if shutil.which("gpgv") is None:
        fail("no gpgv, which checks the suite's signature (apt-get install gpgv)")
    signed = cache / f"InRelease-{suite}"
    download(f"{mirror}/dists/{suite}/InRelease", signed)
    checked = subprocess.run(
        ["gpgv", "--keyring", str(KEYRING), "--output", "-", str(signed)], capture_output=True, timeout=60
    )
    if checked.returncode != 0:
        fail(f"the signature of {suite}'s InRelease does not check out: {checked.stderr.decode(errors='replace')}")
    hashes: dict[str, str] = {}
    in_sha256 = False
    for line in checked.stdout.decode().splitlines():
        if not line.startswith(" "):
            in_sha256 = line.strip() == "SHA256:"
            continue
        if in_sha256:
            digest, _size, name = line.split()
            hashes[name] = digest
    return hashes


class Suite:
    """One Debian suite's indexes: package -> pool file, and file path -> package."""

    def __init__(self, mirror: str, suite: str, cache: Path) -> None:
        self.mirror = mirror.rstrip("/")
        self.suite = suite
        self.cache = cache
        self.root = cache / "root"
        self.index_hashes = signed_index_hashes(self.mirror, suite, cache)
        packages = self.index("main/binary-amd64/Packages.xz")
        # package -> (its file in the pool, that file's SHA-256)
        self.pool: dict[str, tuple[str, str]] = {}
        fields: dict[str, str] = {}
        with lzma.open(packages, "rt", encoding="utf-8") as index:
            lines = index.read().splitlines() + [""]
        for line in lines:
            if line.strip():
                if not line[0].isspace() and ":" in line:
                    name, value = line.split(":", 1)
                    fields[name] = value.strip()
                continue
            if "Package" in fields and "Filename" in fields and "SHA256" in fields:
                self.pool[fields["Package"]] = (fields["Filename"], fields["SHA256"])
            fields = {}
        self._owner: dict[str, str] | None = None
        self.unpacked: set[str] = set()

    def index(self, name: str) -> Path:
        """One of the suite's indexes (main/binary-amd64/Packages.xz), as InRelease lists it."""
        if name not in self.index_hashes:
            fail(f"{self.suite}'s InRelease lists no {name}")
        cached = self.cache / f"{self.suite}-{name.replace('/', '_')}"
        return fetch(f"{self.mirror}/dists/{self.suite}/{name}", cached, self.index_hashes[name])

    def contents(self) -> Path:
        """The Contents index, not checked against InRelease: mirrors update it apart from the
        rest (this project's mirror served one that no InRelease of the day listed). It only
        says which package to take for a file; the package is then checked by the SHA-256 that
        the checked Packages index lists, so a wrong Contents can pick a wrong package of the
        suite, never an unsigned file."""
        cached = self.cache / f"{self.suite}-main_Contents-amd64.gz"
        if not cached.is_file():
            download(f"{self.mirror}/dists/{self.suite}/main/Contents-amd64.gz", cached)
        return cached

    @property
    def owner(self) -> dict[str, str]:
        """File path (no leading /) -> the package that holds it, from the Contents index
        (13 MB: read only when a file is looked up)."""
        if self._owner is None:
            contents = self.contents()
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
            fail(
                f"{package} is not in {self.suite}'s Packages index"
                " (if the Contents index named it, that index is stale:"
                f" remove {self.cache}/{self.suite}-main_Contents-amd64.gz)"
            )
        filename, sha256 = self.pool[package]
        deb = fetch(f"{self.mirror}/{filename}", self.cache / "debs" / Path(filename).name, sha256)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(self.root)], check=True)
        self.unpacked.add(package)

    def file(self, path: str) -> tuple[Path, str]:
        """The unpacked file at path (a path inside the suite, no leading /) and its package."""
        package = self.owner.get(path)
        if package is None:
            fail(f"no package of the suite holds {path}")
        self.unpack(package)
        return self.root / path, package

    def library(self, soname: str) -> tuple[Path, str] | None:
        for folder in ARCH_LIBS:
            if f"{folder}/{soname}" in self.owner:
                return self.file(f"{folder}/{soname}")
        return None


def real_file(root: Path, path: Path) -> Path:
    """path (under root) with every symbolic link on it followed inside root, those of its
    folders too: an absolute target means root's /, not this machine's, and no link may lead
    out of root."""
    root = Path(os.path.abspath(root))
    path = Path(os.path.abspath(path))
    for _ in range(40):
        if not path.is_relative_to(root):
            fail(f"{path} leads out of the unpacked packages ({root})")
        parts = path.relative_to(root).parts
        for depth in range(1, len(parts) + 1):
            here = root.joinpath(*parts[:depth])
            if here.is_symlink():
                target = Path(os.readlink(here))
                base = root / target.relative_to("/") if target.is_absolute() else here.parent / target
                path = Path(os.path.normpath(base.joinpath(*parts[depth:])))
                break
        else:
            return path
    fail(f"a loop of symbolic links at {path}")


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
            if soname in have or soname.startswith(FROM_THE_MACHINE):
                continue
            have.add(soname)
            found = suite.library(soname)
            if found is None:
                fail(f"no package of {args.suite} holds {soname}")
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
        if dest.exists():
            continue
        source = real_file(suite.root, libc_dir / name)
        if not source.is_file():
            fail(f"the suite's {LIBC_PACKAGE} has no {name}")
        shutil.copy2(source, dest)
    print(f"debian_closure.py: {len(carried)} libraries from {args.suite}: " + ", ".join(sorted(carried)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
