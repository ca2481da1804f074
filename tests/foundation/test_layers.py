"""The import rule of DESIGN.md, checked by walking every module's imports with ast."""
from __future__ import annotations

import ast
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
