"""The import rule of DESIGN.md, checked by walking every module's imports with ast."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("mastering", "recordings", "catalog", "studio", "streaming", "web")
ALLOWED = {
    "mastering": set(),
    "recordings": set(),
    "catalog": {"recordings"},
    "studio": {"mastering", "recordings", "catalog"},
    "streaming": {"catalog", "recordings"},
    "web": {"mastering", "recordings", "catalog", "studio", "streaming"},
}


def imported_packages(path: Path) -> set[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add((alias.name.split(".")[0], node.lineno))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.module.split(".")[0], node.lineno))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.add((arg.value.split(".")[0], node.lineno))
    return found


def violations(root: Path = ROOT) -> list[str]:
    bad = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            for name, line in imported_packages(path):
                if name in PACKAGES and name != package and name not in ALLOWED[package]:
                    bad.append(f"{path.relative_to(root)}:{line} imports {name}")
    return sorted(bad)  # tests and benchmarks may import anything; they are not walked


def test_no_forbidden_imports():
    assert violations() == []


def test_rule_catches_a_forbidden_arrow(tmp_path):
    for package in PACKAGES:
        (tmp_path / package).mkdir()
    (tmp_path / "mastering" / "bad.py").write_text("from catalog.models import Book\n")
    (tmp_path / "catalog" / "worse.py").write_text("import web.app\n")
    (tmp_path / "catalog" / "fine.py").write_text("from recordings.store import MediaStore\n")
    assert violations(tmp_path) == ["catalog/worse.py:1 imports web", "mastering/bad.py:1 imports catalog"]
