"""Runs jobs: the handlers, the `Runner` the broker's actors call, the reconciler, the worker pool.

A message names a row (studio.broker); the `Runner` claims it in the database (studio.jobs), runs
its handler with a background heartbeat (the lease is extended and the progress copied to the row
every `lease_s / 3` seconds, at most 1 s), and writes the outcome back. A `produce` job runs its
book-level stages itself and splits the master and package stages into parts (studio.pipeline
`Parts`): it adds the parts, releases the job and the reconciler sends one message per part; the
worker that finishes a phase's last part continues the book (`jobs.advance`).

The `Reconciler` runs in every worker process (and in serve's job process): every second it sends
the rows that need a message (`jobs.due`: just queued, a failed attempt to retry, a lease expired
under a dead worker, a phase whose parts are all done but nobody continued).

`WorkerPool` is what `sachnoi serve` (RUN_WORKERS) and `sachnoi worker` run: the broker's worker
threads, the reconciler and the sweep of abandoned temporaries. `Worker.run_once` runs the
queued jobs to the end in this thread through an in-process broker (tests, the on-demand job
thread): the same actors, no server.

Job kinds:
    produce   payload {"start": stage, "stop": stage|None, "decisions": {...}}: run the pipeline.
              A retried job starts again at the stage it was in (every stage is idempotent).
    clip      payload {"clip_id": int}: render a promotion clip (`studio.clips.render_clip`).
    align     payload {}: align the book's newest manuscript to its chapters (`studio.manuscripts.align_book`).
    talking_book  payload {"kinds": ["epub3", "daisy202"]}: write the book's EPUB 3 Media Overlays
              and DAISY 2.02 talking books (`studio.talking_books.build_talking_books`).
"""
from __future__ import annotations

import functools
import os
import socket
import threading
import uuid
from typing import Any, Callable

import soundfile as sf
from sqlalchemy import select

from catalog.manuscripts import current
from catalog.models import Book, Job, JobPart, utcnow
from catalog.states import JobState
from catalog.talking_books import KINDS
from recordings.disk import DISK_FULL_MESSAGE, free_bytes, is_disk_full
from recordings.temporaries import sweep_temporaries as sweep
from studio import jobs
from studio.broker import QUEUES, TIME_LIMIT_ERRORS, Broker
from studio.context import Context, Decisions
from studio.errors import N_, QCRejected
from studio.manuscript_formats import ManuscriptError
from studio.pipeline import STAGES, run_stages

# what a failed attempt is: any error, and the engine's time limit (a BaseException, like KeyboardInterrupt)
FAILURES: tuple[type[BaseException], ...] = (Exception, *TIME_LIMIT_ERRORS)


class LeaseLost(Exception):
    """Another worker owns this job now; stop without writing an outcome."""


class WaitForParts(Exception):
    """The job's stage was split into parts (added to the database); the job waits for them."""

    def __init__(self, stage: str, message: str):
        super().__init__(stage)
        self.stage, self.message = stage, message


class JobRun:
    """Handed to a handler: the claimed job and a `report(stage, fraction)` for progress."""

    def __init__(self, job: jobs.ClaimedJob, *, parts: bool = True):
        self.job = job
        self.stage = job.stage
        self.percent = 0.0
        self.message: str | None = None
        self.lost = False
        self.parts = parts   # False: a stage with parts runs them all here (no broker to send them to)
        self.lock = threading.Lock()

    def report(self, stage: str, percent: float, message: str | None = None) -> None:
        if self.lost:
            raise LeaseLost(f"job {self.job.id}")
        with self.lock:
            self.stage, self.percent = stage, percent
            if message is not None:
                self.message = message


# -- handlers -------------------------------------------------------------------------------------
STAGE_NAMES = [s.name for s in STAGES]
STAGE_LABELS = {s.name: s.label_vi for s in STAGES}


def produce_percent(payload: dict[str, Any], stage: str, fraction: float) -> float:
    """Where a produce job is, 0..100, when `stage` is `fraction` done (its stages weigh the same)."""
    first = STAGE_NAMES.index(payload.get("start", "mark"))
    last = STAGE_NAMES.index(payload.get("stop") or STAGE_NAMES[-1])
    return 100.0 * (STAGE_NAMES.index(stage) - first + min(1.0, fraction)) / (last - first + 1)


def run_produce(ctx: Context, run: JobRun) -> dict[str, Any]:
    payload = run.job.payload
    start = payload.get("start", "mark")
    if run.job.stage in STAGE_NAMES and STAGE_NAMES.index(run.job.stage) > STAGE_NAMES.index(start):
        start = run.job.stage  # resume where the last attempt (or the last part) was: earlier stages are done
    stop = payload.get("stop") or STAGE_NAMES[-1]
    decisions = Decisions(**payload.get("decisions", {}))
    book_id = run.job.book_id
    if book_id is None:
        raise ValueError(f"produce job {run.job.id} names no book")

    def progress(stage: str, fraction: float) -> None:
        run.report(stage, produce_percent(payload, stage, fraction), STAGE_LABELS[stage])

    for stage in STAGES[STAGE_NAMES.index(start):STAGE_NAMES.index(stop) + 1]:
        if stage.parts is None or not run.parts:
            run_stages(ctx, book_id, decisions, progress, start=stage.name, stop=stage.name)
            continue
        progress(stage.name, 0.0)
        names = stage.parts.plan(ctx, book_id, decisions)
        done = jobs.add_parts(ctx.sessions, run.job.id, stage.name, names, stage.parts.queue,
                              max_attempts=run.job.max_attempts)
        if len(done) < len(names):
            raise WaitForParts(stage.name, f"{STAGE_LABELS[stage.name]}: {len(done)}/{len(names)}")
        stage.parts.finish(ctx, book_id, decisions, done, functools.partial(progress, stage.name))
    first, last = STAGE_NAMES.index(payload.get("start", "mark")), STAGE_NAMES.index(stop)
    return {"book_id": book_id, "stages": STAGE_NAMES[first:last + 1]}


def run_clip(ctx: Context, run: JobRun) -> dict[str, Any]:
    """payload {"clip_id": int}: render a promotion clip (MP3 and its videos: H.264 encodes that
    must not run inside a web request)."""
    run.report("clip", 0.0, "Đang dựng đoạn giới thiệu (rendering the clip)")
    from studio.clips import render_clip   # the handlers' modules load scipy: imported when a job
    result = render_clip(ctx, int(run.job.payload["clip_id"]))  # runs, so enqueuing stays light
    return {"clip_id": int(run.job.payload["clip_id"]), "mp3_key": result.mp3_key, "mp4_key": result.mp4_key}


def run_align(ctx: Context, run: JobRun) -> dict[str, Any]:
    """Align the manuscript to the audio and find skipped, repeated and doubtful sentences."""
    label = "Căn chỉnh văn bản với âm thanh (aligning the manuscript)"
    run.report("align", 0.0, label)
    if run.job.book_id is None:
        raise ValueError(f"align job {run.job.id} names no book")
    from studio.manuscripts import align_book
    summary = align_book(ctx, run.job.book_id, progress=lambda f: run.report("align", 100.0 * f, label))
    return {"book_id": run.job.book_id, **summary}


def run_talking_book(ctx: Context, run: JobRun) -> dict[str, Any]:
    label = "Đang tạo sách nói EPUB 3 và DAISY (writing the talking books)"
    run.report("talking_book", 0.0, label)
    kinds = tuple(run.job.payload.get("kinds") or KINDS)
    if run.job.book_id is None:
        raise ValueError(f"talking-book job {run.job.id} names no book")
    from studio.talking_books import build_talking_books
    result = build_talking_books(ctx.sessions, ctx.store, run.job.book_id, kinds=kinds,
                                 progress=lambda f: run.report("talking_book", 100.0 * f, label))
    return {"book_id": run.job.book_id, "written": result.written, "unchanged": result.unchanged,
            "full_text": result.full_text, "left_out": result.left_out, "message": result.message}


HANDLERS: dict[str, Callable[[Context, JobRun], dict[str, Any]]] = {
    "produce": run_produce, "clip": run_clip, "align": run_align, "talking_book": run_talking_book}


def enqueue_produce(ctx: Context, book_id: int, decisions: Decisions, *, start: str = "mark",
                    stop: str | None = None) -> int:
    return jobs.enqueue(ctx.sessions, "produce", book_id=book_id,
                        payload={"start": start, "stop": stop, "decisions": {
                            "approve_marks": decisions.approve_marks,
                            "accept_qc_failures": decisions.accept_qc_failures,
                            "publish": decisions.publish}},
                        max_attempts=ctx.settings.job_max_attempts)


def enqueue_clip(ctx: Context, clip_id: int, book_id: int) -> int:
    """A job rendering clip `clip_id`, filed under its book so only that library's staff see it."""
    return jobs.enqueue(ctx.sessions, "clip", book_id=book_id, payload={"clip_id": int(clip_id)},
                        max_attempts=ctx.settings.job_max_attempts)


def enqueue_align(ctx: Context, book_id: int) -> int:
    """A job aligning the book's newest manuscript (`run_align`); its id is in the payload so the
    studio page can follow the job of the manuscript it shows."""
    with ctx.sessions() as db:
        if db.get(Book, book_id) is None:
            raise ManuscriptError(N_("Không có sách #%(id)s."), id=book_id)
        manuscript = current(db, book_id)
        payload = {"manuscript_id": manuscript.id} if manuscript else {}
    return jobs.enqueue(ctx.sessions, "align", book_id=book_id, payload=payload,
                        max_attempts=ctx.settings.job_max_attempts)


def enqueue_talking_book(ctx: Context, book_id: int, kinds: tuple[str, ...] | None = None) -> int:
    """A job writing the book's talking books (all kinds unless `kinds` is given)."""
    return jobs.enqueue(ctx.sessions, "talking_book", book_id=book_id, payload={"kinds": list(kinds or ())},
                        max_attempts=ctx.settings.job_max_attempts)


def failure_text(ctx: Context, exc: BaseException) -> str:
    """What a failed attempt records. A full disk says so first, in Vietnamese then English:
    libsndfile reports ENOSPC as a bare "System error.", so a libsndfile failure while the
    store's disk is nearly full counts as one too."""
    if isinstance(exc, TIME_LIMIT_ERRORS):
        return (f"Quá thời hạn {ctx.settings.job_time_limit_s:g} s của một bước, đã dừng "
                f"(a step passed its JOB_TIME_LIMIT_S and was stopped)")
    text = jobs.format_exception(exc)
    floor = ctx.settings.disk_full_floor_mb * 1e6
    if is_disk_full(exc) or (isinstance(exc, (OSError, sf.LibsndfileError)) and free_bytes(ctx.store.root) < floor):
        return f"{DISK_FULL_MESSAGE}. {text}"
    return text


# -- the runner: what a message does ------------------------------------------------------------------
def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Runner:
    """Runs the rows the broker's messages name. `send_due()` (the reconciler's send) is called
    after a row changed so that it needs a message (a failed attempt, new parts)."""

    def __init__(self, ctx: Context, *, send_due: Callable[[], int] = lambda: 0, owner: str | None = None,
                 lease_s: float | None = None, log: Callable[[str], None] | None = None):
        self.ctx = ctx
        self.send_due = send_due
        self.owner = owner or new_owner()
        self.lease_s = float(lease_s or ctx.settings.job_lease_s)
        self.log = log or (lambda _msg: None)

    # a job ---------------------------------------------------------------------------------------
    def run_job(self, job_id: int) -> None:
        """A `default` message: claim job `job_id` and run it; or continue it when it waits on parts
        that are all done. Nothing when the job is done, failed or held by a live worker (a second
        message for it, or RabbitMQ's redelivery of a killed worker's: the reconciler sends it
        again once the dead worker's lease expired)."""
        job = jobs.claim_id(self.ctx.sessions, job_id, self.owner, lease_s=self.lease_s)
        if job is None:
            stage = jobs.waiting_stage(self.ctx.sessions, job_id)
            job = jobs.advance(self.ctx.sessions, job_id, stage, self.owner, lease_s=self.lease_s) if stage else None
            if job is None:
                return
        else:
            self.log(f"Nhận việc #{job.id} ({job.kind}, lần {job.attempts}/{job.max_attempts})")
        self.run_claimed(job)

    def run_claimed(self, job: jobs.ClaimedJob, *, parts: bool = True) -> None:
        run = JobRun(job, parts=parts)
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(run, stop), daemon=True)
        beat.start()
        try:
            result = HANDLERS[job.kind](self.ctx, run)
        except LeaseLost:
            self.log(f"Việc #{job.id}: mất quyền giữ, bỏ (lease lost)")
            return
        except WaitForParts as wait:
            stop.set()
            beat.join()
            self._write(run)
            jobs.release(self.ctx.sessions, job.id, self.owner, wait.stage, wait.message)
            self.log(f"Việc #{job.id}: chờ các phần của bước {wait.stage} (waiting for its parts)")
            self.send_due()
            return
        except FAILURES as exc:  # any failure is recorded on the row; the worker carries on
            stop.set()
            beat.join()
            review = exc.chapters if isinstance(exc, QCRejected) else None
            # a manuscript that cannot be aligned (no masters, no text) stays so: no retry, and staff read
            # the message itself, not a class path (found in QA: three attempts, "studio....Error: …")
            unfit = isinstance(exc, ManuscriptError)
            state = jobs.fail(self.ctx.sessions, job.id, self.owner,
                              str(exc) if unfit else failure_text(self.ctx, exc),
                              final=review is not None or unfit, review=review)
            self.log(f"Việc #{job.id} lỗi → {state}: {exc}")
            self.send_due()
            return
        finally:
            stop.set()
        beat.join()
        self._write(run)
        # a job done with a caveat (talking books missing text) says so on the jobs page
        jobs.complete(self.ctx.sessions, job.id, self.owner, result, message=str(result.get("message") or ""))
        self.log(f"Việc #{job.id} xong (done)")

    def _write(self, run: JobRun) -> bool:
        with run.lock:
            stage, percent, message = run.stage, run.percent, run.message
        ok = jobs.heartbeat(self.ctx.sessions, run.job.id, self.owner, lease_s=self.lease_s,
                            progress=percent, stage=stage, message=message)
        if not ok:
            run.lost = True
        return ok

    def _heartbeat(self, run: JobRun, stop: threading.Event) -> None:
        interval = min(1.0, self.lease_s / 3)
        while not stop.wait(interval):
            try:
                if not self._write(run):
                    return
            except Exception:  # a busy database: try again at the next beat, before the lease ends
                continue

    # a part ----------------------------------------------------------------------------------------
    def run_part(self, part_id: int) -> None:
        """A `master`/`encode` message: claim part `part_id`, run it, and when it was the last of its
        phase, continue the book (exactly one worker does: `jobs.advance`)."""
        part = jobs.claim_part(self.ctx.sessions, part_id, self.owner, lease_s=self.lease_s)
        if part is None:
            return
        with self.ctx.sessions() as db:
            job_row = db.get_one(Job, part.job_id)
            book_id, payload = job_row.book_id, dict(job_row.payload or {})
        stage = next(s for s in STAGES if s.name == part.phase)
        assert stage.parts is not None and book_id is not None
        self.log(f"Nhận phần {part.name} của việc #{part.job_id} (lần {part.attempts}/{part.max_attempts})")
        fraction = [0.0]
        stop = threading.Event()
        beat = threading.Thread(target=self._part_heartbeat, args=(part, payload, fraction, stop), daemon=True)
        beat.start()
        try:
            result = stage.parts.run(self.ctx, book_id, part.name, lambda f: fraction.__setitem__(0, f))
        except FAILURES as exc:
            stop.set()
            beat.join()
            state = jobs.fail_part(self.ctx.sessions, part.id, self.owner, failure_text(self.ctx, exc))
            self.log(f"Phần {part.name} của việc #{part.job_id} lỗi → {state}: {exc}")
            self.send_due()
            return
        finally:
            stop.set()
        beat.join()
        if not jobs.complete_part(self.ctx.sessions, part.id, self.owner, result):
            return  # our lease lapsed and another worker took the part: it finishes it
        self.log(f"Phần {part.name} của việc #{part.job_id} xong (done)")
        self._phase_progress(part, payload)
        job = jobs.advance(self.ctx.sessions, part.job_id, part.phase, self.owner, lease_s=self.lease_s)
        if job is not None:
            self.log(f"Việc #{job.id}: các phần của bước {part.phase} xong, làm tiếp (continuing the book)")
            self.run_claimed(job)

    def _phase_progress(self, part: jobs.ClaimedPart, payload: dict[str, Any]) -> None:
        done = jobs.phase_progress(self.ctx.sessions, part.job_id, part.phase)
        jobs.set_waiting_progress(self.ctx.sessions, part.job_id, produce_percent(payload, part.phase, done))

    def _part_heartbeat(self, part: jobs.ClaimedPart, payload: dict[str, Any], fraction: list[float],
                        stop: threading.Event) -> None:
        interval = min(1.0, self.lease_s / 3)
        while not stop.wait(interval):
            try:
                if not jobs.heartbeat_part(self.ctx.sessions, part.id, self.owner, lease_s=self.lease_s,
                                           progress=fraction[0]):
                    return
                self._phase_progress(part, payload)
            except Exception:  # a busy database: try again at the next beat, before the lease ends
                continue


# -- sending: the reconciler ---------------------------------------------------------------------------
class Reconciler:
    """Sends the rows that need a message (`jobs.due`) to the broker; `run` does so every `poll_s`."""

    def __init__(self, ctx: Context, broker: Broker, *, log: Callable[[str], None] | None = None):
        self.ctx, self.broker = ctx, broker
        self.log = log or (lambda _msg: None)
        self.lock = threading.Lock()
        # an in-process broker's messages die with its process: what was sent before we started is sent again
        self.started = utcnow() if broker.in_process else None

    def send_due(self) -> int:
        with self.lock:
            due = jobs.due(self.ctx.sessions, resend_after_s=self.ctx.settings.job_resend_s, kinds=tuple(HANDLERS),
                           sent_before=self.started)
            for index, item in enumerate(due):
                try:
                    self.broker.send(item.queue, item.id)
                except Exception:  # the broker is away: what was not sent is due again at the next round
                    jobs.unsend(self.ctx.sessions, due[index:])
                    raise
            return len(due)

    def run(self, stop: threading.Event, poll_s: float = 1.0) -> None:
        while not stop.wait(poll_s):
            try:
                self.send_due()
            except Exception as exc:  # a database or broker hiccup: the next round sends it
                self.log(f"Không gửi được việc (reconciler could not send): {exc}")


def work_left(ctx: Context) -> bool:
    """Any job of a kind we run still queued or running (for `--exit-when-idle`)."""
    with ctx.sessions() as db:
        return db.scalar(select(Job.id).where(Job.kind.in_(tuple(HANDLERS)),
                                              Job.state.in_((JobState.QUEUED, JobState.RUNNING))).limit(1)) is not None


def parts_of(ctx: Context, job_id: int) -> list[JobPart]:
    """A job's parts (for the tests and the CLI)."""
    with ctx.sessions() as db:
        return list(db.scalars(select(JobPart).where(JobPart.job_id == job_id).order_by(JobPart.id)))


# -- in this thread: the in-process broker, run dry ---------------------------------------------------
class Worker:
    """Runs every queued job to its end, in the caller's thread, through an in-process broker and one
    worker thread: the same actors and claims as `sachnoi worker` (tests, the on-demand job thread)."""

    def __init__(self, ctx: Context, *, owner: str | None = None, lease_s: float | None = None,
                 poll_s: float = 1.0, log: Callable[[str], None] | None = None):
        self.ctx = ctx
        self.runner = Runner(ctx, owner=owner, lease_s=lease_s, log=log)
        self.owner, self.lease_s, self.poll_s = self.runner.owner, self.runner.lease_s, poll_s
        self.broker: Broker | None = None
        self.reconciler: Reconciler | None = None

    def _start(self) -> tuple[Broker, Reconciler]:
        broker = Broker("", time_limit_s=self.ctx.settings.job_time_limit_s, on_job=self.runner.run_job,
                        on_part=self.runner.run_part)
        reconciler = Reconciler(self.ctx, broker, log=self.runner.log)
        self.runner.send_due = reconciler.send_due
        broker.start(QUEUES, 1, poll_ms=50, name="sachnoi-job-thread")
        return broker, reconciler

    def run_once(self) -> bool:
        """Send what is due and run until nothing is; False when there was nothing to do."""
        if self.broker is None or self.reconciler is None:
            self.broker, self.reconciler = self._start()
        ran = False
        while self.reconciler.send_due():
            ran = True
            self.broker.join()
        return ran

    def close(self) -> None:
        if self.broker is not None:
            self.broker.close()
            self.broker = self.reconciler = None


def sweep_temporaries(ctx: Context, log: Callable[[str], None] = lambda _msg: None) -> int:
    """Remove temporaries that a killed worker or server left in the store (recordings.temporaries);
    `TMP_SWEEP_AGE_S` spares those of writers still at work in other processes."""
    removed = sweep(ctx.store.root, older_than_s=ctx.settings.tmp_sweep_age_s)
    if removed:
        log(f"Đã xoá {len(removed)} tệp tạm bị bỏ lại (removed {len(removed)} abandoned temporaries)")
    return len(removed)


class WorkerPool:
    """What `sachnoi serve` and `sachnoi worker` run: the broker (`BROKER_URL`; "" = in this process)
    with `workers` threads on `queues`, the reconciler, and the sweep of abandoned temporaries (at
    start, then every TMP_SWEEP_EVERY_S)."""

    def __init__(self, ctx: Context, workers: int | None = None, *, queues: tuple[str, ...] = QUEUES,
                 broker_url: str = "", lease_s: float | None = None, poll_s: float = 1.0,
                 log: Callable[[str], None] | None = None):
        self.ctx = ctx
        self.log = log or (lambda _msg: None)
        self.count = int(workers or ctx.settings.workers)
        self.queues = queues
        self.poll_s = poll_s
        self.stop_event = threading.Event()
        self.runner = Runner(ctx, lease_s=lease_s, log=self.log)
        self.broker = Broker(broker_url, time_limit_s=ctx.settings.job_time_limit_s,
                             on_job=self.runner.run_job, on_part=self.runner.run_part)
        self.reconciler = Reconciler(ctx, self.broker, log=self.log)
        self.runner.send_due = self.reconciler.send_due

    def start(self) -> "WorkerPool":
        sweep_temporaries(self.ctx, self.log)  # before any job of ours writes a new one
        self.broker.start(self.queues, self.count)
        try:
            self.reconciler.send_due()
        except Exception as exc:  # the database is not there yet: the reconciler's next rounds try again
            self.log(f"Không gửi được việc (reconciler could not send): {exc}")
        threading.Thread(target=self.reconciler.run, args=(self.stop_event, self.poll_s), daemon=True,
                         name="sachnoi-reconciler").start()
        threading.Thread(target=self._sweep_forever, daemon=True, name="sachnoi-tmp-sweep").start()
        return self

    def _sweep_forever(self) -> None:
        while not self.stop_event.wait(self.ctx.settings.tmp_sweep_every_s):
            try:
                sweep_temporaries(self.ctx, self.log)
            except OSError as exc:  # a sweep that fails now can succeed at the next round
                self.log(f"Không dọn được tệp tạm (temporaries sweep failed): {exc}")

    def stop(self, timeout: float | None = None) -> None:
        self.stop_event.set()
        self.broker.stop(timeout if timeout is not None else 5.0)
        self.broker.close()


def wait_idle(ctx: Context, stop: threading.Event, poll_s: float = 1.0) -> None:
    """Return when no job is left queued or running (twice in a row), or `stop` is set."""
    quiet = 0
    while not stop.wait(poll_s):
        quiet = 0 if work_left(ctx) else quiet + 1
        if quiet >= 2:
            return
