"""`sachnoi` commands for the studio area: fixity, watch, worker (and `ingest --queue`)."""
from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import click

from web.runtime import make_context
from web.labels import cli_text


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_a: stop.set())
    return stop


def ingest_and_enqueue(folder: Path, *, library: str | None, publish: bool, accept_qc: bool,
                       quiet: bool, settings: dict | None = None) -> tuple[int, int]:
    """Store the folder's originals and create the book now; queue the production for a worker."""
    # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
    from studio.context import Decisions
    from studio.errors import StudioError
    from studio.pipeline import ingest_folder
    from studio.worker import enqueue_produce
    ctx = make_context(settings)
    try:
        book_id = ingest_folder(ctx, folder, library_code=library)
    except StudioError as exc:
        raise click.ClickException(cli_text(exc)) from None
    job_id = enqueue_produce(ctx, book_id, Decisions(approve_marks=True, accept_qc_failures=accept_qc,
                                                     publish=publish))
    if not quiet:
        click.echo(f"Đã lưu bản gốc, sách #{book_id}; việc #{job_id} đang chờ worker "
                   f"(originals stored, book #{book_id}; job #{job_id} queued)")
    return book_id, job_id


def register(group: click.Group) -> None:
    """Add this area's commands to the top-level group."""

    @group.command("talking-book")
    @click.argument("book_id", type=int)
    @click.option("--kind", "kinds", multiple=True, type=click.Choice(["epub3", "daisy202"]),
                  help="Chỉ loại này (only this kind; repeatable). Mặc định: cả hai (default: both).")
    @click.option("--queue", is_flag=True, help="Giao cho worker thay vì chạy ngay (queue a job instead).")
    def talking_book(book_id: int, kinds: tuple[str, ...], queue: bool) -> None:
        """Tạo sách nói EPUB 3 (Media Overlays) và DAISY 2.02 cho sách đã đóng gói (write the talking books)."""
        # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
        from studio.errors import StudioError
        from studio.talking_books import build_talking_books
        from studio.worker import enqueue_talking_book
        ctx = make_context()
        if queue:
            click.echo(f"Việc #{enqueue_talking_book(ctx, book_id, kinds or None)} đang chờ worker (job queued)")
            return
        try:
            result = build_talking_books(ctx.sessions, ctx.store, book_id, **({"kinds": kinds} if kinds else {}))
        except StudioError as exc:
            raise click.ClickException(cli_text(exc)) from None
        for key in result.written:
            click.echo(f"Đã ghi (written) {key}")
        for key in result.unchanged:
            click.echo(f"Không đổi (unchanged) {key}")
        if result.message:
            click.echo(f"Chú ý: {result.message}", err=True)

    @group.command()
    @click.option("--quiet", "-q", is_flag=True, help="Không hiện tiến độ (no progress bar).")
    def fixity(quiet: bool) -> None:
        """Băm lại mọi bản gốc và báo sai lệch (re-hash every original; exit 1 on any mismatch or missing file)."""
        # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
        from sqlalchemy import select
        from tqdm import tqdm

        from catalog.models import Original
        from recordings.fixity import audit
        ctx = make_context()
        with ctx.sessions() as session:
            expected = list(session.scalars(select(Original.sha256)))
        bar = None if quiet else tqdm(total=0, unit="B", unit_scale=True, desc="Kiểm tra bản gốc",
                                      file=sys.stderr)

        def progress(done: int, total: int) -> None:
            if bar is not None:
                bar.total = total
                bar.n = done
                bar.refresh()

        report = audit(ctx.store, expected, progress)
        if bar is not None:
            bar.close()
        for expected_sha, actual, path in report.mismatched:
            click.echo(f"SAI (mismatch): {path}: tên {expected_sha}, nội dung {actual}")
        for sha in report.missing:
            click.echo(f"THIẾU (missing): {sha}")
        click.echo(f"Đã kiểm tra {report.checked} bản gốc ({report.bytes_checked / 1e6:.1f} MB): "
                   f"{len(report.ok)} đúng, {len(report.mismatched)} sai, {len(report.missing)} thiếu, "
                   f"{len(report.unknown)} không có trong danh mục")
        if not report.passed:
            sys.exit(1)

    @group.command()
    @click.option("--workers", "-n", type=int, default=1, show_default=True, help="Số luồng (worker threads).")
    @click.option("--queues", default="", help="Chỉ các hàng đợi này, ví dụ master,encode; mặc định: tất cả "
                  "(only these queues: default, master, encode; default all).")
    @click.option("--lease", type=float, default=None, help="Thời hạn giữ việc, giây (lease seconds; JOB_LEASE_S).")
    @click.option("--poll", type=float, default=1.0, show_default=True,
                  help="Chu kỳ gửi lại việc, giây (reconciler period, seconds).")
    @click.option("--exit-when-idle", is_flag=True, help="Thoát khi hết việc (exit when the queue is empty).")
    @click.option("--quiet", "-q", is_flag=True)
    def worker(workers: int, queues: str, lease: float | None, poll: float, exit_when_idle: bool, quiet: bool) -> None:
        """Chạy worker xử lý việc ở tiền cảnh (run job workers in the foreground)."""
        # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
        from studio.broker import BrokerError, parse_queues
        from studio.worker import WorkerPool, wait_idle
        from web.config import load_settings
        try:
            names = parse_queues(queues)
        except BrokerError as exc:
            raise click.UsageError(cli_text(exc)) from None
        settings = load_settings()
        ctx = make_context(settings)
        stop = _stop_on_signals()
        log = (lambda _m: None) if quiet else (lambda m: click.echo(m, err=True))
        try:
            pool = WorkerPool(ctx, max(1, workers), queues=names, broker_url=settings["BROKER_URL"],
                              lease_s=lease, poll_s=poll, log=log).start()
        except BrokerError as exc:
            raise click.ClickException(cli_text(exc)) from None
        if not quiet:
            where = "RabbitMQ" if settings["BROKER_URL"] else "trong tiến trình (in-process)"
            click.echo(f"Worker đang chạy ({max(1, workers)} luồng, hàng đợi {','.join(names)}, {where}, "
                       f"giữ việc {pool.runner.lease_s:g} s); Ctrl+C để dừng", err=True)
        if exit_when_idle:
            wait_idle(ctx, stop, poll)
        else:
            while not stop.wait(1.0):
                pass
        pool.stop()

    @group.command()
    @click.option("--inbox", type=click.Path(path_type=Path), default=None, help="Thư mục nhận (INBOX).")
    @click.option("--settle", type=float, default=5.0, show_default=True,
                  help="Giây không đổi trước khi nhập (seconds unchanged before ingesting).")
    @click.option("--interval", type=float, default=2.0, show_default=True)
    @click.option("--approve/--review", default=False,
                  help="Tự duyệt mốc chương và sản xuất luôn, hoặc dừng chờ duyệt (default: wait for review).")
    @click.option("--once", is_flag=True, help="Quét cho đến khi mọi thư mục đã nhập rồi thoát.")
    @click.option("--quiet", "-q", is_flag=True)
    def watch(inbox: Path | None, settle: float, interval: float, approve: bool, once: bool, quiet: bool) -> None:
        """Theo dõi thư mục nhận và nhập các phiên ghi âm (watch the hot folder and ingest session folders)."""
        # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
        import time

        from studio.context import Decisions
        from studio.watch import HotFolder
        ctx = make_context()
        inbox = Path(inbox or ctx.settings.inbox)
        log = (lambda _m: None) if quiet else (lambda m: click.echo(m, err=True))
        hot = HotFolder(ctx, inbox, settle_s=settle, decisions=Decisions(approve_marks=approve), log=log)
        if not quiet:
            click.echo(f"Đang theo dõi {inbox} (watching)", err=True)
        if once:
            while any(p.is_dir() and not p.name.startswith((".", "_")) for p in inbox.iterdir()):
                hot.scan()
                time.sleep(min(interval, max(0.1, settle / 4)))
            return
        hot.run(_stop_on_signals(), interval)
