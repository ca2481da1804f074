"""The `sachnoi` command line: one click group; each area registers its commands.

Area modules (`web/cli_*.py`) expose `register(group)`, so a command lives beside the
code it drives and this file stays a list.
"""
from __future__ import annotations

import click

from web import cli_core, cli_mastering, cli_catalog, cli_studio, cli_ops


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sachnoi")
def main() -> None:
    """Sách Nói — sản xuất và phát sách nói cho thư viện (audiobook platform for libraries)."""


for _area in (cli_core, cli_mastering, cli_catalog, cli_studio, cli_ops):
    _area.register(main)


if __name__ == "__main__":
    main()
