"""The import rule of DESIGN.md, checked by walking every module's imports with ast."""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("mastering", "delivery", "recordings", "catalog", "studio", "streaming", "web")
ALLOWED = {
    "mastering": set(),
    "delivery": set(),
    "recordings": set(),
    "catalog": {"recordings"},
    "studio": {"mastering", "delivery", "recordings", "catalog"},
    "streaming": {"delivery", "catalog", "recordings"},
    "web": {"mastering", "delivery", "recordings", "catalog", "studio", "streaming"},
}
# `mastering` is measurement, the chain, profiles and QC: numbers in, numbers out. Encoding and
# every other file format is `delivery`'s, so besides the standard library it needs only these.
MASTERING_THIRD_PARTY = {
    "numpy", "scipy", "soundfile",
    # optional RNNoise model (`denoise = "neural"`, the `neural` extra); imported inside a function
    # in mastering/neural.py, and without it the chain uses its spectral stage
    "pyrnnoise",
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


def mastering_outside_imports(root: Path = ROOT) -> list[str]:
    """Imports in mastering/ of anything but the standard library, its own modules and the list above."""
    bad = []
    for path in sorted((root / "mastering").rglob("*.py")):
        for name, line in imported_packages(path):
            if name not in sys.stdlib_module_names and name not in MASTERING_THIRD_PARTY and name != "mastering":
                bad.append(f"{path.relative_to(root)}:{line} imports {name}")
    return sorted(bad)


def test_mastering_needs_only_numpy_scipy_soundfile():
    assert mastering_outside_imports() == []


def test_mastering_rule_catches_an_encoder_import(tmp_path):
    (tmp_path / "mastering").mkdir()
    (tmp_path / "mastering" / "fine.py").write_text("import os\nimport numpy as np\nfrom scipy import signal\n"
                                                    "from mastering.meter import Meter\n")
    (tmp_path / "mastering" / "bad.py").write_text("def f():\n    import imageio_ffmpeg\n"
                                                   "from delivery.ffmpeg import run\n")
    assert mastering_outside_imports(tmp_path) == ["mastering/bad.py:2 imports imageio_ffmpeg",
                                                   "mastering/bad.py:3 imports delivery"]


def test_no_forbidden_imports():
    assert violations() == []


def test_rule_catches_a_forbidden_arrow(tmp_path):
    for package in PACKAGES:
        (tmp_path / package).mkdir()
    (tmp_path / "mastering" / "bad.py").write_text("from catalog.models import Book\n")
    (tmp_path / "catalog" / "worse.py").write_text("import web.app\n")
    (tmp_path / "catalog" / "fine.py").write_text("from recordings.store import MediaStore\n")
    (tmp_path / "delivery" / "bad.py").write_text("from mastering.profiles import get_profile\n")
    (tmp_path / "streaming" / "fine.py").write_text("from delivery.hls import rewrite_uris\n")
    assert violations(tmp_path) == ["catalog/worse.py:1 imports web", "delivery/bad.py:1 imports mastering",
                                    "mastering/bad.py:1 imports catalog"]


def web_import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module → the `web.*` modules it imports (at the top or inside functions)."""
    graph = {}
    for path in sorted((root / "web").glob("*.py")):
        name = f"web.{path.stem}"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module == "web":
                    found |= {f"web.{alias.name}" for alias in node.names}
                elif node.module.startswith("web."):
                    found.add(node.module)
            elif isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names if alias.name.startswith("web.")}
        graph[name] = found - {name}
    return graph


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every circle of imports, each as the path from a module back to itself."""
    circles, done = [], set()

    def visit(module: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(module, ())):
            if nxt in path:
                circles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in done:
                visit(nxt, path + [nxt])
        done.add(module)

    for module in sorted(graph):
        visit(module, [module])
    return circles


def test_no_import_circle_between_web_modules():
    assert import_circles(web_import_graph()) == []


def test_circle_finder_finds_a_circle():
    graph = {"web.a": {"web.b"}, "web.b": {"web.c"}, "web.c": {"web.a"}, "web.d": {"web.a"}}
    assert import_circles(graph) == [["web.a", "web.b", "web.c", "web.a"]]
    assert import_circles({"web.a": {"web.b"}, "web.b": set()}) == []


HAND_CODED_ACCESS = re.compile(
    r"role\s*(==|!=|in)\s*(Role\.ADMIN|[\"']admin[\"'])"              # "is it an admin?"
    r"|library_id\s*(==|!=)\s*(current_user|user|actor)\.library_id")  # "…or staff of this library?"


def hand_coded_access_checks(root: Path = ROOT) -> list[str]:
    """Lines outside catalog/access.py that re-code "admin, or staff of this library"."""
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if path.relative_to(root).as_posix() == "catalog/access.py":
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if HAND_CODED_ACCESS.search(line):
                    found.append(f"{path.relative_to(root)}:{number}")
    return found


def test_access_rules_are_spelled_once():
    """catalog.access (may_manage, managed_by, has_role, is_admin) is the one place."""
    assert hand_coded_access_checks() == []


def test_access_check_finder_finds_one(tmp_path):
    for package in PACKAGES:
        (tmp_path / package).mkdir()
    (tmp_path / "web" / "bad.py").write_text(
        'ok = current_user.role == "admin" or book.library_id == current_user.library_id\n')
    (tmp_path / "catalog" / "access.py").write_text('ok = user.role == Role.ADMIN\n')
    assert hand_coded_access_checks(tmp_path) == ["web/bad.py:1"]
