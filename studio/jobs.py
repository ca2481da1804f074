"""Durable jobs on the `jobs` table: enqueue, claim with a lease, heartbeat, complete, fail.

The row is the truth. A worker claims a job by a single conditional UPDATE
(`... WHERE id = :id AND (state = 'queued' OR (state = 'running' AND lease_expires_at < now))`)
and only the worker whose UPDATE changed the row runs it — the same statement is atomic on
SQLite (one writer at a time) and on PostgreSQL (the second UPDATE re-checks the WHERE clause
after the first commits). While it runs, the worker extends its lease; a worker that dies
stops extending, the lease expires and another worker claims the job again. Each claim counts
one attempt; after `max_attempts` (3) failed or abandoned attempts the job stays `failed` with
its error, for staff to see and retry by hand.
"""
from __future__ import annotations

import datetime as dt
import traceback
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from catalog.states import BookState, JobState
from catalog.db import rowcount
from catalog.models import Book, Job, utcnow

DEFAULT_LEASE_S = 60.0
HOTFOLDER = "hotfolder"  # a hot-folder session that could not be ingested: a record, never run


@dataclass(frozen=True)
class ClaimedJob:
    """What a worker needs from the row it claimed (a snapshot; the row stays the truth)."""
    id: int
    kind: str
    book_id: int | None
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    stage: str
    result: dict[str, Any] = field(default_factory=dict)


def enqueue(sessions: sessionmaker[Session], kind: str, *, book_id: int | None = None,
            payload: dict[str, Any] | None = None, max_attempts: int = 3, message: str = "") -> int:
    with sessions.begin() as db:
        job = Job(kind=kind, book_id=book_id, payload=dict(payload or {}), state=JobState.QUEUED,
                  max_attempts=max_attempts, message=message or "Đang chờ (queued)")
        db.add(job)
        db.flush()
        return job.id


def _claimable(now: dt.datetime):
    return or_(Job.state == JobState.QUEUED, and_(Job.state == JobState.RUNNING, Job.lease_expires_at < now))


def claim(sessions: sessionmaker[Session], owner: str, *, lease_s: float = DEFAULT_LEASE_S,
          kinds: tuple[str, ...] | None = None) -> ClaimedJob | None:
    """Take the oldest claimable job for `owner` and hold it for `lease_s` seconds; None if there is none."""
    with sessions.begin() as db:
        now = utcnow()
        # abandoned jobs that have used every attempt stop here instead of being claimed again
        db.execute(
            update(Job).where(Job.state == JobState.RUNNING, Job.lease_expires_at < now,
                              Job.attempts >= Job.max_attempts)
            .values(state=JobState.FAILED, finished_at=now, lease_owner="", lease_expires_at=None,
                    error=Job.error + "Tiến trình xử lý dừng đột ngột ở lần thử cuối "
                                      "(worker lost its lease on the last attempt)\n")
            .execution_options(synchronize_session=False))
        query = select(Job.id).where(_claimable(now)).order_by(Job.id).limit(8)
        if kinds:
            query = query.where(Job.kind.in_(kinds))
        for job_id in db.scalars(query).all():
            changed = rowcount(db.execute(
                update(Job).where(Job.id == job_id, _claimable(now))
                .values(state=JobState.RUNNING, lease_owner=owner,
                        lease_expires_at=now + dt.timedelta(seconds=lease_s),
                        attempts=Job.attempts + 1, updated_at=now,
                        message="Đang xử lý (running)")
                .execution_options(synchronize_session=False)))
            if changed == 1:
                job = db.get_one(Job, job_id)
                db.refresh(job)
                return ClaimedJob(job.id, job.kind, job.book_id, dict(job.payload or {}), job.attempts,
                                  job.max_attempts, job.stage or "", dict(job.result or {}))
    return None


def heartbeat(sessions: sessionmaker[Session], job_id: int, owner: str, *, lease_s: float = DEFAULT_LEASE_S,
              progress: float | None = None, stage: str | None = None, message: str | None = None) -> bool:
    """Extend the lease and record progress (0..100). False when the lease is no longer ours."""
    values: dict[str, Any] = {"lease_expires_at": utcnow() + dt.timedelta(seconds=lease_s), "updated_at": utcnow()}
    if progress is not None:
        values["progress"] = round(max(0.0, min(100.0, progress)), 1)
    if stage is not None:
        values["stage"] = stage
    if message is not None:
        values["message"] = message
    with sessions.begin() as db:
        return rowcount(db.execute(
            update(Job).where(Job.id == job_id, Job.lease_owner == owner, Job.state == JobState.RUNNING)
            .values(**values).execution_options(synchronize_session=False))) == 1


def complete(sessions: sessionmaker[Session], job_id: int, owner: str, result: dict[str, Any] | None = None,
             message: str = "") -> bool:
    """Mark the job done with its result; `message` (else "done") is what the jobs page shows."""
    now = utcnow()
    with sessions.begin() as db:
        return rowcount(db.execute(
            update(Job).where(Job.id == job_id, Job.lease_owner == owner, Job.state == JobState.RUNNING)
            .values(state=JobState.DONE, progress=100.0, result=dict(result or {}), finished_at=now, updated_at=now,
                    lease_owner="", lease_expires_at=None, message=message or "Xong (done)")
            .execution_options(synchronize_session=False))) == 1


def fail(sessions: sessionmaker[Session], job_id: int, owner: str, error: BaseException | str, *,
         final: bool = False, review: list[dict] | None = None) -> str:
    """Record a failed attempt: back to `queued` while attempts remain, else `failed`. Returns the new state.

    `review`: the chapters that failed QC (see `studio.errors.QCRejected`); the job then waits for
    staff to review them (`needs_review`), it did not break.
    """
    text = error if isinstance(error, str) else f"{error.__class__.__name__}: {error}"
    now = utcnow()
    with sessions.begin() as db:
        job = db.get(Job, job_id)
        if job is None or job.lease_owner != owner or job.state != JobState.RUNNING:
            return job.state if job is not None else "missing"
        last = final or job.attempts >= job.max_attempts
        job.state = JobState.FAILED if last else JobState.QUEUED
        job.error = (job.error or "") + f"[lần {job.attempts}] {text}\n"
        job.message = ("Lỗi, đã dừng (failed)" if last else
                       f"Lỗi ở lần {job.attempts}, sẽ thử lại (failed, will retry)")
        job.lease_owner, job.lease_expires_at, job.updated_at = "", None, now
        if last:
            job.finished_at = now
        if review is not None:
            job.result = {**(job.result or {}), "review": list(review)}
            job.message = "Cần duyệt QC (needs QC review)"
        return job.state


def needs_review(job: Job) -> bool:
    """A job stopped because chapters failed QC: staff decide (listen, accept or re-record), no retry."""
    return job.state == JobState.FAILED and bool((job.result or {}).get("review"))


def record_failure(sessions: sessionmaker[Session], message: str, *, kind: str = HOTFOLDER,
                   payload: dict[str, Any] | None = None) -> int:
    """A failure that happened outside a job (a hot-folder session that could not be ingested), kept as
    a finished `failed` row so staff see it beside the jobs. No worker claims it (no handler)."""
    now = utcnow()
    with sessions.begin() as db:
        job = Job(kind=kind, state=JobState.FAILED, payload=dict(payload or {}), attempts=1, max_attempts=1,
                  message=message, error=message + "\n", finished_at=now)
        db.add(job)
        db.flush()
        return job.id


RETRIED, NOT_RETRYABLE, CONFIRM_PUBLISHED = "retried", "not-retryable", "confirm-published"


def retry(sessions: sessionmaker[Session], job_id: int, *, confirm_published: bool = False) -> str:
    """Staff decision: run a failed job again with fresh attempts.

    Returns RETRIED; NOT_RETRYABLE (not failed, or a kind no worker runs); or CONFIRM_PUBLISHED when
    the job would re-master a book readers can already hear and staff have not confirmed it.
    """
    with sessions.begin() as db:
        job = db.get(Job, job_id)
        if job is None or job.state != JobState.FAILED or job.kind == HOTFOLDER:
            return NOT_RETRYABLE
        book = db.get(Book, job.book_id) if job.book_id is not None else None
        if book is not None and book.state == BookState.PUBLISHED and not confirm_published:
            return CONFIRM_PUBLISHED
        changed = rowcount(db.execute(
            update(Job).where(Job.id == job_id, Job.state == JobState.FAILED)
            .values(state=JobState.QUEUED, attempts=0, finished_at=None, message="Đang chờ (queued)",
                    updated_at=utcnow())
            .execution_options(synchronize_session=False)))
        return RETRIED if changed == 1 else NOT_RETRYABLE


def format_exception(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()
