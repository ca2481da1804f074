"""No import circle among our modules: the module-level import graph of every package (web included)
has no cycle. Imports inside functions run later and are left out; so are `if TYPE_CHECKING:` blocks."""
from __future__ import annotations

import ast
from pathlib import Path

from test_layers import PACKAGES, ROOT


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _module_level(body: list[ast.stmt]):
    """Import statements that run when the module is imported (not in functions, not type-only)."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if not _type_checking(node):
                yield from _module_level(node.body)
            yield from _module_level(node.orelse)
        elif isinstance(node, (ast.Try, ast.With, ast.ClassDef)):
            for block in ("body", "orelse", "finalbody"):
                yield from _module_level(getattr(node, block, []))
            for handler in getattr(node, "handlers", []):
                yield from _module_level(handler.body)


def _known(name: str, modules: set[str]) -> str | None:
    """`name` or its longest prefix that is one of our modules."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph(root: Path = ROOT, packages=PACKAGES) -> dict[str, set[str]]:
    """{module: modules of ours it imports at module level}."""
    files = {module_name(root, p): p for package in packages for p in sorted((root / package).rglob("*.py"))}
    modules = set(files)
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in _module_level(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                # `from pkg import sub` imports the submodule when there is one
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            edges |= {t for t in (_known(t, modules) for t in targets) if t and t != name}
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        # recursion depth is bounded by the number of modules (a few hundred)
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_no_import_circle_among_our_modules():
    graph = import_graph()
    assert {"delivery.ffmpeg", "studio.package", "web.app"} <= set(graph)  # every package was read
    assert cycles(graph) == []


def test_a_planted_circle_is_found(tmp_path):
    for package in ("mastering", "studio"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "studio" / "a.py").write_text("from studio import b\n")
    (tmp_path / "studio" / "b.py").write_text("import os\nif True:\n    from .c import x\n")
    (tmp_path / "studio" / "c.py").write_text("from studio.a import thing\n")
    (tmp_path / "studio" / "lazy.py").write_text("from studio import a\n")
    # imports that do not run at import time close no circle
    (tmp_path / "mastering" / "d.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from mastering.e import E\n")
    (tmp_path / "mastering" / "e.py").write_text("def f():\n    from mastering import d\n")
    graph = import_graph(tmp_path, ("mastering", "studio"))
    assert graph["studio.b"] == {"studio.c"} and graph["mastering.d"] == set()
    assert cycles(graph) == [["studio.a", "studio.b", "studio.c"]]
