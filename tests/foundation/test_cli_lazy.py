"""`sachnoi` loads a command's area only when that command runs, and its help listing comes
from the table in web/cli.py: the table must say what the areas really register."""
from __future__ import annotations

import importlib
import subprocess
import sys

import click

from web.cli import COMMANDS, main

HEAVY = ("scipy", "librosa", "numba", "boto3", "dramatiq", "playwright", "pymarc", "studio.pipeline")


def test_the_table_lists_every_command_of_every_area_with_its_own_short_help():
    registered: dict[str, tuple[str, str]] = {}
    for module in sorted({module for module, _ in COMMANDS.values()}):
        scratch = click.Group()
        importlib.import_module(module).register(scratch)
        for name, command in scratch.commands.items():
            registered[name] = (module, command.get_short_help_str(limit=500))
    assert registered == COMMANDS


def test_every_listed_command_resolves():
    ctx = click.Context(main)
    for name in COMMANDS:
        command = main.get_command(ctx, name)
        assert command is not None and command.name == name


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"import sys\n{code}\nprint(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_version_help_and_db_upgrade_start_without_the_heavy_libraries():
    for code in ("from web.cli import main",
                 "from web.cli import main\nimport click\nmain.get_command(click.Context(main), 'db')",
                 "from web.cli import main\nimport click\nmain.get_command(click.Context(main), 'user')"):
        loaded = _modules_after(code)
        assert not {m for m in loaded if m.split(".")[0] in HEAVY or m in HEAVY}, code
    # the help listing imports no area at all
    assert not {m for m in _modules_after("from web.cli import main") if m.startswith("web.cli_")}


def test_help_lists_every_command_with_its_help():
    result = subprocess.run([sys.executable, "-m", "web.cli", "--help"], capture_output=True, text=True,
                            check=True)
    listing = " ".join(result.stdout.split())  # click wraps long help lines
    for name, (_, short_help) in COMMANDS.items():
        assert f"{name} {short_help}" in listing
