"""Runs jobs: one `Worker` claims a job row, runs its handler, writes the outcome back.

`WorkerPool` runs N workers as threads inside one process (the embedded default; `sachnoi serve`
with RUN_WORKERS, or `sachnoi worker` in the foreground). A background heartbeat extends the
lease and copies the latest progress to the row every `lease_s / 3` seconds (at most 1 s), so
the staff page sees progress and a dead worker's job is claimed again once its lease expires.

Job kinds:
    produce   payload {"start": stage, "stop": stage|None, "decisions": {...}}: run the pipeline.
              A retried job starts again at the stage it was in (every stage is idempotent).
    clip      payload {"clip_id": int}: render a promotion clip (`studio.clips.render_clip`).
    align     payload {}: align the book's newest manuscript to its chapters (`studio.manuscripts.align_book`).
    talking_book  payload {"kinds": ["epub3", "daisy202"]}: write the book's EPUB 3 Media Overlays
              and DAISY 2.02 talking books (`studio.talking_books.build_talking_books`).
"""
from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from typing import Any, Callable

import soundfile as sf

from catalog.manuscripts import current
from catalog.models import Book
from catalog.talking_books import KINDS
from recordings.disk import DISK_FULL_MESSAGE, free_bytes, is_disk_full
from recordings.temporaries import sweep_temporaries as sweep
from studio import jobs
from studio.clips import render_clip
from studio.context import Context, Decisions
from studio.errors import N_, QCRejected
from studio.manuscript_formats import ManuscriptError
from studio.manuscripts import align_book
from studio.pipeline import STAGES, run_stages
from studio.talking_books import build_talking_books


class LeaseLost(Exception):
    """Another worker owns this job now; stop without writing an outcome."""


class JobRun:
    """Handed to a handler: the claimed job and a `report(stage, fraction)` for progress."""

    def __init__(self, job: jobs.ClaimedJob):
        self.job = job
        self.stage = job.stage
        self.percent = 0.0
        self.message: str | None = None
        self.lost = False
        self.lock = threading.Lock()

    def report(self, stage: str, percent: float, message: str | None = None) -> None:
        if self.lost:
            raise LeaseLost(f"job {self.job.id}")
        with self.lock:
            self.stage, self.percent = stage, percent
            if message is not None:
                self.message = message


# -- handlers -------------------------------------------------------------------------------------
def run_produce(ctx: Context, run: JobRun) -> dict[str, Any]:
    payload = run.job.payload
    names = [s.name for s in STAGES]
    labels = {s.name: s.label_vi for s in STAGES}
    start = payload.get("start", "mark")
    if run.job.stage in names and names.index(run.job.stage) > names.index(start):
        start = run.job.stage  # resume where the last attempt was: earlier stages are done
    stop = payload.get("stop") or names[-1]
    first, last = names.index(payload.get("start", "mark")), names.index(stop)
    count = last - first + 1

    def progress(stage: str, fraction: float) -> None:
        index = names.index(stage) - first
        run.report(stage, 100.0 * (index + min(1.0, fraction)) / count, labels[stage])

    decisions = Decisions(**payload.get("decisions", {}))
    if run.job.book_id is None:
        raise ValueError(f"produce job {run.job.id} names no book")
    run_stages(ctx, run.job.book_id, decisions, progress, start=start, stop=stop)
    return {"book_id": run.job.book_id, "stages": names[first:last + 1]}


def run_clip(ctx: Context, run: JobRun) -> dict[str, Any]:
    """payload {"clip_id": int}: render a promotion clip (MP3 and its videos: H.264 encodes that
    must not run inside a web request)."""
    run.report("clip", 0.0, "Đang dựng đoạn giới thiệu (rendering the clip)")
    result = render_clip(ctx, int(run.job.payload["clip_id"]))
    return {"clip_id": int(run.job.payload["clip_id"]), "mp3_key": result.mp3_key, "mp4_key": result.mp4_key}


def run_align(ctx: Context, run: JobRun) -> dict[str, Any]:
    """Align the manuscript to the audio and find skipped, repeated and doubtful sentences."""
    label = "Căn chỉnh văn bản với âm thanh (aligning the manuscript)"
    run.report("align", 0.0, label)
    if run.job.book_id is None:
        raise ValueError(f"align job {run.job.id} names no book")
    summary = align_book(ctx, run.job.book_id, progress=lambda f: run.report("align", 100.0 * f, label))
    return {"book_id": run.job.book_id, **summary}


def run_talking_book(ctx: Context, run: JobRun) -> dict[str, Any]:
    label = "Đang tạo sách nói EPUB 3 và DAISY (writing the talking books)"
    run.report("talking_book", 0.0, label)
    kinds = tuple(run.job.payload.get("kinds") or KINDS)
    if run.job.book_id is None:
        raise ValueError(f"talking-book job {run.job.id} names no book")
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
    text = jobs.format_exception(exc)
    floor = ctx.settings.disk_full_floor_mb * 1e6
    if is_disk_full(exc) or (isinstance(exc, (OSError, sf.LibsndfileError)) and free_bytes(ctx.store.root) < floor):
        return f"{DISK_FULL_MESSAGE}. {text}"
    return text


# -- the worker -------------------------------------------------------------------------------------
class Worker:
    def __init__(self, ctx: Context, *, owner: str | None = None, lease_s: float | None = None,
                 poll_s: float = 1.0, log: Callable[[str], None] | None = None):
        self.ctx = ctx
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease_s = float(lease_s or ctx.settings.job_lease_s)
        self.poll_s = poll_s
        self.log = log or (lambda _msg: None)

    def run_once(self) -> bool:
        """Claim and run one job; False when there was nothing to do."""
        job = jobs.claim(self.ctx.sessions, self.owner, lease_s=self.lease_s, kinds=tuple(HANDLERS))
        if job is None:
            return False
        self.log(f"Nhận việc #{job.id} ({job.kind}, lần {job.attempts}/{job.max_attempts})")
        run = JobRun(job)
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(run, stop), daemon=True)
        beat.start()
        try:
            result = HANDLERS[job.kind](self.ctx, run)
        except LeaseLost:
            self.log(f"Việc #{job.id}: mất quyền giữ, bỏ (lease lost)")
            return True
        except Exception as exc:  # any failure is recorded on the row; the worker carries on
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
            return True
        finally:
            stop.set()
        beat.join()
        self._write(run)
        # a job done with a caveat (talking books missing text) says so on the jobs page
        jobs.complete(self.ctx.sessions, job.id, self.owner, result, message=str(result.get("message") or ""))
        self.log(f"Việc #{job.id} xong (done)")
        return True

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

    def run_forever(self, stop: threading.Event, *, exit_when_idle: bool = False) -> None:
        while not stop.is_set():
            try:
                busy = self.run_once()
            except Exception as exc:  # keep the worker alive through database hiccups
                self.log(f"Lỗi worker (worker error): {exc}")
                busy = False
            if not busy:
                if exit_when_idle:
                    return
                stop.wait(self.poll_s)


def sweep_temporaries(ctx: Context, log: Callable[[str], None] = lambda _msg: None) -> int:
    """Remove temporaries that a killed worker or server left in the store (recordings.temporaries);
    `TMP_SWEEP_AGE_S` spares those of writers still at work in other processes."""
    removed = sweep(ctx.store.root, older_than_s=ctx.settings.tmp_sweep_age_s)
    if removed:
        log(f"Đã xoá {len(removed)} tệp tạm bị bỏ lại (removed {len(removed)} abandoned temporaries)")
    return len(removed)


class WorkerPool:
    """N workers as daemon threads in this process, and the sweep of abandoned temporaries (at
    start, then every TMP_SWEEP_EVERY_S)."""

    def __init__(self, ctx: Context, workers: int | None = None, **kwargs):
        self.ctx = ctx
        self.log = kwargs.get("log") or (lambda _msg: None)
        self.stop_event = threading.Event()
        count = int(workers or ctx.settings.workers)
        self.workers = [Worker(ctx, **kwargs) for _ in range(count)]
        self.threads = [threading.Thread(target=w.run_forever, args=(self.stop_event,), daemon=True,
                                         name=f"sachnoi-worker-{i}") for i, w in enumerate(self.workers)]

    def start(self) -> "WorkerPool":
        sweep_temporaries(self.ctx, self.log)  # before any job of ours writes a new one
        for thread in self.threads:
            thread.start()
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
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self.threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
