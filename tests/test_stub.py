"""_core.pyi tells the truth: it names what the built module has, no more, no less.

scripts/lint.sh regenerates the stub and diffs it (signatures included); this
test is the part that needs no generator: every public name of cuframes._core
and of each of its classes is in the stub, and the stub names nothing the
module lacks. The package ships the stub with py.typed."""

from __future__ import annotations

import ast
from pathlib import Path

import cuframes
from cuframes import _core

STUB = Path(cuframes.__file__).resolve().parent / "_core.pyi"


def _public(names) -> set[str]:
    return {name for name in names if not name.startswith("_")}


def _stub_names() -> tuple[set[str], dict[str, set[str]]]:
    tree = ast.parse(STUB.read_text())
    top: set[str] = set()
    classes: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            top.add(node.name)
            members = set()
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    members.add(item.name)
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    members.add(item.target.id)
            classes[node.name] = members
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            top.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            top.add(node.target.id)
        elif isinstance(node, ast.Assign):
            top.update(target.id for target in node.targets if isinstance(target, ast.Name))
    return top, classes


def test_the_stub_names_every_public_name_of_the_module_and_no_other() -> None:
    top, _classes = _stub_names()
    runtime = _public(dir(_core))
    assert runtime - _public(top) == set(), "missing from _core.pyi: run scripts/gen-stubs.sh"
    assert _public(top) - runtime == set(), "in _core.pyi but not in the module: run scripts/gen-stubs.sh"


def test_the_stub_names_every_public_member_of_each_class_and_no_other() -> None:
    _top, classes = _stub_names()
    for name, members in classes.items():
        runtime = _public(dir(getattr(_core, name)))
        assert runtime == _public(members), f"_core.{name} and its stub differ: run scripts/gen-stubs.sh"


def test_the_package_ships_the_stub_and_py_typed() -> None:
    assert STUB.is_file() and (STUB.parent / "py.typed").is_file()
