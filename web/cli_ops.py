"""`sachnoi backup DEST`, `sachnoi restore SRC`, `sachnoi check-config`, `sachnoi media publish|collect`:
operations on an instance."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from web.config import ensure_secret_key, load_settings
from web.labels import cli_text


class _Bars:
    """One tqdm bar per phase (database, media, verify); silent with quiet=True."""

    def __init__(self, quiet: bool):
        self.quiet, self.phase, self.bar = quiet, None, None

    def __call__(self, phase: str, done: int, total: int) -> None:
        if self.quiet:
            return
        # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
        from tqdm import tqdm
        if phase != self.phase:
            self.close()
            labels = {"database": "Cơ sở dữ liệu", "media": "Tệp âm thanh", "verify": "Kiểm tra mã băm"}
            self.phase = phase
            self.bar = tqdm(total=max(total, 1), desc=labels.get(phase, phase), unit="tệp", file=sys.stderr)
        self.bar.total = max(total, 1)
        self.bar.update(done - self.bar.n)  # update() redraws at most every mininterval

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def register(group: click.Group) -> None:
    """Add this area's commands to the top-level group."""

    @group.command("backup")
    @click.argument("dest", type=click.Path(path_type=Path))
    @click.option("--method", type=click.Choice(["auto", "sqlite-backup-api", "pg_dump", "logical"]),
                  default="auto", show_default=True, help="Cách sao lưu CSDL (database backup method).")
    @click.option("--no-media", is_flag=True, help="Chỉ sao lưu CSDL (database only).")
    @click.option("--quiet", "-q", is_flag=True, help="Không hiện tiến độ (no progress bars).")
    def backup_cmd(dest: Path, method: str, no_media: bool, quiet: bool) -> None:
        """Sao lưu trực tuyến CSDL và tệp âm thanh vào thư mục mới DEST (consistent online backup)."""
        # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
        from catalog.backup import LISTENER_KEY_FILE, BackupError, backup
        from streaming.pseudonyms import listener_secret
        from web.extensions import store_from_settings
        settings = load_settings()
        ensure_secret_key(settings)
        bars = _Bars(quiet)
        try:
            report = backup(settings["DATABASE_URL"], None if no_media else store_from_settings(settings), dest,
                            method=method, progress=bars, listener_key=listener_secret(settings))
        except BackupError as exc:
            bars.close()
            raise click.ClickException(cli_text(exc)) from None
        bars.close()
        for note in report.notes:
            click.echo(f"Lưu ý (note): {note}", err=True)
        rows = sum(report.row_counts.values())
        click.echo(f"Bản sao có khoá bí danh thống kê {LISTENER_KEY_FILE}: đây là BÍ MẬT, cất bản sao ở nơi "
                   f"được bảo vệ (the backup holds the statistics pseudonym key: a SECRET; see docs/security.md)",
                   err=True)
        click.echo(f"Đã sao lưu vào {report.path}: {rows} dòng CSDL ({report.method}), {report.media_files} tệp, "
                   f"{report.media_bytes / 1e6:.1f} MB, {report.seconds:.1f} s "
                   f"(backup done; integrity_check: {report.integrity})")

    @group.command("restore")
    @click.argument("src", type=click.Path(path_type=Path, exists=True, file_okay=False))
    @click.option("--quiet", "-q", is_flag=True, help="Không hiện tiến độ (no progress bars).")
    def restore_cmd(src: Path, quiet: bool) -> None:
        """Khôi phục bản sao lưu SRC vào một bản cài đặt TRỐNG (restore onto an empty instance)."""
        # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
        from catalog.backup import BackupError, restore
        from web.extensions import store_from_settings
        settings = load_settings()
        Path(settings["HOME"]).mkdir(parents=True, exist_ok=True)
        bars = _Bars(quiet)
        try:
            report = restore(src, settings["DATABASE_URL"], store_from_settings(settings), progress=bars,
                             instance_home=settings["HOME"])
        except BackupError as exc:
            bars.close()
            raise click.ClickException(cli_text(exc)) from None
        bars.close()
        click.echo(f"Đã khôi phục từ {src}: {sum(report['row_counts'].values())} dòng, {report['media_files']} tệp "
                   f"(restored; schema {report['schema_revision']})")

    @group.command("check-config")
    def check_config() -> None:
        """Kiểm tra cấu hình an toàn cho production (check the settings are safe for production)."""
        # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
        from web.security import InsecureConfigError, check_secret_key
        settings = load_settings()
        try:
            check_secret_key(settings)
        except InsecureConfigError as exc:
            raise click.ClickException(cli_text(exc)) from None
        click.echo(f"Cấu hình ổn (ENV={settings['ENV']}, TRUST_PROXY={settings['TRUST_PROXY']})")

    @group.group("media")
    def media() -> None:
        """Phiên bản media phục vụ bạn đọc (the published media versions, studio.media_versions)."""

    @media.command("publish")
    @click.option("--book", "book_id", type=click.IntRange(1), default=None,
                  help="Chỉ sách này (only this book id); mặc định: mọi sách đã đóng gói (default: every packaged book).")
    def media_publish(book_id: int | None) -> None:
        """Xuất bản phiên bản media hiện tại của sách (publish the packaged media as a version and switch
        readers to it; books packaged before versions get their first one)."""
        # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
        from studio.media_versions import PublishError, publish, publish_all
        from web.runtime import make_context
        ctx = make_context()
        grace_s = ctx.settings.media_version_grace_s
        try:
            done = publish_all(ctx.sessions, ctx.store, grace_s=grace_s) if book_id is None else \
                [p for p in [publish(ctx.sessions, ctx.store, book_id, grace_s=grace_s)] if p is not None]
        except PublishError as exc:
            raise click.ClickException(cli_text(exc)) from None
        for item in done:
            state = "mới (new)" if item.changed else "không đổi (unchanged)"
            click.echo(f"Sách {item.book_id}: phiên bản {item.version}, {item.files} tệp, {state}")
        click.echo(f"Đã xuất bản {sum(p.changed for p in done)} phiên bản mới / {len(done)} sách "
                   f"(published {sum(p.changed for p in done)} new versions of {len(done)} books)")

    @media.command("collect")
    @click.option("--grace-s", type=click.FloatRange(0), default=None,
                  help="Xoá phiên bản đã thay quá số giây này (default: MEDIA_VERSION_GRACE_S).")
    def media_collect(grace_s: float | None) -> None:
        """Xoá các phiên bản media đã bị thay quá thời gian chờ (remove replaced versions past the grace period)."""
        from studio.media_versions import collect
        from web.runtime import make_context
        ctx = make_context()
        removed = collect(ctx.sessions, ctx.store,
                          grace_s=ctx.settings.media_version_grace_s if grace_s is None else grace_s)
        for book_id, version in removed:
            click.echo(f"Sách {book_id}: đã xoá phiên bản {version} (removed)")
        click.echo(f"Đã xoá {len(removed)} phiên bản (removed {len(removed)} versions)")
