"""The library never imports the command line (docs/architecture.md).

cuframes.cli (click, rich) sits on top of the library; a program that embeds
cuframes must not pay for, or break on, the CLI's dependencies. Checked twice:
statically (every import statement of every library file, including the lazy
ones inside functions) and at run time (a fresh interpreter imports every
library module and finds no CLI module loaded).
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import cuframes

PACKAGE = Path(cuframes.__file__).resolve().parent
# __main__ is the `python -m cuframes` entry point into the CLI, not library.
NOT_LIBRARY = {"cli", "__main__"}
CLI_ONLY = ("click", "rich", "cuframes.cli")


def library_modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[0] in NOT_LIBRARY:
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(("cuframes", *parts)))
    return names


def imported_names(path: Path, module: str) -> list[str]:
    """Absolute names of everything `path` imports (relative imports resolved)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names.append(target)
            names += [f"{target}.{alias.name}" for alias in node.names]
    return names


def is_cli(name: str) -> bool:
    return any(name == cli or name.startswith(cli + ".") for cli in CLI_ONLY)


def test_library_modules_are_found() -> None:
    modules = library_modules()
    assert "cuframes.publisher" in modules and "cuframes.sources.annexb" in modules
    assert not any(m.startswith("cuframes.cli") for m in modules)


def test_no_library_file_imports_the_cli() -> None:
    offenders = []
    for module in library_modules():
        parts = module.split(".")[1:]
        path = PACKAGE.joinpath(*parts)
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        offenders += [f"{module} imports {name}" for name in imported_names(path, module) if is_cli(name)]
    assert offenders == [], "the library must not import the command line:\n" + "\n".join(offenders)


def test_importing_every_library_module_loads_no_cli() -> None:
    script = textwrap.dedent(f"""
        import importlib, sys
        for name in {library_modules()!r}:
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as e:
                # An optional extra (av, torch, PyNvVideoCodec) that is not installed here.
                if (e.name or "").startswith("cuframes"):
                    raise
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("click", "rich") or m.startswith("cuframes.cli"))
        print(" ".join(loaded))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == []


def test_python_dash_m_cuframes_runs_the_cli() -> None:
    result = subprocess.run([sys.executable, "-m", "cuframes", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "publish" in result.stdout and "record" in result.stdout
