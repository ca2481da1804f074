"""The SQLite write gate (catalog.writegate) across real OS processes.

The writers here run with SQLite's busy timeout set to 0, so any writer that meets a locked
database fails at once with "database is locked" instead of sleeping in the busy handler: zero
errors means no writer ever met SQLite's lock, i.e. the gate let exactly one transaction of all
processes in at a time, and let go only after COMMIT. The same run without the gate is the
control: there the writers collide.
"""
from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from catalog.db import make_engine, read_row, write_gate_path
from catalog.writegate import FileGate

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

WRITER = r"""
import json, sys, threading, time
from sqlalchemy import event, text
import catalog.db as cdb
db, proc, start, seconds, threads, gate = sys.argv[1:7]
proc, start, seconds, threads = int(proc), float(start), float(seconds), int(threads)
if gate == "off":
    cdb.write_gate_path = lambda url: None
engine = cdb.make_engine(f"sqlite:///{db}", pool_size=threads, max_overflow=0)

@event.listens_for(engine, "connect")
def _fail_instead_of_waiting(dbapi_conn, _record):
    dbapi_conn.execute("PRAGMA busy_timeout=0")

acked, errors, waits = [], [], []
def work(thread):
    n = 0
    while time.time() < start + seconds:
        n += 1
        began = time.perf_counter()
        try:
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO w(proc, thread, n) VALUES (:p, :t, :n)"),
                             {"p": proc, "t": thread, "n": n})
        except Exception as exc:
            errors.append(str(exc).splitlines()[0][:120])
            continue
        waits.append(time.perf_counter() - began)
        acked.append([thread, n])
time.sleep(max(0.0, start - time.time()))
pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
for t in pool: t.start()
for t in pool: t.join()
print(json.dumps({"acked": acked, "errors": len(errors), "first_error": errors[:1],
                  "max_ms": max(waits, default=0) * 1000}))
"""

HOLDER = r"""
import os, sys, time
from sqlalchemy import text
from catalog.db import make_engine
engine = make_engine(f"sqlite:///{sys.argv[1]}")
conn = engine.connect()
conn.begin()
conn.execute(text("INSERT INTO w(proc, thread, n) VALUES (99, 0, 1)"))
child = 0
if sys.argv[2] == "fork":  # a child forked while the gate is held must not keep it
    child = os.fork()
    if child == 0:
        time.sleep(60)
        os._exit(0)
print("holding", child, flush=True)
time.sleep(60)
"""


def _make_db(path: Path) -> str:
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE w (id INTEGER PRIMARY KEY, proc INT, thread INT, n INT)"))
    engine.dispose()
    return url


def _run_writers(db: Path, *, processes: int, threads: int, seconds: float, gate: str) -> list[dict]:
    start = time.time() + 2.0  # every process has imported SQLAlchemy by then; they start together
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(p), str(start), str(seconds),
                               str(threads), gate], env=ENV, cwd=ROOT, stdout=subprocess.PIPE, text=True)
             for p in range(processes)]
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        results.append(json.loads(out))
    return results


@pytest.mark.slow
def test_writers_of_three_processes_never_meet_sqlites_lock(tmp_path):
    """Writers of several processes sleeping in SQLite's busy handler (the in-process lock only
    queues the writers of one process): with the gate, 3 processes × 4 threads writing for 3 s
    never find the database locked, and every acknowledged row is there."""
    db = tmp_path / "gate.db"
    url = _make_db(db)
    results = _run_writers(db, processes=3, threads=4, seconds=3.0, gate="on")
    errors = sum(r["errors"] for r in results)
    assert errors == 0, [r["first_error"] for r in results]
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = {(p, t, n) for p, t, n in conn.execute(text("SELECT proc, thread, n FROM w"))}
    engine.dispose()
    acked = {(p, t, n) for p, r in enumerate(results) for t, n in r["acked"]}
    assert len(acked) > 100, "too few writes to say anything"
    assert rows == acked  # every acknowledged write is there, and nothing else
    print(f"\n{len(acked)} writes in 3 s by 3 processes; longest write "
          f"{max(r['max_ms'] for r in results):.1f} ms; errors 0")


@pytest.mark.slow
def test_without_the_gate_the_same_writers_collide(tmp_path):
    """The control for the test above: it can fail. Without the gate, writers of different
    processes do meet SQLite's lock (and would sleep in its busy handler)."""
    db = tmp_path / "nogate.db"
    _make_db(db)
    results = _run_writers(db, processes=3, threads=4, seconds=2.0, gate="off")
    assert sum(r["errors"] for r in results) > 0
    assert "database is locked" in next(r["first_error"][0] for r in results if r["first_error"])


def _start_holder(db: Path, mode: str) -> tuple[subprocess.Popen, int]:
    """A process inside a write transaction (holding the gate); with "fork", also its child's pid."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db), mode], env=ENV, cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    word, child = holder.stdout.readline().split()
    assert word == "holding"
    return holder, int(child)


def _gate_is_free(db: Path) -> bool:
    fd = os.open(str(db) + ".writelock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def _write_in_thread(url: str) -> tuple[threading.Thread, dict]:
    done: dict = {}

    def write():
        engine = make_engine(url)
        began = time.monotonic()
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO w(proc, thread, n) VALUES (1, 0, 1)"))
        done["after_s"] = time.monotonic() - began
        engine.dispose()

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread, done


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["plain", "fork"])
def test_kill9_of_the_gate_holder_lets_the_others_write(tmp_path, mode):
    """A writer process killed (-9) inside its transaction, holding the gate, blocking every other
    writer for good: the kernel drops its flock, the waiting writer goes on at once, and the dead
    process's uncommitted row is not there. With "fork" the holder has forked a child that is
    still alive; the child closed its copy of the lock descriptor, so it does not keep the gate."""
    db = tmp_path / "kill.db"
    url = _make_db(db)
    holder, child = _start_holder(db, mode)
    try:
        assert not _gate_is_free(db)
        thread, done = _write_in_thread(url)
        thread.join(1.0)
        assert thread.is_alive(), "the writer should wait while another process holds the gate"
        killed_at = time.monotonic()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        thread.join(10)
        assert not thread.is_alive() and "after_s" in done
        print(f"\nwriter went on {time.monotonic() - killed_at:.3f} s after the kill")
    finally:
        if holder.poll() is None:
            holder.kill()
        if child:
            os.kill(child, signal.SIGKILL)
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT proc FROM w ORDER BY id")).scalars().all() == [1]
    engine.dispose()
    assert _gate_is_free(db)


def test_a_hold_longer_than_the_limit_is_let_go(tmp_path):
    """A stuck transaction holding the gate forever would block every writer of every process
    forever (a blocking flock has no timeout): the watchdog lets go of a hold older than its
    limit, so the others reach SQLite, whose busy timeout then decides as it would without a gate."""
    path = str(tmp_path / "stuck.db.writelock")
    stuck, other = FileGate(path, hold_limit_s=0.5), FileGate(path, hold_limit_s=60)
    stuck.acquire()
    got = threading.Event()
    threading.Thread(target=lambda: (other.acquire(), got.set()), daemon=True).start()
    assert not got.wait(0.3)
    assert got.wait(10), "the watchdog did not let go of the stuck hold"
    assert not stuck.held and other.held


def test_gate_path_next_to_the_database_and_none_in_memory(tmp_path):
    assert write_gate_path(f"sqlite:///{tmp_path}/x.db") == f"{tmp_path}/x.db.writelock"
    assert write_gate_path("sqlite://") is None
    assert write_gate_path("sqlite:///:memory:") is None
    assert write_gate_path("sqlite:///file:m1?mode=memory&cache=shared&uri=true") is None
    engine = make_engine("sqlite://")
    with engine.begin() as conn:  # in-memory databases write without a gate (and without a file)
        conn.execute(text("CREATE TABLE t (x INT)"))
    engine.dispose()


def test_read_row_neither_waits_for_nor_blocks_a_writer(tmp_path):
    """catalog.db.read_row (every request's user load) opens no transaction on SQLite: it reads
    while another connection holds the write lock and the gate, and leaves its connection in
    autocommit, so nothing it did is held past the statement."""
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}", pool_size=2, max_overflow=0)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INT)"))
        conn.execute(text("INSERT INTO t VALUES (7)"))
    with engine.begin() as writer:  # holds BEGIN IMMEDIATE and the gate for the whole block
        writer.execute(text("INSERT INTO t VALUES (8)"))
        began = time.perf_counter()
        assert read_row(engine, text("SELECT count(*), max(x) FROM t"), {}) == (1, 7)  # the committed state
        assert time.perf_counter() - began < 1.0
        with engine.connect() as other:
            assert other.connection.driver_connection.in_transaction is False
    assert read_row(engine, text("SELECT max(x) FROM t WHERE x > :n"), {"n": 7}) == (8,)
    assert read_row(engine, text("SELECT x FROM t WHERE x > :n"), {"n": 99}) is None
    engine.dispose()
