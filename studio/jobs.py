"""Durable jobs on the `jobs` table: enqueue, claim with a lease, heartbeat, complete, fail.

The row is the truth. A worker claims a job by a single conditional UPDATE
(`... WHERE id = :id AND (state = 'queued' OR (state = 'running' AND lease_expires_at < now))`)
and only the worker whose UPDATE changed the row runs it — the same statement is atomic on
SQLite (one writer at a time) and on PostgreSQL (the second UPDATE re-checks the WHERE clause
after the first commits). While it runs, the worker extends its lease; a worker that dies
stops extending, the lease expires and another worker claims the job again. Each claim counts
one attempt; after `max_attempts` (3) failed or abandoned attempts the job stays `failed` with
its error, for staff to see and retry by hand.

A job may wait on parts (`job_parts`: one chapter's master, one chapter × one output encode), each
a message of its own (studio.broker). The job row then stays `running` with no lease owner
(`release`); parts are claimed, leased, counted and finished like jobs, and the worker that
finishes a phase's last part continues the book by one conditional UPDATE (`advance`), so exactly
one worker does, whichever machine ran the parts. Every row remembers when a message was last
sent for it (`sent_at`): the reconciler sends rows no message was sent for, and again those left
queued or abandoned for too long (`due`).
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
from catalog.models import Book, Job, JobPart, utcnow

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
        job.lease_owner, job.lease_expires_at, job.updated_at, job.sent_at = "", None, now, None
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
                    updated_at=utcnow(), sent_at=None)
            .execution_options(synchronize_session=False)))
        if changed == 1:  # its unfinished parts get fresh attempts too; the parts that are done stay done
            db.execute(update(JobPart).where(JobPart.job_id == job_id, JobPart.state != JobState.DONE)
                       .values(state=JobState.QUEUED, attempts=0, sent_at=None, updated_at=utcnow())
                       .execution_options(synchronize_session=False))
        return RETRIED if changed == 1 else NOT_RETRYABLE


def format_exception(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


# -- a job claimed by id (a broker message names it) -----------------------------------------------------
def claim_id(sessions: sessionmaker[Session], job_id: int, owner: str, *,
             lease_s: float = DEFAULT_LEASE_S) -> ClaimedJob | None:
    """Claim job `job_id` if it is claimable (queued, or running with an expired lease) and has
    attempts left; None otherwise. A job abandoned on its last attempt is failed here."""
    now = utcnow()
    with sessions.begin() as db:
        db.execute(
            update(Job).where(Job.id == job_id, Job.state == JobState.RUNNING, Job.lease_expires_at < now,
                              Job.attempts >= Job.max_attempts)
            .values(state=JobState.FAILED, finished_at=now, lease_owner="", lease_expires_at=None,
                    error=Job.error + "Tiến trình xử lý dừng đột ngột ở lần thử cuối "
                                      "(worker lost its lease on the last attempt)\n")
            .execution_options(synchronize_session=False))
        changed = rowcount(db.execute(
            update(Job).where(Job.id == job_id, _claimable(now))
            .values(state=JobState.RUNNING, lease_owner=owner, lease_expires_at=now + dt.timedelta(seconds=lease_s),
                    attempts=Job.attempts + 1, updated_at=now, message="Đang xử lý (running)")
            .execution_options(synchronize_session=False)))
        return _snapshot(db, job_id) if changed == 1 else None


def _snapshot(db: Session, job_id: int) -> ClaimedJob:
    job = db.get_one(Job, job_id)
    db.refresh(job)
    return ClaimedJob(job.id, job.kind, job.book_id, dict(job.payload or {}), job.attempts,
                      job.max_attempts, job.stage or "", dict(job.result or {}))


def state_of(sessions: sessionmaker[Session], job_id: int) -> tuple[str, str, dt.datetime | None] | None:
    """(state, lease owner, lease end) of job `job_id`; None when there is no such job."""
    with sessions() as db:
        job = db.get(Job, job_id)
        return None if job is None else (job.state, job.lease_owner, job.lease_expires_at)


def release(sessions: sessionmaker[Session], job_id: int, owner: str, stage: str, message: str) -> bool:
    """The job waits on the parts of `stage`: still `running`, but no worker holds it (no lease that
    could expire); the worker that finishes the last part continues it (`advance`)."""
    with sessions.begin() as db:
        return rowcount(db.execute(
            update(Job).where(Job.id == job_id, Job.lease_owner == owner, Job.state == JobState.RUNNING)
            .values(lease_owner="", lease_expires_at=None, stage=stage, message=message, updated_at=utcnow())
            .execution_options(synchronize_session=False))) == 1


def _parts_open(job_id: int, phase: str):
    return (select(JobPart.id).where(JobPart.job_id == job_id, JobPart.phase == phase,
                                     JobPart.state != JobState.DONE).exists())


def advance(sessions: sessionmaker[Session], job_id: int, phase: str, owner: str, *,
            lease_s: float = DEFAULT_LEASE_S) -> ClaimedJob | None:
    """Take the job that waits on `phase` when all its parts are done: one conditional UPDATE, so of
    the workers that finish parts at the same time exactly one continues the book. Call it in a
    transaction of its own, after the part's completion committed: a worker whose own completion
    is not committed yet cannot see its part done, but the last worker to commit sees them all."""
    now = utcnow()
    with sessions.begin() as db:
        changed = rowcount(db.execute(
            update(Job).where(Job.id == job_id, Job.state == JobState.RUNNING, Job.lease_owner == "",
                              Job.stage == phase, ~_parts_open(job_id, phase))
            .values(lease_owner=owner, lease_expires_at=now + dt.timedelta(seconds=lease_s), updated_at=now)
            .execution_options(synchronize_session=False)))
        return _snapshot(db, job_id) if changed == 1 else None


def waiting_stage(sessions: sessionmaker[Session], job_id: int) -> str | None:
    """The stage job `job_id` waits on (running, no lease owner), else None."""
    with sessions() as db:
        job = db.get(Job, job_id)
        if job is None or job.state != JobState.RUNNING or job.lease_owner:
            return None
        return job.stage


# -- parts -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClaimedPart:
    id: int
    job_id: int
    phase: str
    name: str
    attempts: int
    max_attempts: int


def add_parts(sessions: sessionmaker[Session], job_id: int, phase: str, names: list[str], queue: str, *,
              max_attempts: int = 3) -> dict[str, dict[str, Any]]:
    """Make sure `job_id` has a part for every name of `phase` (kept when it exists: a retried job
    keeps the parts that are done). Returns {name: result} of the parts already done."""
    with sessions.begin() as db:
        rows = {p.name: p for p in db.scalars(select(JobPart).where(JobPart.job_id == job_id,
                                                                    JobPart.phase == phase))}
        for name in names:
            if name not in rows:
                db.add(JobPart(job_id=job_id, phase=phase, name=name, queue=queue, max_attempts=max_attempts,
                               result={}))
        for name, row in rows.items():
            if name not in names:  # the plan changed (marks edited before a retry): a part no longer wanted
                db.delete(row)
        return {n: dict(p.result or {}) for n, p in rows.items() if n in names and p.state == JobState.DONE}


def part_results(sessions: sessionmaker[Session], job_id: int, phase: str) -> dict[str, dict[str, Any]]:
    with sessions() as db:
        return {p.name: dict(p.result or {}) for p in db.scalars(
            select(JobPart).where(JobPart.job_id == job_id, JobPart.phase == phase, JobPart.state == JobState.DONE))}


def _part_claimable(now: dt.datetime):
    return or_(JobPart.state == JobState.QUEUED,
               and_(JobPart.state == JobState.RUNNING, JobPart.lease_expires_at < now))


def claim_part(sessions: sessionmaker[Session], part_id: int, owner: str, *,
               lease_s: float = DEFAULT_LEASE_S) -> ClaimedPart | None:
    """Claim part `part_id` (queued, or running with an expired lease) while its job still runs; None
    otherwise. A part abandoned on its last attempt fails, and its job with it (`fail_part`)."""
    now = utcnow()
    with sessions.begin() as db:
        part = db.get(JobPart, part_id)
        if part is None:
            return None
        if (part.state == JobState.RUNNING and part.lease_expires_at is not None and part.lease_expires_at < now
                and part.attempts >= part.max_attempts):
            abandoned = True
        else:
            abandoned = False
            changed = rowcount(db.execute(
                update(JobPart).where(JobPart.id == part_id, _part_claimable(now),
                                      select(Job.id).where(Job.id == JobPart.job_id,
                                                           Job.state == JobState.RUNNING).exists())
                .values(state=JobState.RUNNING, lease_owner=owner,
                        lease_expires_at=now + dt.timedelta(seconds=lease_s), attempts=JobPart.attempts + 1,
                        progress=0.0, updated_at=now)
                .execution_options(synchronize_session=False)))
            if changed == 1:
                db.refresh(part)
                return ClaimedPart(part.id, part.job_id, part.phase, part.name, part.attempts, part.max_attempts)
            return None
        owner_then = part.lease_owner
    if abandoned:
        fail_part(sessions, part_id, owner_then, "Tiến trình xử lý dừng đột ngột ở lần thử cuối "
                                                 "(worker lost its lease on the last attempt)")
    return None


def part_state(sessions: sessionmaker[Session], part_id: int) -> tuple[str, dt.datetime | None] | None:
    with sessions() as db:
        part = db.get(JobPart, part_id)
        return None if part is None else (part.state, part.lease_expires_at)


def heartbeat_part(sessions: sessionmaker[Session], part_id: int, owner: str, *, lease_s: float = DEFAULT_LEASE_S,
                   progress: float | None = None) -> bool:
    """Extend the part's lease (and record its progress, 0..1). False when the lease is no longer ours."""
    values: dict[str, Any] = {"lease_expires_at": utcnow() + dt.timedelta(seconds=lease_s), "updated_at": utcnow()}
    if progress is not None:
        values["progress"] = max(0.0, min(1.0, progress))
    with sessions.begin() as db:
        return rowcount(db.execute(
            update(JobPart).where(JobPart.id == part_id, JobPart.lease_owner == owner,
                                  JobPart.state == JobState.RUNNING)
            .values(**values).execution_options(synchronize_session=False))) == 1


def complete_part(sessions: sessionmaker[Session], part_id: int, owner: str, result: dict[str, Any]) -> bool:
    now = utcnow()
    with sessions.begin() as db:
        return rowcount(db.execute(
            update(JobPart).where(JobPart.id == part_id, JobPart.lease_owner == owner,
                                  JobPart.state == JobState.RUNNING)
            .values(state=JobState.DONE, progress=1.0, result=dict(result), lease_owner="", lease_expires_at=None,
                    runs=JobPart.runs + 1, updated_at=now)
            .execution_options(synchronize_session=False))) == 1


def fail_part(sessions: sessionmaker[Session], part_id: int, owner: str, error: str) -> str:
    """Record a failed attempt of a part: back to `queued` while attempts remain, else `failed`, and
    then its job fails too, with the part's error (staff retry the job: `retry`). Returns the part's state."""
    now = utcnow()
    with sessions.begin() as db:
        part = db.get(JobPart, part_id)
        if part is None or part.lease_owner != owner or part.state != JobState.RUNNING:
            return part.state if part is not None else "missing"
        last = part.attempts >= part.max_attempts
        part.state = JobState.FAILED if last else JobState.QUEUED
        part.error = (part.error or "") + f"[lần {part.attempts}] {error}\n"
        part.lease_owner, part.lease_expires_at, part.sent_at, part.updated_at = "", None, None, now
        if last:  # the job shows the part's attempts, each line naming the part
            lines = "".join(f"{line} ({part.name})\n" for line in part.error.splitlines() if line)
            db.execute(
                update(Job).where(Job.id == part.job_id, Job.state == JobState.RUNNING, Job.lease_owner == "")
                .values(state=JobState.FAILED, finished_at=now, updated_at=now, message="Lỗi, đã dừng (failed)",
                        error=Job.error + lines)
                .execution_options(synchronize_session=False))
        return part.state


def phase_progress(sessions: sessionmaker[Session], job_id: int, phase: str) -> float:
    """How far the parts of `phase` are, 0..1 (a running part counts with its own progress)."""
    with sessions() as db:
        parts = db.scalars(select(JobPart).where(JobPart.job_id == job_id, JobPart.phase == phase)).all()
        if not parts:
            return 0.0
        return sum(1.0 if p.state == JobState.DONE else (p.progress or 0.0) for p in parts) / len(parts)


def set_waiting_progress(sessions: sessionmaker[Session], job_id: int, percent: float) -> None:
    """Progress of a job waiting on its parts (no owner to write it): for the staff page."""
    with sessions.begin() as db:
        db.execute(update(Job).where(Job.id == job_id, Job.state == JobState.RUNNING, Job.lease_owner == "",
                                     Job.progress < percent)
                   .values(progress=round(max(0.0, min(100.0, percent)), 1))
                   .execution_options(synchronize_session=False))


# -- what the reconciler sends ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Due:
    """A message to send: `kind` "job" or "part", the row's id and the queue (parts)."""
    kind: str
    id: int
    queue: str = "default"


def due(sessions: sessionmaker[Session], *, resend_after_s: float, kinds: tuple[str, ...],
        sent_before: dt.datetime | None = None) -> list[Due]:
    """Rows that need a message now, each marked sent (one conditional UPDATE each, so two
    reconcilers do not both send it):
      - queued with no message sent yet (just enqueued, or a failed attempt put back);
      - queued with the last message older than `resend_after_s` (a message lost with an in-process
        broker or a dead worker's prefetch);
      - running with an expired lease (the worker died; RabbitMQ redelivers its message too, and the
        database claim lets only one of the two run it), at most once per `resend_after_s`... and
        at once the first time;
      - a job waiting on a phase whose parts are all done (the worker that finished the last one
        died before it continued the book).
    Job kinds outside `kinds` (no handler: hot-folder failure records) are left alone.
    `sent_before`: an in-process broker's start; a message sent before it lived in another process's
    memory (perhaps a dead one), so queued rows sent before it are sent again at once."""
    now = utcnow()
    stale = now - dt.timedelta(seconds=resend_after_s)
    if sent_before is not None:
        stale = max(stale, sent_before)
    out: list[Due] = []
    with sessions.begin() as db:
        unsent_or_stale = or_(Job.sent_at.is_(None), Job.sent_at < stale)
        jobs_due: list[tuple[int, dt.datetime | None]] = [(r[0], r[1]) for r in db.execute(select(Job.id, Job.sent_at).where(Job.kind.in_(kinds), or_(
            and_(Job.state == JobState.QUEUED, unsent_or_stale),
            and_(Job.state == JobState.RUNNING, Job.lease_expires_at < now,
                 or_(Job.sent_at.is_(None), Job.sent_at < Job.lease_expires_at, Job.sent_at < stale)),
        )).order_by(Job.id).limit(200)).all()]
        waiting = db.execute(select(Job.id, Job.sent_at, Job.stage).where(
            Job.state == JobState.RUNNING, Job.lease_owner == "", Job.updated_at < now - dt.timedelta(seconds=2),
            unsent_or_stale)).all()
        for job_id, sent_at, stage in waiting:
            has_parts = db.scalar(select(JobPart.id).where(JobPart.job_id == job_id, JobPart.phase == stage).limit(1))
            if has_parts is not None and not db.scalar(select(_parts_open(job_id, stage))):
                jobs_due.append((job_id, sent_at))
        for job_id, sent_at in jobs_due:
            if _mark_sent(db, Job, job_id, sent_at, now):
                out.append(Due("job", job_id))
        parts = db.execute(select(JobPart.id, JobPart.sent_at, JobPart.queue).join(Job, Job.id == JobPart.job_id)
                           .where(Job.state == JobState.RUNNING, Job.lease_owner == "", or_(
                               and_(JobPart.state == JobState.QUEUED,
                                    or_(JobPart.sent_at.is_(None), JobPart.sent_at < stale)),
                               and_(JobPart.state == JobState.RUNNING, JobPart.lease_expires_at < now,
                                    or_(JobPart.sent_at.is_(None), JobPart.sent_at < JobPart.lease_expires_at,
                                        JobPart.sent_at < stale)),
                           )).order_by(JobPart.id).limit(500)).all()
        for part_id, sent_at, queue in parts:
            if _mark_sent(db, JobPart, part_id, sent_at, now):
                out.append(Due("part", part_id, queue))
    return out


def _mark_sent(db: Session, model: Any, row_id: int, seen: dt.datetime | None, now: dt.datetime) -> bool:
    """Stamp the row sent, unless another reconciler did since we read it (then it sends, not us)."""
    unchanged = model.sent_at.is_(None) if seen is None else model.sent_at == seen
    return rowcount(db.execute(update(model).where(model.id == row_id, unchanged).values(sent_at=now)
                               .execution_options(synchronize_session=False))) == 1


def unsend(sessions: sessionmaker[Session], items: list[Due]) -> None:
    """Forget that messages were sent for `items` (the broker refused them): they are due again."""
    with sessions.begin() as db:
        for kind, model in (("job", Job), ("part", JobPart)):
            ids = [d.id for d in items if d.kind == kind]
            if ids:
                db.execute(update(model).where(model.id.in_(ids)).values(sent_at=None)
                           .execution_options(synchronize_session=False))
