"""`sachnoi manuscript attach BOOK FILE` and `sachnoi manuscript align BOOK`: one call each into studio."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from web.runtime import make_context
from web.labels import cli_text


def _book_id(text: str) -> int:
    # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
    from catalog.ids import parse_id
    book_id = parse_id(text)
    if book_id is None:
        raise click.BadParameter(f"mã sách không hợp lệ (not a book id): {text}")
    return book_id


def register(group: click.Group) -> None:
    """Add the `manuscript` commands to the top-level group."""

    @group.group()
    def manuscript() -> None:
        """Bản thảo: gắn văn bản của sách và căn chỉnh với âm thanh (manuscripts and alignment)."""

    @manuscript.command("attach")
    @click.argument("book")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--session", "session_id", type=int, default=None, help="Phiên ghi âm (recording session id).")
    def attach(book: str, file: Path, session_id: int | None) -> None:
        """Gắn bản thảo (EPUB, DOCX, Markdown, văn bản) vào sách BOOK (attach a manuscript)."""
        # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
        from sqlalchemy import func, select

        from catalog.models import ManuscriptSection, Sentence
        from studio.errors import StudioError
        from studio.manuscripts import attach_manuscript
        ctx = make_context()
        try:
            manuscript_id = attach_manuscript(ctx, _book_id(book), file, session_id=session_id)
        except StudioError as exc:
            raise click.ClickException(cli_text(exc)) from None
        with ctx.sessions() as session:
            sections = session.scalar(select(func.count()).select_from(ManuscriptSection)
                                      .where(ManuscriptSection.manuscript_id == manuscript_id))
            sentences = session.scalar(select(func.count()).select_from(Sentence).join(ManuscriptSection)
                                       .where(ManuscriptSection.manuscript_id == manuscript_id))
        click.echo(f"Bản thảo #{manuscript_id}: {sections} phần, {sentences} câu "
                   f"(manuscript #{manuscript_id}: {sections} sections, {sentences} sentences)")

    @manuscript.command("align")
    @click.argument("book")
    @click.option("--queue", is_flag=True, help="Xếp việc cho worker thay vì chạy ngay (queue a job).")
    @click.option("--quiet", "-q", is_flag=True, help="Không hiện tiến độ (no progress bar).")
    def align(book: str, queue: bool, quiet: bool) -> None:
        """Căn chỉnh bản thảo với âm thanh các chương và tìm câu đọc sót, đọc lặp (align and check narration)."""
        # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
        from studio.errors import StudioError
        from studio.manuscripts import align_book
        from studio.worker import enqueue_align
        ctx = make_context()
        book_id = _book_id(book)
        if queue:
            try:
                job_id = enqueue_align(ctx, book_id)
            except StudioError as exc:
                raise click.ClickException(cli_text(exc)) from None
            click.echo(f"Việc #{job_id} đang chờ worker (job #{job_id} queued)")
            return
        bar = None
        if not quiet:
            # imported when the command runs: `sachnoi` starts without loading the whole app (~0.5 s, not ~6 s)
            from tqdm import tqdm
            bar = tqdm(total=100, desc="Căn chỉnh văn bản", unit="%", file=sys.stderr,
                       bar_format="{desc:<32} {bar} {n:.0f}%")

        def progress(fraction: float) -> None:
            if bar is not None and int(fraction * 100) != bar.n:
                bar.n = min(100, int(fraction * 100))
                bar.refresh()
        try:
            summary = align_book(ctx, book_id, progress)
        except StudioError as exc:
            raise click.ClickException(cli_text(exc)) from None
        finally:
            if bar is not None:
                bar.close()
        click.echo(f"{summary['aligned']}/{summary['sentences']} câu đã căn chỉnh; {summary['skipped']} bỏ sót, "
                   f"{summary['repeated']} đọc lặp, {summary['low_confidence']} độ tin cậy thấp "
                   f"(aligned; skipped, repeated, low confidence)")
        if summary.get("talking_book_job"):
            click.echo(f"Việc #{summary['talking_book_job']} sẽ tạo lại sách nói EPUB 3 và DAISY "
                       f"(job queued to rebuild the talking books)")
        if summary["sections"] != summary["chapters"]:  # found in QA: only the web page said so
            click.echo(f"Chú ý: {summary['sections']} phần văn bản nhưng {summary['chapters']} chương âm thanh, "
                       f"ghép theo thứ tự (sections and chapters differ in number; paired in order)", err=True)
