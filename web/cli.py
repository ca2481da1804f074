"""The `sachnoi` command line: one click group; each area registers its commands.

Area modules (`web/cli_*.py`) expose `register(group)`, so a command lives beside the
code it drives and this file stays a list. The list (COMMANDS) names each top-level command's
area and short help, and an area is imported only when one of its commands runs (click's
"Lazily Loading Subcommands" pattern): `sachnoi --version`, `--help` and `db upgrade` start without
the audio stack (scipy, librosa, numba), boto3 or the task engine.
"""
from __future__ import annotations

from pathlib import Path

import importlib

import click

# top-level command -> (area module that registers it, short help shown by `sachnoi --help`);
# tests/foundation/test_cli_lazy.py checks this table against what the areas register.
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("web.cli_core", "Chạy máy chủ web (serve the site; applies migrations first)."),
    "db": ("web.cli_core", "Cơ sở dữ liệu (database)."),
    "user": ("web.cli_core", "Tài khoản người dùng (user accounts)."),
    "ingest": ("web.cli_core", "Nhập một thư mục phiên ghi âm và sản xuất sách (ingest a session folder "
                               "and produce the book)."),
    "demo": ("web.cli_core", "Nhập phiên ghi âm mẫu, xuất bản và tạo tài khoản thử (ingest and publish the "
                             "demo, create demo logins)."),
    "measure": ("web.cli_mastering", "Đo độ to BS.1770 / EBU R128 và các chỉ số ACX của một tệp (measure one "
                                     "file)."),
    "master": ("web.cli_mastering", "Master một tệp hoặc các chương của một buổi thu (master one file or a "
                                    "session folder)."),
    "export": ("web.cli_catalog", "Xuất dữ liệu (export data)."),
    "import": ("web.cli_catalog", "Nhập dữ liệu (import data)."),
    "catalog": ("web.cli_catalog", "Mục lục (catalogue maintenance)."),
    "talking-book": ("web.cli_studio", "Tạo sách nói EPUB 3 (Media Overlays) và DAISY 2.02 cho sách đã đóng "
                                       "gói (write the talking books)."),
    "fixity": ("web.cli_studio", "Băm lại mọi bản gốc và báo sai lệch (re-hash every original; exit 1 on "
                                 "any mismatch or missing file)."),
    "worker": ("web.cli_studio", "Chạy worker xử lý việc ở tiền cảnh (run job workers in the foreground)."),
    "watch": ("web.cli_studio", "Theo dõi thư mục nhận và nhập các phiên ghi âm (watch the hot folder and "
                                "ingest session folders)."),
    "backup": ("web.cli_ops", "Sao lưu trực tuyến CSDL và tệp âm thanh vào thư mục mới DEST (consistent "
                              "online backup)."),
    "restore": ("web.cli_ops", "Khôi phục bản sao lưu SRC vào một bản cài đặt TRỐNG (restore onto an empty "
                               "instance)."),
    "check-config": ("web.cli_ops", "Kiểm tra cấu hình an toàn cho production (check the settings are safe "
                                    "for production)."),
    "media": ("web.cli_ops", "Phiên bản media phục vụ bạn đọc (the published media versions, "
                             "studio.media_versions)."),
    "manuscript": ("web.cli_manuscript", "Bản thảo: gắn văn bản của sách và căn chỉnh với âm thanh "
                                         "(manuscripts and alignment)."),
}

# Commands that never open the database (restore is the remedy for a damaged one).
NO_DATABASE = {"measure", "master", "check-config", "restore"}


class SachnoiGroup(click.Group):
    """Turns the failures an operator can act on — a damaged database, a full disk — into one
    sentence that says what to do, instead of a traceback, for every command. A SQLite file is
    quick_check'ed before any command that opens it: damage in pages a command does not read
    would otherwise show up later, in the middle of its work.

    Commands are loaded lazily from COMMANDS: `list_commands` and `format_commands` (the help
    listing) read the table; `get_command` imports the command's area on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            _load_area(COMMANDS[cmd_name][0])
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # the short help comes from the table, so `sachnoi --help` imports no area
        rows = [(name, COMMANDS[name][1] if name in COMMANDS else self.commands[name].get_short_help_str())
                for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        # checked before the command's area is imported: a damaged database is reported at once
        if args and args[0] in COMMANDS and args[0] not in NO_DATABASE and not {"-h", "--help"} & set(args[1:]):
            _check_database()
        return super().resolve_command(ctx, args)

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
            if isinstance(exc, _our_errors()):  # e.g. the object store or the broker cannot be reached
                from web.labels import cli_text
                raise click.ClickException(cli_text(exc)) from None
            raise


def _our_errors() -> tuple[type[Exception], ...]:
    """The packages' own error classes: their message is written for the person at the terminal."""
    from catalog.errors import CatalogError
    from recordings.errors import RecordingsError
    from streaming.errors import StreamingError
    from studio.errors import StudioError
    return (CatalogError, RecordingsError, StreamingError, StudioError)


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


def _load_area(module_name: str) -> None:
    """Import one area and add its commands to `main` (each area at most once)."""
    if module_name in _LOADED:
        return
    _LOADED.add(module_name)
    area = importlib.import_module(module_name)
    scratch = click.Group()  # the area registers into a scratch group; only its own names are kept
    area.register(scratch)
    for name, command in scratch.commands.items():
        main.add_command(command, name)


_LOADED: set[str] = set()


if __name__ == "__main__":
    main()
