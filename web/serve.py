"""`sachnoi serve`: one process under waitress with slow-client guards (`serve_single`), or,
with `--processes N` > 1, N web processes on one port and the job workers once.

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
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer
from waitress.task import WSGITask
from waitress.utilities import RequestEntityTooLarge

from web.config import load_settings

GRACEFUL_STOP_S = 30        # in-flight requests get this long after SIGTERM
PARENT_POLL_S = 1.0
PARENT_ENV = "_SACHNOI_SERVE_PID"  # not SACHNOI_*: that would become a setting


def serve_processes(settings: dict, *, host: str, port: int, processes: int, threads: int,
                    log=print) -> None:
    """Run `processes` web processes with `threads` threads each, and the job process; blocks
    until SIGTERM/SIGINT, then lets in-flight requests finish and stops the job process."""
    # granian runs only with `--processes N`: a one-process server never loads it
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
    # built in each web process, after the parent check; the parent process never loads the app
    from web.app import create_app
    return create_app()


def job_process_main() -> None:
    """The job process: the worker pool (RUN_WORKERS) and hot folder (WATCH_INBOX), as `serve`
    runs them in-process with one process, until SIGTERM/SIGINT or until the server is gone."""
    # the job process loads the studio, the web processes do not
    from web.runtime import start_background_work
    _exit_with_parent(int(os.environ[PARENT_ENV]))
    settings = load_settings()
    # Mastering and encoding (and the ffmpeg children, which inherit it) yield the CPU to the web
    # processes: a listener's request should not wait behind a background job.
    os.nice(int(settings["JOB_NICE"]))
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


# -- one process: waitress, guarded against slow clients ------------------------------------------
# waitress reads every request (line, headers and body) in its one event loop before a thread
# runs the app, and holds each open connection until `channel_timeout` of silence. A client that
# sends one header byte every 10 s is never silent for long, so ~950 such sockets from one
# address filled `connection_limit` and /healthz waited behind them. The guards below are what
# nginx's client_header_timeout, client_body_timeout and limit_conn do, at the socket:
#   header deadline  a request's line and headers arrive within HEADER_TIMEOUT_S of its first byte
#   body rate        a body keeps BODY_MIN_RATE_KBS on average after BODY_GRACE_S (a slow rural
#                    upload passes; one byte every 10 s does not)
#   per address      WEB_CONNECTIONS_PER_ADDRESS open connections per client address (off behind a
#                    trusted proxy, where every connection comes from the proxy)
#   body size        MAX_REQUEST_MB for every route but the upload routes (MAX_UPLOAD_MB),
#                    refused from the headers, before the body is read or spooled to disk
# and a tus PATCH cut off mid-body still reaches the app with the bytes that arrived, so the
# upload keeps them (tus core: the server keeps what it received; issue 17.8).
UPLOAD_BODY_ROUTES = (re.compile(r"^/api/uploads/[0-9a-f]{32}$"),                  # tus PATCH
                      re.compile(r"^/studio/sessions/\d+/takes$"),                 # form upload
                      re.compile(r"^/studio/books/\d+/sessions$"))                 # no-JS form upload
TUS_PATCH = UPLOAD_BODY_ROUTES[0]
MAINTENANCE_EVERY_S = 1


@dataclass(frozen=True)
class SlowClientLimits:
    header_timeout_s: float
    body_grace_s: float
    body_min_rate_bps: float       # bytes per second
    per_address: int               # 0: no limit
    max_request_bytes: int         # every route but UPLOAD_BODY_ROUTES
    max_upload_bytes: int

    @classmethod
    def from_settings(cls, settings: dict, *, behind_proxy: bool) -> SlowClientLimits:
        return cls(header_timeout_s=float(settings["HEADER_TIMEOUT_S"]),
                   body_grace_s=float(settings["BODY_GRACE_S"]),
                   body_min_rate_bps=float(settings["BODY_MIN_RATE_KBS"]) * 1000,
                   per_address=0 if behind_proxy else int(settings["WEB_CONNECTIONS_PER_ADDRESS"]),
                   max_request_bytes=int(float(settings["MAX_REQUEST_MB"]) * 1e6),
                   # + multipart framing around a file of MAX_UPLOAD_MB
                   max_upload_bytes=int(float(settings["MAX_UPLOAD_MB"]) * 1e6) + (1 << 20))


def serve_single(app, settings: dict, *, host: str, port: int, threads: int, behind_proxy: bool) -> None:
    """waitress with the slow-client guards, until Ctrl+C/SIGTERM."""
    limits = SlowClientLimits.from_settings(settings, behind_proxy=behind_proxy)
    server = guarded_server(app, limits, host=host, port=port, threads=threads, ident="sachnoi",
                            # waitress's own ceiling (1 GB by default) for every route; ours is per route
                            max_request_body_size=limits.max_upload_bytes + 1,
                            # waitress's default of 100 leaves the 101st listener in the backlog;
                            # its select() loop stops at descriptor 1 024, so stay below that
                            connection_limit=int(settings["WEB_CONNECTIONS"]),
                            # X-Forwarded-* reach web.security's ProxyFix only behind a trusted proxy
                            clear_untrusted_proxy_headers=not behind_proxy)
    server.run()


def guarded_server(app, limits: SlowClientLimits, **adjustments):
    """A waitress server (not started) with the guards above; `adjustments` are waitress's own."""

    class Parser(HTTPRequestParser):
        """Refuses a body past its route's limit as soon as the headers (or a chunk) say so."""

        def received(self, data):
            consumed = super().received(data)
            if self.headers_finished and not self.error:
                allowed = (limits.max_upload_bytes if any(r.match(self.path or "") for r in UPLOAD_BODY_ROUTES)
                           else limits.max_request_bytes)
                if max(self.content_length, self.body_bytes_received) > allowed:
                    self.error = RequestEntityTooLarge(f"request body larger than {allowed} bytes")
                    self.completed = True
            return consumed

    class Channel(HTTPChannel):
        parser_class = Parser
        reading_since = 0.0      # when the request being read got its first byte
        body_since = 0.0         # when its headers were complete

        def received(self, data):
            before = self.request
            result = super().received(data)
            now = time.monotonic()
            if self.request is not None and self.request is not before:
                self.reading_since, self.body_since = now, 0.0
            if self.request is not None and self.request.headers_finished and not self.body_since:
                self.body_since = now
            return result

        def too_slow(self, now: float) -> bool:
            request = self.request
            if request is None or request.completed:
                return False
            if not request.headers_finished:
                return now - self.reading_since > limits.header_timeout_s
            allowed_s = limits.body_grace_s + request.body_bytes_received / limits.body_min_rate_bps
            return now - self.body_since > allowed_s

        def handle_close(self):
            request, self.request = self.request, None
            if (request is not None and request.headers_finished and not request.completed
                    and request.command == "PATCH" and TUS_PATCH.match(request.path or "")
                    and request.body_bytes_received > 0):
                self.server.add_task(_KeepReceived(self, request))
            elif request is not None:
                request.close()
            super().handle_close()

    class Server(TcpWSGIServer):
        channel_class = Channel

        def maintenance(self, now):
            super().maintenance(now)
            mono = time.monotonic()
            for channel in list(self.active_channels.values()):
                if channel.too_slow(mono):
                    channel.will_close = True

        def readable(self):
            # waitress runs maintenance every cleanup_interval (30 s by default): check each second
            self.next_channel_cleanup = min(self.next_channel_cleanup, time.time() + MAINTENANCE_EVERY_S)
            return super().readable()

        def handle_accept(self):
            try:
                accepted = self.accept()
            except OSError:
                return
            if accepted is None:
                return
            conn, addr = accepted
            if limits.per_address and sum(1 for c in self.active_channels.values()
                                          if c.addr and c.addr[0] == addr[0]) >= limits.per_address:
                conn.close()  # this address holds its share already; the others stay served
                return
            try:
                self.set_socket_options(conn)
            except OSError:
                conn.close()
                return
            self.channel_class(self, conn, self.fix_addr(addr), self.adj, map=self._map)

    return Server(app, **adjustments)


class _KeepReceived:
    """A waitress task: hand a tus PATCH whose connection dropped mid-body to the app with the
    bytes that did arrive (their count as its Content-Length), so the upload keeps them and a
    HEAD reports that offset. The response has nowhere to go and is dropped."""

    def __init__(self, channel, request):
        self.channel, self.request = channel, request

    def service(self) -> None:
        request = self.request
        try:
            request.headers["CONTENT_LENGTH"] = str(request.body_bytes_received)
            environ = WSGITask(self.channel, request).get_environment()
            result = self.channel.server.application(environ, lambda status, headers, exc_info=None: None)
            try:
                for _chunk in result:
                    pass
            finally:
                getattr(result, "close", lambda: None)()
        finally:
            request.close()

    def cancel(self) -> None:
        self.request.close()

    def defer(self) -> None:
        pass
