"""The `sachnoi` command line: one click group; each area registers its commands.

Area modules (`web/cli_*.py`) expose `register(group)`, so a command lives beside the
code it drives and this file stays a list.
"""
from __future__ import annotations

from pathlib import Path

import click

from web import cli_catalog, cli_core, cli_manuscript, cli_mastering, cli_ops, cli_studio

# Commands that never open the database (restore is the remedy for a damaged one).
NO_DATABASE = {"measure", "master", "check-config", "restore"}


class SachnoiGroup(click.Group):
    """Turns the failures an operator can act on — a damaged database, a full disk — into one
    sentence that says what to do, instead of a traceback, for every command. A SQLite file is
    quick_check'ed before any command that opens it: damage in pages a command does not read
    would otherwise show up later, in the middle of its work."""

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name, command, rest = super().resolve_command(ctx, args)
        if name not in NO_DATABASE and not {"-h", "--help"} & set(rest):
            _check_database()
        return name, command, rest

    def invoke(self, ctx: click.Context):
        # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
        from catalog.integrity import CORRUPT_MESSAGE, is_corrupt
        from recordings.disk import DISK_FULL_MESSAGE, is_disk_full
        try:
            return super().invoke(ctx)
        except click.exceptions.Exit:
            raise
        except Exception as exc:
            if is_corrupt(exc):
                raise click.ClickException(CORRUPT_MESSAGE.format(path=_database_name())) from None
            if is_disk_full(exc):
                raise click.ClickException(f"{DISK_FULL_MESSAGE}: giải phóng dung lượng rồi chạy lại lệnh "
                                           f"(free some space, then run the command again).") from None
            raise


def _check_database() -> None:
    """Raise ClickException when the instance's SQLite file fails quick_check (nothing to check
    for PostgreSQL, or before the file exists)."""
    # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
    from catalog.db import make_engine
    from catalog.integrity import CORRUPT_MESSAGE, quick_check
    from web.config import load_settings
    url = load_settings()["DATABASE_URL"]
    if url.startswith("sqlite") and not Path(url.split("///", 1)[-1]).is_file():
        return
    engine = make_engine(url)
    try:
        problems = quick_check(engine)
    finally:
        engine.dispose()
    if problems:
        raise click.ClickException(CORRUPT_MESSAGE.format(path=_database_name()) + f" quick_check: {problems[0]}")


def _database_name() -> str:
    try:
        # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
        from web.config import load_settings
        return load_settings()["DATABASE_URL"].split("///")[-1]
    except Exception:  # the sentence matters more than the name
        return "sachnoi.db"


@click.group(cls=SachnoiGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sachnoi")
def main() -> None:
    """Sách Nói — sản xuất và phát sách nói cho thư viện (audiobook platform for libraries)."""


for _area in (cli_core, cli_mastering, cli_catalog, cli_studio, cli_ops, cli_manuscript):
    _area.register(main)


if __name__ == "__main__":
    main()
