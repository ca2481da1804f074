"""`sachnoi serve --processes N` with N > 1: N web processes on one port, the job workers once.

The site is Python, so one process uses one core at a time (the GIL). Several processes share
one listening socket, run by granian; the layout is

    parent   migrations, then the job worker pool and the hot folder (what `serve` runs in-process
             with one process), then granian's supervisor: it starts the web processes, restarts
             one that crashes, and on SIGTERM/SIGINT lets every in-flight request finish
    N × web  `create_app()` only, never the workers; `JOB_WORKERS_RUNNING` reaches them as
             SACHNOI_JOB_WORKERS_RUNNING, so an approval in any of them queues a job

The web processes are spawned (a fresh interpreter), not forked, because the parent already runs
worker threads. Each one exits when the parent disappears (kill -9), so none is left holding
the port. Writers of all processes queue on one SQLite write gate (catalog.writegate).

Why granian (figures in docs/benchmarks.md, "Web server"): its HTTP layer is Rust and runs
outside the GIL, so per request it leaves the most CPU to the app (trivial Flask route on this
2-core machine: 0.09 ms of CPU against 0.21 ms under waitress and 0.32 ms under gunicorn's
gthread worker). It keeps what the app relies on: request bodies are streamed to the app (tus
PATCH chunks are not spooled first, as waitress does), file responses are sent by iterating the
file (Flask's fallback without wsgi.file_wrapper), REMOTE_ADDR is the socket peer and
X-Forwarded-* reach the app untouched, so `web.security`'s ProxyFix (TRUST_PROXY) stays the one
place that trusts a proxy, and SIGTERM is a graceful stop. gunicorn also streams and has
sendfile, but spent the most CPU per request of the three.
"""
from __future__ import annotations

import multiprocessing
import os
import threading
import time

GRACEFUL_STOP_S = 30        # in-flight requests get this long after SIGTERM
PARENT_POLL_S = 1.0
PARENT_ENV = "_SACHNOI_SERVE_PID"  # not SACHNOI_*: that would become a setting


def serve_processes(settings: dict, *, host: str, port: int, processes: int, threads: int,
                    start_background_work, log=print) -> None:
    """Run `processes` web processes with `threads` threads each; blocks until SIGTERM/SIGINT.

    `start_background_work(settings)` starts the job workers here, in the parent, and returns
    whether they run (then the web processes queue long work as jobs)."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.log import LogLevels
    work = start_background_work(settings)
    os.environ["SACHNOI_JOB_WORKERS_RUNNING"] = "true" if work.workers_running else "false"
    os.environ[PARENT_ENV] = str(os.getpid())
    multiprocessing.set_start_method("spawn", force=True)  # granian reads it when it starts a worker
    server = Granian("web.serve:web_process_app", factory=True, interface=Interfaces.WSGI,
                     address=host, port=port, workers=processes, blocking_threads=threads,
                     backlog=2048, backpressure=1024, http=HTTPModes.http1, websockets=False,
                     respawn_failed_workers=True, workers_kill_timeout=GRACEFUL_STOP_S,
                     log_level=LogLevels.warning)
    log(f"Sách Nói: http://{host}:{port}/  ({processes} tiến trình web × {threads} luồng; "
        f"{processes} web processes × {threads} threads; Ctrl+C để dừng)")
    try:
        server.serve()
    finally:
        work.stop()


def web_process_app():
    """The WSGI app of one web process; granian calls this in each process it starts."""
    _exit_with_parent(int(os.environ.get(PARENT_ENV) or os.getppid()))
    from web.app import create_app
    return create_app()


def _exit_with_parent(parent: int) -> None:
    """Exit when `parent` is no longer our parent (passed down by pid: a process started just
    as the server died would otherwise take init for its parent and never notice)."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(1)  # the server was killed: don't keep answering on its port on our own

    threading.Thread(target=watch, daemon=True, name="sachnoi-parent-watch").start()
