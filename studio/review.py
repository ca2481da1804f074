"""The studio's human decisions on a book and the rules they follow: approving the chapter marks,
approving or sending back a mastered chapter, and finishing the book (packaging it once every
chapter is approved). Refusals raise `ReviewError` with the reason; nothing is changed then.

Approving and finishing start production: as a durable job when `queue` is true (the server's
job workers run; the job id is returned), else here, in the caller's thread (None is returned;
`QCRejected` or another `StudioError` says how the run stopped).
"""
from __future__ import annotations

from sqlalchemy import func, select

from catalog.models import Book, Chapter, Job, Mark, RecordingSession, Take
from catalog.states import JobState, ReviewState
from catalog.text import nfc
from studio.context import Context, Decisions
from studio.errors import N_, ReviewError
from studio.pipeline import run_stages
from studio.worker import enqueue_produce

MAX_COMMENT_CHARS = 4000


def produce(ctx: Context, book_id: int, decisions: Decisions, *, start: str, queue: bool) -> int | None:
    """Run the pipeline from stage `start`: queued as a job (its id) or here (None)."""
    if queue:
        return enqueue_produce(ctx, book_id, decisions, start=start)
    run_stages(ctx, book_id, decisions, start=start)
    return None


def detect_marks(ctx: Context, book_id: int) -> None:
    """Find chapter marks (labels, cue markers, session list, pauses) without approving them."""
    with ctx.sessions() as db:
        takes = db.scalar(select(func.count(Take.id)).join(RecordingSession)
                          .where(RecordingSession.book_id == book_id))
    if not takes:
        raise ReviewError(N_("Chưa có bản ghi nào để tìm mốc chương."))
    run_stages(ctx, book_id, Decisions(approve_marks=False), start="mark", stop="mark")


def approve_marks(ctx: Context, book_id: int, *, queue: bool) -> int | None:
    """Approve every mark of the book, set its chapters back to pending review, and master it."""
    with ctx.sessions.begin() as db:
        marks = db.scalars(select(Mark).where(Mark.book_id == book_id)).all()
        if not any(m.kind == "chapter" for m in marks):
            raise ReviewError(N_("Chưa có mốc chương nào để duyệt."))
        for mark in marks:
            mark.approved = True
        for chapter in db.scalars(select(Chapter).where(Chapter.book_id == book_id)):
            chapter.review_state, chapter.review_comment = ReviewState.PENDING, ""
    return produce(ctx, book_id, Decisions(approve_marks=True), start="master", queue=queue)


def review_chapter(db, chapter: Chapter, *, approve: bool, comment: str = "") -> None:
    """Approve `chapter`, or send it back to be recorded again (a reason is required)."""
    comment = nfc(comment)[:MAX_COMMENT_CHARS]
    if not approve and not comment:
        raise ReviewError(N_("Trả lại cần ghi rõ lý do."))
    chapter.review_state = ReviewState.APPROVED if approve else ReviewState.REJECTED
    chapter.review_comment = comment


def all_approved(book: Book) -> bool:
    """Whether the book has chapters and a person approved every one."""
    return bool(book.chapters) and all(c.review_state == ReviewState.APPROVED for c in book.chapters)


def finish(ctx: Context, book_id: int, *, queue: bool, approve_rest: bool = False) -> int | None:
    """Package a book whose chapters are all approved, accepting their QC results.
    With `approve_rest`, first approve every chapter not sent back."""
    with ctx.sessions.begin() as db:
        book = db.get_one(Book, book_id)
        if approve_rest:
            for chapter in book.chapters:
                if chapter.review_state != ReviewState.REJECTED:
                    chapter.review_state = ReviewState.APPROVED
    with ctx.sessions() as db:
        if not all_approved(db.get_one(Book, book_id)):
            raise ReviewError(N_("Cần duyệt tất cả các chương trước."))
    return produce(ctx, book_id, Decisions(approve_marks=True, accept_qc_failures=True), start="qc", queue=queue)


def production_job(db, book_id: int) -> Job | None:
    """The book's newest production job still queued or running (the book page shows its progress), or None."""
    query = (select(Job).where(Job.book_id == book_id, Job.kind == "produce",
                               Job.state.in_((JobState.QUEUED, JobState.RUNNING))).order_by(Job.id.desc()).limit(1))
    return db.scalar(query)
