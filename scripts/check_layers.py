"""Checks the include directions between the C++ layers (scripts/lint.sh runs it).

    python3 scripts/check_layers.py [ROOT]     # ROOT: the repository (default: this one)

cpp/src has one folder per layer; a file may include its own layer, the layers
ALLOWED lists for it, and the public headers (cpp/include/cuframes). Internal
includes are written from cpp/src ("base/unique_fd.hpp"), so the folder of each
include names its layer. The public headers and cpp/bindings see the public
headers only, and nothing in the core includes pybind11 or Python. Exits 1
naming every offending include (file:line), 0 when all hold. docs/architecture.md
says why the table is what it is.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# layer -> the other layers it may include. The producer and the consumer never
# include each other; base (OS utilities) includes no other layer; the C ABI goes
# through the public C++ API only.
ALLOWED: dict[str, frozenset[str]] = {
    "base": frozenset(),
    "media": frozenset({"base"}),
    "cuda": frozenset({"base"}),
    "slots": frozenset({"base", "cuda"}),
    "protocol": frozenset({"base", "media"}),
    "producer": frozenset({"base", "media", "cuda", "slots", "protocol"}),
    "consumer": frozenset({"base", "media", "cuda", "slots", "protocol"}),
    "capi": frozenset(),
}
PUBLIC_PREFIX = "cuframes/"
SOURCE_SUFFIXES = {".h", ".hpp", ".c", ".cpp"}
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
PYTHON_HEADER = re.compile(r"^(pybind11/|Python\.h$)")


def _sources(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix in SOURCE_SUFFIXES)


def _includes(path: Path):
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = INCLUDE.match(line)
        if match:
            yield number, match.group(1) == "<", match.group(2)


def _check_core_file(path: Path, layer: str, layers: set[str], public: set[str]) -> list[str]:
    problems = []
    for number, angled, target in _includes(path):
        where = f"{path}:{number}: #include {'<' if angled else chr(34)}{target}{'>' if angled else chr(34)}"
        if PYTHON_HEADER.match(target):
            problems.append(f"{where}: the core knows no Python (pybind11 belongs in cpp/bindings)")
            continue
        if angled:
            continue
        if target.startswith(PUBLIC_PREFIX):
            if target[len(PUBLIC_PREFIX) :] not in public:
                problems.append(f"{where}: no such public header in cpp/include/cuframes")
            continue
        first = target.split("/", 1)[0]
        if "/" not in target or first not in layers:
            names = ", ".join(sorted(layers))
            problems.append(f"{where}: write internal includes from cpp/src, as LAYER/FILE (layers: {names})")
        elif layer == "public":
            problems.append(f"{where}: a public header includes public headers only (no internal type in it)")
        elif first != layer and first not in ALLOWED[layer]:
            allowed = ", ".join(sorted(ALLOWED[layer])) or "no other layer"
            problems.append(f"{where}: layer '{layer}' may not include layer '{first}' (it may include: {allowed})")
    return problems


def _check_bindings(folder: Path, public: set[str]) -> list[str]:
    problems = []
    local = {p.name for p in folder.iterdir()}
    for path in _sources(folder):
        for number, angled, target in _includes(path):
            if angled or target in local:
                continue
            if not (target.startswith(PUBLIC_PREFIX) and target[len(PUBLIC_PREFIX) :] in public):
                problems.append(f'{path}:{number}: #include "{target}": the bindings include public headers only')
    return problems


def check(root: Path) -> list[str]:
    src, include = root / "cpp" / "src", root / "cpp" / "include" / "cuframes"
    public = {p.name for p in include.iterdir()}
    layers = set(ALLOWED)
    problems = []
    for path in _sources(src):
        layer = path.relative_to(src).parts[0]
        if layer not in layers:
            names = ", ".join(sorted(layers))
            problems.append(
                f"{path}: not in a layer folder of cpp/src ({names}); move it into one, or add a layer to ALLOWED"
            )
            continue
        problems += _check_core_file(path, layer, layers, public)
    for path in _sources(include):
        problems += _check_core_file(path, "public", layers, public)
    problems += _check_bindings(root / "cpp" / "bindings", public)
    return problems


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent
    problems = check(root)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"check_layers: {len(problems)} problem(s) with the layer rules (ALLOWED in {__file__})", file=sys.stderr)
        return 1
    print("check_layers: the include directions hold")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
