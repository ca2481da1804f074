"""`sachnoi serve`, `db upgrade`, `user create`, `ingest`, `demo`."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from web.config import ensure_secret_key, load_settings
from catalog.states import BookState, Role
from web.cli_studio import ingest_and_enqueue
from web.runtime import make_context, start_background_work
from web.labels import cli_text

DEMO_USERS = (  # username, role, password — printed by `sachnoi demo`, for a local trial only
    ("bandoc", Role.READER, "bandoc-demo-2026"),
    ("phongthu", Role.STUDIO, "phongthu-demo-2026"),
    ("thuthu", Role.LIBRARIAN, "thuthu-demo-2026"),
    ("quantri", Role.ADMIN, "quantri-demo-2026"),
)


class StageBars:
    """One tqdm bar per pipeline stage, in Vietnamese; silent with quiet=True."""

    def __init__(self, quiet: bool):
        # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
        from studio.pipeline import STAGES
        self.quiet = quiet
        self.labels = {s.name: s.label_vi for s in STAGES}
        self.bar = None
        self.name = None

    def __call__(self, name: str, fraction: float) -> None:
        if self.quiet:
            return
        # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
        from tqdm import tqdm
        if name != self.name:
            self.close()
            self.name = name
            self.bar = tqdm(total=100, desc=self.labels.get(name, name), unit="%", file=sys.stderr,
                            bar_format="{desc:<32} {bar} {n:.0f}%")
        percent = min(100, int(fraction * 100))
        if percent != self.bar.n:  # redraw only when the whole percentage moves
            self.bar.n = percent
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.n = 100
            self.bar.refresh()
            self.bar.close()
            self.bar = None


def ingest_folder_cli(folder: Path, *, library: str | None, publish: bool, accept_qc: bool,
                      quiet: bool, settings: dict | None = None) -> int:
    # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
    from studio.context import Decisions
    from studio.errors import StudioError
    from studio.pipeline import ingest_folder, run_stages
    ctx = make_context(settings)
    try:
        book_id = ingest_folder(ctx, folder, library_code=library)
    except StudioError as exc:
        raise click.ClickException(cli_text(exc)) from None
    if not quiet:
        click.echo(f"Đã lưu bản gốc, sách #{book_id} (originals stored, book #{book_id})")
    bars = StageBars(quiet)
    try:
        run_stages(ctx, book_id, Decisions(approve_marks=True, accept_qc_failures=accept_qc, publish=publish),
                   bars)
    except StudioError as exc:
        bars.close()
        raise click.ClickException(f"Sách #{book_id}: {exc}") from None
    bars.close()
    return book_id


def register(group: click.Group) -> None:
    @group.command()
    @click.option("--host", default="127.0.0.1", show_default=True, help="Địa chỉ lắng nghe (address to bind).")
    @click.option("--port", default=8000, show_default=True, type=int, help="Cổng (port).")
    @click.option("--threads", default=8, show_default=True, type=int, help="Luồng xử lý (worker threads).")
    @click.option("--processes", type=click.IntRange(1, 64), default=None,
                  help="Số tiến trình web (web processes; default WEB_PROCESSES, 1).")
    def serve(host: str, port: int, threads: int, processes: int | None) -> None:
        """Chạy máy chủ web (serve the site; applies migrations first).

        One process: waitress, with the job workers in the same process. Several: granian
        runs that many web processes on the port and this process runs the job workers."""
        # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
        from catalog.migrate import upgrade
        os.environ["SACHNOI_SERVE_HOST"] = host  # an allowed Host (web.app.allowed_hosts), in every process
        settings = load_settings()
        Path(settings["HOME"]).mkdir(parents=True, exist_ok=True)
        upgrade(settings["DATABASE_URL"])
        processes = processes or int(settings.get("WEB_PROCESSES") or 1)
        if processes > 1:
            # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
            from web.serve import serve_processes
            serve_processes(settings, host=host, port=port, processes=processes, threads=threads,
                            log=click.echo)
            return
        # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
        from web.app import create_app
        from web.security import _trusted_hops
        from web.serve import serve_single
        app = create_app()
        app.config["JOB_WORKERS_RUNNING"] = start_background_work(settings).workers_running
        click.echo(f"Sách Nói: http://{host}:{port}/  (Ctrl+C để dừng)")
        # Under load waitress logs "Task queue depth is N" for every queued request (thousands of
        # lines a minute); queueing is expected there, so only its errors are kept.
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        serve_single(app, settings, host=host, port=port, threads=threads,
                     behind_proxy=bool(_trusted_hops(settings.get("TRUST_PROXY"))))

    @group.group()
    def db() -> None:
        """Cơ sở dữ liệu (database)."""

    @db.command("upgrade")
    def db_upgrade() -> None:
        """Áp dụng các migration (apply migrations to the newest schema)."""
        # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
        from catalog.migrate import current_revision, upgrade
        settings = load_settings()
        Path(settings["HOME"]).mkdir(parents=True, exist_ok=True)
        upgrade(settings["DATABASE_URL"])
        click.echo(f"Lược đồ CSDL: {current_revision(settings['DATABASE_URL'])} (schema revision)")

    @group.group()
    def user() -> None:
        """Tài khoản người dùng (user accounts)."""

    @user.command("create")
    @click.argument("username")
    @click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.READER.value,
                  show_default=True)
    @click.option("--library", "library_code", default=None, help="Mã thư viện (library code).")
    @click.option("--name", "display_name", default="", help="Tên hiển thị (display name).")
    def user_create(username: str, role: str, library_code: str | None, display_name: str) -> None:
        """Tạo tài khoản; mật khẩu hỏi trên dòng lệnh hoặc lấy từ SACHNOI_PASSWORD."""
        # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
        from catalog.accounts import AccountError, create_user, get_or_create_library
        password = os.environ.get("SACHNOI_PASSWORD")
        if not password:
            if not sys.stdin.isatty():
                raise click.ClickException("Cần mật khẩu: đặt SACHNOI_PASSWORD (password required)")
            password = click.prompt("Mật khẩu (password)", hide_input=True, confirmation_prompt=True)
        ctx = make_context()
        try:
            with ctx.sessions.begin() as session:
                library = get_or_create_library(session, library_code or ctx.settings.default_library,
                                                ctx.settings.default_library_name)
                create_user(session, username, password, role=role, library=library, display_name=display_name)
        except AccountError as exc:
            raise click.ClickException(cli_text(exc)) from None
        click.echo(f"Đã tạo {username} ({role}, {library_code or ctx.settings.default_library})")

    # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
    from web.cli_users import register_user_commands
    register_user_commands(user)

    @group.command()
    @click.argument("session_dir", type=click.Path(path_type=Path))
    @click.option("--library", default=None, help="Mã thư viện sở hữu (owning library code).")
    @click.option("--publish/--draft", default=False, help="Xuất bản ngay (publish when done).")
    @click.option("--accept-qc", is_flag=True, help="Chấp nhận chương không đạt QC (accept QC failures).")
    @click.option("--quiet", "-q", is_flag=True, help="Không hiện tiến độ (no progress bars).")
    @click.option("--queue", is_flag=True, help="Xếp việc sản xuất cho worker (queue production for `sachnoi worker`).")
    def ingest(session_dir: Path, library: str | None, publish: bool, accept_qc: bool, quiet: bool,
               queue: bool) -> None:
        """Nhập một thư mục phiên ghi âm và sản xuất sách (ingest a session folder and produce the book)."""
        if queue:
            ingest_and_enqueue(session_dir, library=library, publish=publish, accept_qc=accept_qc, quiet=quiet)
            return
        book_id = ingest_folder_cli(session_dir, library=library, publish=publish, accept_qc=accept_qc,
                                    quiet=quiet)
        click.echo(f"Xong: sách #{book_id} (done: book #{book_id})")

    @group.command()
    @click.option("--folder", type=click.Path(path_type=Path), default=None,
                  help="Thư mục phiên mẫu (demo session folder).")
    @click.option("--quiet", "-q", is_flag=True)
    def demo(folder: Path | None, quiet: bool) -> None:
        """Nhập phiên ghi âm mẫu, xuất bản và tạo tài khoản thử (ingest and publish the demo, create demo logins)."""
        # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
        from sqlalchemy import select

        from catalog.accounts import create_user, get_or_create_library
        from catalog.models import Book, User
        from studio.session_folder import read_session_folder
        folder = folder or _demo_folder()
        settings = load_settings()
        ensure_secret_key(settings)
        ctx = make_context(settings)
        title = read_session_folder(folder).book.get("title")
        with ctx.sessions() as session:
            existing = session.scalar(select(Book).where(Book.title == title, Book.state == BookState.PUBLISHED,
                                                         Book.deleted_at.is_(None)))
        if existing is None:
            ingest_folder_cli(folder, library=None, publish=True, accept_qc=True, quiet=quiet, settings=settings)
        elif not quiet:
            click.echo(f"Sách mẫu đã có: #{existing.id} (demo book already there)")
        with ctx.sessions.begin() as session:
            library = get_or_create_library(session, settings["DEFAULT_LIBRARY"], settings["DEFAULT_LIBRARY_NAME"])
            for username, role, password in DEMO_USERS:
                if session.scalar(select(User).where(User.username == username)) is None:
                    create_user(session, username, password, role=role, library=library)
        click.echo("Tài khoản thử (demo logins):")
        for username, role, password in DEMO_USERS:
            click.echo(f"  {role:<10} {username:<10} {password}")


def _demo_folder() -> Path:
    for candidate in (Path.cwd() / "examples" / "demo-session",
                      Path(__file__).resolve().parents[1] / "examples" / "demo-session"):
        if candidate.is_dir():
            return candidate
    raise click.ClickException("Không tìm thấy examples/demo-session (demo session folder not found)")
