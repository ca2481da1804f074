"""Promotion clips as librarians make them: cut one from a published book, publish it (now or at
a time), take it down, and when the public sees it. The rendering itself (H.264 encodes and an
MP3) is `studio.clips.render_clip`, always run by a job (`studio.worker.run_clip`), never here:
it takes tens of seconds on a busy machine, far too long for a web request.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.access import is_visible
from catalog.models import Book, Clip, Job, utcnow
from catalog.podcast import valid_webvtt
from catalog.states import BookState, ClipState
from catalog.text import nfc
from studio.clips import ClipError, check_clip
from studio.context import Context
from studio.errors import N_
from studio.worker import enqueue_clip


def is_public(clip: Clip, now: dt.datetime | None = None) -> bool:
    """Published, its time (`publish_at`, UTC) come, rendered, and its book visible to readers."""
    now = now or utcnow()
    return (clip.state == ClipState.PUBLISHED and (clip.publish_at is None or clip.publish_at <= now)
            and bool(clip.mp3_key) and is_visible(clip.book, now))


def check_transcript(vtt: str) -> str:
    """The transcript stripped; ClipError unless it is empty or WebVTT."""
    vtt = (vtt or "").strip()
    if vtt and not valid_webvtt(vtt):
        raise ClipError(N_("Bản chép lời phải là WebVTT (bắt đầu bằng WEBVTT)."))
    return vtt


def create_clip(ctx: Context, book_id: int, *, start_s: float, end_s: float, title: str = "",
                description: str = "", intro_jingle_id: int | None = None, outro_jingle_id: int | None = None,
                transcript_vtt: str = "", created_by: int | None = None) -> tuple[int, int]:
    """A draft clip of seconds [start_s, end_s) of a published book and the job that renders it:
    returns (clip id, job id). ClipError when the rules refuse (nothing is stored then)."""
    with ctx.sessions.begin() as db:
        book = db.get(Book, book_id)
        if book is None or book.state != BookState.PUBLISHED:
            raise ClipError(N_("Chỉ cắt đoạn giới thiệu từ sách đã xuất bản."))
        check_clip(db, book, start_s, end_s)
        clip = Clip(book_id=book.id, title=(nfc(title) or book.title)[:500], description=nfc(description)[:4000],
                    start_s=start_s, end_s=end_s, intro_jingle_id=intro_jingle_id, outro_jingle_id=outro_jingle_id,
                    transcript_vtt=check_transcript(transcript_vtt), state=ClipState.DRAFT, created_by=created_by)
        db.add(clip)
        db.flush()
        clip_id = clip.id
    return clip_id, enqueue_clip(ctx, clip_id, book_id)


def publish_clip(clip: Clip, at: dt.datetime | None = None) -> None:
    """Publish a rendered clip now, or schedule it for `at` (UTC)."""
    if not clip.mp3_key:
        raise ClipError(N_("Đoạn giới thiệu chưa được tạo xong."))
    clip.state = ClipState.PUBLISHED
    clip.publish_at = at if at and at > utcnow() else None


def unpublish_clip(clip: Clip) -> None:
    """Take a clip down (it stays rendered, ready to publish again)."""
    clip.state = ClipState.READY


def render_job(db: Session, clip: Clip) -> Job | None:
    """The newest job rendering `clip` (kind "clip", filed under its book), or None."""
    query = select(Job).where(Job.kind == "clip", Job.book_id == clip.book_id).order_by(Job.id.desc()).limit(500)
    return next((job for job in db.scalars(query) if (job.payload or {}).get("clip_id") == clip.id), None)
