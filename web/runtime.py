"""The one place that builds what runs the studio: the `studio.context.Context` (database
sessions, media store, settings) for the CLI, for a request and for the job process, the
background work beside a server (the job worker pool and the hot folder), and `run_jobs_soon`,
which runs queued jobs in an on-demand thread when no worker runs for this app.

The CLI modules, `web.serve` and the views import from here; nothing here imports them, so the
web modules form no import circle (tests/foundation/test_layers.py checks it).
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click
from flask import current_app

from catalog.db import make_engine, make_sessionmaker
from catalog.migrate import upgrade
from studio.context import Context, Decisions, StudioSettings
from web.config import load_settings
from web.extensions import services, store_from_settings

if TYPE_CHECKING:
    from studio.worker import Worker

log = logging.getLogger(__name__)


def make_context(settings: dict | None = None) -> Context:
    """A studio Context from the settings (default: `load_settings()`), migrations applied."""
    settings = settings or load_settings()
    Path(settings["HOME"]).mkdir(parents=True, exist_ok=True)
    upgrade(settings["DATABASE_URL"])
    engine = make_engine(settings["DATABASE_URL"])
    return Context(sessions=make_sessionmaker(engine), store=store_from_settings(settings),
                   settings=StudioSettings.from_mapping(settings))


def app_context() -> Context:
    """The studio Context of the running Flask app (its engine and store; inside a request or app context)."""
    svc = services()
    return Context(sessions=svc.sessions, store=svc.store, settings=StudioSettings.from_mapping(current_app.config))


class BackgroundWork:
    """What `start_background_work` started: `workers_running`, and `stop()` for a clean exit."""

    def __init__(self, pool=None, folder_stop=None):
        self.pool, self.folder_stop = pool, folder_stop
        self.workers_running = pool is not None

    def stop(self, timeout_s: float = 5.0) -> None:
        """Let the workers finish between jobs (a job still running is retried after its lease)."""
        if self.folder_stop is not None:
            self.folder_stop.set()
        if self.pool is not None:
            self.pool.stop(timeout=timeout_s)


def serving_workers(settings: dict, cores: int | None = None) -> int:
    """Job workers, and encodes run side by side, beside a server: WORKERS, but never more than
    JOB_CPUS (0: all cores but one), so that listeners always keep a core.

    Measured (docs/benchmarks.md, "Load"): with two encoders on the 2-core machine, 5 of 6 load runs
    that watched for it had seconds in which nothing but the encoders ran: nginx's file answers,
    the progress writes and an idle thread of the load client were all late together, by up to
    3.7 s, though the encoders were niced (JOB_NICE); progress p99 missed 250 ms in 5 of 16 runs.
    With one, none of 4 runs had a wake-up later than 4 ms, and mastering took ~30 % longer.
    `sachnoi worker` and `ingest` are not limited: no listener waits on them."""
    cores = cores or os.cpu_count() or 1
    limit = int(settings.get("JOB_CPUS") or 0) or max(1, cores - 1)
    return max(1, min(int(settings.get("WORKERS") or 1), limit))


def start_background_work(settings: dict) -> BackgroundWork:
    """With RUN_WORKERS the job worker pool runs inside the server; with WATCH_INBOX the hot folder too.
    Both use at most `serving_workers` cores.

    `workers_running` says whether workers run (then long work from the pages is queued as jobs)."""
    if not (settings.get("RUN_WORKERS") or settings.get("WATCH_INBOX")):
        return BackgroundWork()
    # imported when background work starts: the hot folder and the workers pull in the whole
    # pipeline (scipy.signal, ~2 s at import), which `sachnoi db upgrade` and friends do not need
    from studio.watch import HotFolder
    from studio.worker import WorkerPool
    settings = {**settings, "WORKERS": serving_workers(settings)}
    ctx = make_context(settings)
    pool = folder_stop = None
    if settings.get("RUN_WORKERS"):
        pool = WorkerPool(ctx, broker_url=settings.get("BROKER_URL") or "", log=click.echo).start()
        click.echo(f"Bộ xử lý công việc: {settings.get('WORKERS')} luồng (job workers started)")
    if settings.get("WATCH_INBOX"):
        folder = HotFolder(ctx, Path(settings["INBOX"]), decisions=Decisions(approve_marks=False),
                           log=click.echo)
        folder_stop = threading.Event()
        threading.Thread(target=folder.run, args=(folder_stop,), daemon=True, name="hot-folder").start()
        click.echo(f"Thư mục nhận: {settings['INBOX']} (watching the hot folder)")
    return BackgroundWork(pool, folder_stop)


class JobThread:
    """One on-demand worker thread for an app that runs no worker pool and has no worker process
    (a bare `create_app`, tests, `serve` with RUN_WORKERS=false): started by the first `kick()`,
    it runs queued jobs one at a time and ends when the queue is empty; the next `kick()` starts
    it again. One thread, not a pool: work from the pages still never runs in a request, and the
    listeners keep the other core. A kick that arrives while the thread is finishing is not lost:
    the thread looks at the queue again before it ends."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.pending = False
        self.worker: Worker | None = None
        self.idle = threading.Event()
        self.idle.set()

    def kick(self) -> None:
        """Make sure queued jobs get run soon (returns at once)."""
        with self.lock:
            self.pending = True
            if self.thread is None:
                self.idle.clear()
                self.thread = threading.Thread(target=self._run, daemon=True, name="sachnoi-job-thread")
                self.thread.start()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the queue was found empty (True), or `timeout_s` passed (False). For tests and the CLI."""
        return self.idle.wait(timeout_s)

    def _run(self) -> None:
        if self.worker is None:  # one in-process broker for the app's life (its threads sleep between runs)
            # imported in the job thread: the worker pulls in the whole pipeline (scipy.signal, ~2 s)
            from studio.worker import Worker
            self.worker = Worker(self.ctx)
        worker = self.worker
        while True:
            with self.lock:
                self.pending = False
            try:
                while worker.run_once():
                    pass
            except Exception:  # a database hiccup: the job's lease runs out and the next kick claims it again
                log.exception("on-demand job thread: claiming or recording a job failed")
            with self.lock:
                if not self.pending:
                    self.thread = None
                    self.idle.set()
                    return


def job_thread() -> JobThread:
    """The running app's on-demand job thread (made on first use)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with _JOB_THREAD_LOCK:
        if "sachnoi_job_thread" not in app.extensions:
            app.extensions["sachnoi_job_thread"] = JobThread(app_context())
        return app.extensions["sachnoi_job_thread"]


_JOB_THREAD_LOCK = threading.Lock()


def run_jobs_soon() -> None:
    """After a page queued a job: when workers run (`JOB_WORKERS_RUNNING`, set by `sachnoi serve`)
    they claim it; otherwise this app's on-demand `JobThread` runs it. Never blocks the request."""
    if not current_app.config.get("JOB_WORKERS_RUNNING"):
        job_thread().kick()


def wait_for_jobs(app, timeout_s: float | None = None) -> bool:
    """Block until `app`'s on-demand job thread found the queue empty (True at once when it never
    started); False when `timeout_s` passed first. For tests, and a clean exit."""
    thread = app.extensions.get("sachnoi_job_thread")
    return thread is None or thread.wait(timeout_s)
