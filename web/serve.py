"""`sachnoi serve --processes N` with N > 1: N web processes on one port, the job workers once.

The site is Python, so one process uses one core at a time (the GIL). Several processes share
one listening socket, run by granian; the layout is

    parent   migrations, then granian's supervisor: it forks the web processes, starts one again
             if it crashes, and on SIGTERM/SIGINT lets every in-flight request finish
    N × web  `create_app()` only, never the workers; `JOB_WORKERS_RUNNING` reaches them as
             SACHNOI_JOB_WORKERS_RUNNING, so an approval in any of them queues a job
    1 × jobs the job worker pool and the hot folder (what `serve` runs in-process with one
             process), a fresh interpreter started before the web processes, started again
             if it dies; stopped last

The job threads run in their own process, so the parent forks the web processes with no lock of
ours held (catalog.writegate resets its state in a forked child). Every child exits when the
parent disappears (kill -9), so none is left holding the port or claiming jobs.
Writers of all processes queue on one SQLite write gate (catalog.writegate).

Why granian (figures in docs/architecture.md, "Processes"): its HTTP layer is Rust and runs
outside the GIL, so per request it leaves the most CPU to the app (trivial Flask route on this
2-core machine: 0.09–0.10 ms of CPU against 0.14–0.28 ms under waitress and 0.28–0.31 ms under
gunicorn's gthread worker). It keeps what the app relies on: request bodies are streamed to the app (tus
PATCH chunks are not spooled first, as waitress does), file responses are sent by iterating the
file (Flask's fallback without wsgi.file_wrapper), REMOTE_ADDR is the socket peer and
X-Forwarded-* reach the app untouched, so `web.security`'s ProxyFix (TRUST_PROXY) stays the one
place that trusts a proxy, and SIGTERM is a graceful stop. gunicorn also streams and has
sendfile, but spent the most CPU per request of the three.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time

GRACEFUL_STOP_S = 30        # in-flight requests get this long after SIGTERM
PARENT_POLL_S = 1.0
PARENT_ENV = "_SACHNOI_SERVE_PID"  # not SACHNOI_*: that would become a setting


def serve_processes(settings: dict, *, host: str, port: int, processes: int, threads: int,
                    log=print) -> None:
    """Run `processes` web processes with `threads` threads each, and the job process; blocks
    until SIGTERM/SIGINT, then lets in-flight requests finish and stops the job process."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.log import LogLevels
    os.environ[PARENT_ENV] = str(os.getpid())
    os.environ["SACHNOI_JOB_WORKERS_RUNNING"] = "true" if settings.get("RUN_WORKERS") else "false"
    jobs = JobProcess(log) if settings.get("RUN_WORKERS") or settings.get("WATCH_INBOX") else None
    # fork: granian's default on Linux, said explicitly (Python 3.14 would pick another). Under
    # "spawn" a web process runs full interpreter shutdown with granian's threads still alive
    # and aborts with a Rust panic on most stops; a forked one leaves with os._exit.
    multiprocessing.set_start_method("fork", force=True)
    server = Granian("web.serve:web_process_app", factory=True, interface=Interfaces.WSGI,
                     address=host, port=port, workers=processes, blocking_threads=threads,
                     # backpressure counts open connections, idle keep-alive ones included
                     backlog=2048, backpressure=1024, http=HTTPModes.http1, websockets=False,
                     respawn_failed_workers=True, workers_kill_timeout=GRACEFUL_STOP_S,
                     log_level=LogLevels.warning)
    log(f"Sách Nói: http://{host}:{port}/  ({processes} tiến trình web × {threads} luồng; "
        f"{processes} web processes × {threads} threads; Ctrl+C để dừng)")
    try:
        server.serve()
    finally:
        if jobs is not None:
            jobs.stop()


def web_process_app():
    """The WSGI app of one web process; granian calls this in each process it starts."""
    _exit_with_parent(int(os.environ.get(PARENT_ENV) or os.getppid()))
    from web.app import create_app
    return create_app()


def job_process_main() -> None:
    """The job process: the worker pool (RUN_WORKERS) and hot folder (WATCH_INBOX), as `serve`
    runs them in-process with one process, until SIGTERM/SIGINT or until the server is gone."""
    from web.cli_core import start_background_work
    from web.config import load_settings
    _exit_with_parent(int(os.environ[PARENT_ENV]))
    settings = load_settings()
    # Mastering and encoding (and the ffmpeg children, which inherit it) yield the CPU to the web
    # processes: a listener's request should not wait behind a background job.
    os.nice(int(settings.get("JOB_NICE", 10)))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    work = start_background_work(settings)
    while not stop.wait(PARENT_POLL_S):
        pass
    work.stop()


class JobProcess:
    """The job process, started again when it dies (the OOM killer during mastering, a crash):
    the web processes go on queueing jobs and something must run them. At most one start per
    RESTART_EVERY_S, so a process that cannot start does not spin."""

    COMMAND = [sys.executable, "-c", "from web.serve import job_process_main; job_process_main()"]
    RESTART_EVERY_S = 5.0

    def __init__(self, log=print):
        self.log = log
        self.lock = threading.Lock()
        self.stopping = False
        self.started = time.monotonic()
        self.proc = subprocess.Popen(self.COMMAND)
        threading.Thread(target=self._keep, daemon=True, name="sachnoi-job-process").start()

    def _keep(self) -> None:
        while True:
            time.sleep(PARENT_POLL_S)
            with self.lock:
                if self.stopping:
                    return
                code = self.proc.poll()
                if code is None or time.monotonic() - self.started < self.RESTART_EVERY_S:
                    continue
                self.log(f"Tiến trình công việc đã dừng (mã {code}), chạy lại "
                         f"(job process exited with {code}; starting it again)")
                self.started = time.monotonic()
                self.proc = subprocess.Popen(self.COMMAND)

    def stop(self) -> None:
        """SIGTERM, then kill if it has not stopped after GRACEFUL_STOP_S."""
        with self.lock:
            self.stopping = True
            proc = self.proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=GRACEFUL_STOP_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _exit_with_parent(parent: int) -> None:
    """Exit when `parent` is no longer our parent (passed down by pid: a process started just
    as the server died would otherwise take init for its parent and never notice)."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(1)  # the server was killed: don't keep answering on its port on our own

    threading.Thread(target=watch, daemon=True, name="sachnoi-parent-watch").start()
