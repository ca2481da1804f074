"""studio.review: the review rules, called the way the studio pages call them (no web layer)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from catalog.accounts import get_or_create_library
from catalog.books import create_book
from catalog.models import Chapter, Job, Mark, Original, RecordingSession, Take
from catalog.states import JobState, ReviewState
from studio import review
from studio.errors import ReviewError


@pytest.fixture
def book_id(app):
    with app.extensions["sachnoi"].sessions.begin() as s:
        book = create_book(s, library=get_or_create_library(s, "THV"), title="Sách duyệt")
        s.flush()
        for n, state in enumerate((ReviewState.APPROVED, ReviewState.PENDING, ReviewState.REJECTED), start=1):
            s.add(Chapter(book_id=book.id, position=n, title=f"Chương {n}", review_state=state,
                          review_comment="cũ"))
        return book.id


def _states(ctx, book_id):
    with ctx.sessions() as s:
        return [c.review_state for c in s.scalars(select(Chapter).where(Chapter.book_id == book_id)
                                                  .order_by(Chapter.position))]


def test_marks_cannot_be_approved_before_any_chapter_mark_exists(ctx, book_id):
    with pytest.raises(ReviewError) as caught:
        review.approve_marks(ctx, book_id, queue=True)
    assert caught.value.message == "Chưa có mốc chương nào để duyệt."
    assert _states(ctx, book_id) == ["approved", "pending", "rejected"]  # nothing changed
    with ctx.sessions() as s:
        assert s.scalar(select(Job.id)) is None


def test_approving_marks_resets_reviews_and_queues_mastering(ctx, book_id):
    with ctx.sessions.begin() as s:
        rec = RecordingSession(book_id=book_id)
        s.add_all([rec, Original(sha256="a" * 64, size_bytes=1)])
        s.flush()
        take = Take(session_id=rec.id, position=1, original_sha256="a" * 64, duration_s=60.0)
        s.add(take)
        s.flush()
        s.add(Mark(book_id=book_id, take_id=take.id, kind="chapter", start_s=0.0, source="manual", approved=False))
    job_id = review.approve_marks(ctx, book_id, queue=True)
    assert _states(ctx, book_id) == ["pending"] * 3
    with ctx.sessions() as s:
        assert all(m.approved for m in s.scalars(select(Mark)))
        job = s.get(Job, job_id)
        assert (job.kind, job.state, job.payload["start"]) == ("produce", JobState.QUEUED, "master")


def test_sending_a_chapter_back_needs_a_reason(ctx, book_id):
    with ctx.sessions.begin() as s:
        chapter = s.scalar(select(Chapter).where(Chapter.position == 2))
        with pytest.raises(ReviewError):
            review.review_chapter(s, chapter, approve=False, comment="  ")
        assert chapter.review_state == ReviewState.PENDING
        review.review_chapter(s, chapter, approve=False, comment="Tiếng ồn ở phút 3")
        assert (chapter.review_state, chapter.review_comment) == ("rejected", "Tiếng ồn ở phút 3")
        review.review_chapter(s, chapter, approve=True, comment="x" * 5000)
        assert chapter.review_state == "approved" and len(chapter.review_comment) == review.MAX_COMMENT_CHARS


def test_finish_needs_every_chapter_approved_and_approve_rest_skips_the_sent_back(ctx, book_id):
    with pytest.raises(ReviewError):
        review.finish(ctx, book_id, queue=True)
    with pytest.raises(ReviewError):  # the rejected chapter stays rejected, so still refused
        review.finish(ctx, book_id, queue=True, approve_rest=True)
    assert _states(ctx, book_id) == ["approved", "approved", "rejected"]
    with ctx.sessions.begin() as s:
        s.scalar(select(Chapter).where(Chapter.position == 3)).review_state = ReviewState.PENDING
    job_id = review.finish(ctx, book_id, queue=True, approve_rest=True)
    assert _states(ctx, book_id) == ["approved"] * 3
    with ctx.sessions() as s:
        job = s.get(Job, job_id)
        assert job.payload["start"] == "qc" and job.payload["decisions"]["accept_qc_failures"] is True


def test_detecting_marks_needs_a_take(ctx, book_id):
    with pytest.raises(ReviewError) as caught:
        review.detect_marks(ctx, book_id)
    assert "bản ghi" in str(caught.value)
