"""A write gate shared by every process that writes one SQLite file: `flock` on `<db>.writelock`.

SQLite lets one writer in at a time; a writer that finds the database locked sleeps in SQLite's
busy handler (1, 2, 5, 10 … 100 ms between retries) even when the lock is freed a moment later.
`catalog.db` queues the writers of one process on a threading lock; this gate queues the writers
of different processes (several web processes, the job worker process, the CLI) on an exclusive
`flock`. The waiting thread sleeps in the kernel (without the GIL) and is woken the moment the
holder lets go; the kernel also lets go for a holder that dies (kill -9 included).

A blocking `flock` has no timeout, so the wait is bounded from the holder's side instead: a
watchdog thread (one per process, waking once a second) lets go of any gate this process has
held for longer than `hold_limit_s`. The gate only spares writers SQLite's sleeps; SQLite's own
lock still keeps transactions apart, so a writer let in past a stuck transaction waits in
SQLite's busy handler and fails with "database is locked" after the busy timeout, as it would
without the gate. (Polling with LOCK_NB, and a helper thread making the blocking call for a
caller waiting with a deadline, were measured too: a poll wakes late and loses the race to the
holder's next writer, a hand-over costs GIL switches; p99 up to twice that of the direct call.)

flock locks belong to an open file description, so each gate opens its own descriptor (two
engines of one process on the same file then exclude each other as well), and a forked child
closes the descriptors it inherited instead of sharing its parent's lock.
"""
from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
import weakref

log = logging.getLogger(__name__)
WATCH_INTERVAL_S = 1.0

_GATES: "weakref.WeakSet[FileGate]" = weakref.WeakSet()
_registry = threading.Lock()
_watchdog_pid: int | None = None


class FileGate:
    """Exclusive, cross-process gate on the lock file `path` (created when missing)."""

    def __init__(self, path: str, hold_limit_s: float):
        self.path = path
        self.hold_limit_s = hold_limit_s
        self._reset()
        with _registry:
            _GATES.add(self)

    def _reset(self) -> None:
        self._mutex = threading.Lock()  # guards _held/_since against the watchdog
        self._fd: int | None = None
        self._closer: weakref.finalize | None = None
        self._held = 0                  # number of the current hold, 0 when not held
        self._holds = 0
        self._since = 0.0               # time.monotonic() when the current hold began

    def acquire(self) -> int:
        """Wait for the gate; returns the hold's number, for `release`."""
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fcntl.flock(fd, fcntl.LOCK_EX)  # sleeps until the holder lets go, dies or is let go
        with self._mutex:
            self._holds += 1
            self._held, self._since = self._holds, time.monotonic()
        _ensure_watchdog()
        return self._held

    def release(self, hold: int) -> None:
        """Let go of hold number `hold` (nothing happens if the watchdog already did)."""
        with self._mutex:
            if self._held == hold and self._fd is not None:
                self._held = 0
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    @property
    def held(self) -> bool:
        return bool(self._held)

    def _open(self) -> int:
        if self._fd is None:
            with self._mutex:
                if self._fd is None:
                    fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
                    self._closer = weakref.finalize(self, os.close, fd)
                    self._fd = fd
        return self._fd

    def _let_go_if_overdue(self, now: float) -> None:
        with self._mutex:
            if self._held and self._fd is not None and now - self._since > self.hold_limit_s:
                log.warning("SQLite write gate %s held for %.0f s by one transaction of process %d; "
                            "letting go so other writers reach SQLite's busy timeout",
                            self.path, now - self._since, os.getpid())
                self._held = 0
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _after_fork_in_child(self) -> None:
        # The inherited descriptor shares the parent's lock: close it and start afresh.
        if self._closer is not None:
            self._closer()
        self._reset()


def _ensure_watchdog() -> None:
    global _watchdog_pid
    if _watchdog_pid == os.getpid():
        return
    with _registry:
        if _watchdog_pid != os.getpid():
            _watchdog_pid = os.getpid()
            threading.Thread(target=_watch, daemon=True, name="sqlite-write-gate-watchdog").start()


def _watch() -> None:
    while True:
        time.sleep(WATCH_INTERVAL_S)
        with _registry:
            gates = list(_GATES)
        now = time.monotonic()
        for gate in gates:
            gate._let_go_if_overdue(now)


def _after_fork_in_child() -> None:
    global _watchdog_pid, _registry
    _registry = threading.Lock()
    _watchdog_pid = None  # the watchdog thread did not survive the fork
    for gate in list(_GATES):
        gate._after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)
