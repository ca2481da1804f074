"""The database edge: engine creation and sessions.

SQLite is the embedded default (WAL, busy timeout, foreign keys on, set on every
connection); PostgreSQL is reached by giving a `postgresql+psycopg://` URL.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Iterator, cast

from sqlalchemy import create_engine, event
from sqlalchemy.engine import CursorResult, Engine, Result, make_url
from sqlalchemy.orm import Session, sessionmaker

from catalog.writegate import FileGate

SQLITE_BUSY_TIMEOUT_MS = 15_000
_HOLDS_LOCK = "sachnoi_writer_lock"
_HOLDS_GATE = "sachnoi_write_gate"
SQLITE_BEGIN_OPTION = "sqlite_begin"  # execution option: "IMMEDIATE" (default), "DEFERRED" or "NONE"


def normalise_url(url: str) -> str:
    """Accept plain `postgresql://` URLs and route them to the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def make_engine(url: str, **kwargs) -> Engine:
    """An engine for `url`; SQLite connections get WAL, a busy timeout and foreign keys."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - exercised by every test
            # Let SQLAlchemy manage transactions (pysqlite's implicit BEGIN breaks SAVEPOINT use).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        # SQLite's busy handler makes a waiting writer sleep in growing steps (up to 100 ms), so
        # under contention much of a write's latency is sleeping after the lock was already free.
        # Writers of this process queue on a Python lock instead and wake the moment the previous
        # one ends; writers of other processes (web processes, the job worker, the CLI) queue on
        # a flock of `<db>.writelock` (catalog.writegate). In-memory databases need no gate.
        writer_lock = threading.Lock()
        gate_path = write_gate_path(url)
        file_gate = FileGate(gate_path, hold_limit_s=SQLITE_BUSY_TIMEOUT_MS / 1000) if gate_path else None

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # pragma: no cover
            # IMMEDIATE (the default) takes the write lock up front, so two writers queue on
            # busy_timeout instead of failing with "database is locked" when a read upgrades to a
            # write. Read-only work (GET requests) asks for DEFERRED and reads a WAL snapshot
            # without waiting for, or blocking, any writer.
            mode = conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "IMMEDIATE")
            if mode == "NONE":
                return  # autocommit: each statement is its own transaction (catalog.db.read_row)
            if mode == "DEFERRED":
                conn.exec_driver_sql("BEGIN DEFERRED")
                return
            if writer_lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
                conn.info[_HOLDS_LOCK] = writer_lock
                if file_gate is not None:
                    try:
                        conn.info[_HOLDS_GATE] = (file_gate, file_gate.acquire())
                    except BaseException:
                        _release(conn.info)
                        raise
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                _release(conn.info)
                raise

        # The locks are let go only once COMMIT or ROLLBACK has run: SQLAlchemy's "commit",
        # "rollback" and pool "reset" events fire *before* the statement, and the next writer
        # let in then would find SQLite still locked and sleep in its busy handler after all.
        # The pool hands the same dialect object to every path (Connection and pool reset).
        dialect = engine.dialect
        dialect.do_commit = _releasing(dialect.do_commit)  # type: ignore[method-assign]  # wrapped on purpose
        dialect.do_rollback = _releasing(dialect.do_rollback)  # type: ignore[method-assign]

        @event.listens_for(engine.pool, "checkin")
        @event.listens_for(engine.pool, "invalidate")
        def _pool_done(_dbapi_conn, record, *_args):  # pragma: no cover
            # A connection back in the pool, or closed after an error, holds no transaction.
            _release(record.info)

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def write_gate_path(url: str) -> str | None:
    """`<database file>.writelock` for a SQLite file URL; None for in-memory databases."""
    parsed = make_url(normalise_url(url))
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:") or \
            parsed.query.get("mode") == "memory" or "mode=memory" in database:
        return None
    if database.startswith("file:"):
        database = database[len("file:"):].split("?", 1)[0]
    return database + ".writelock"


def _releasing(end):
    """Wrap a dialect's do_commit/do_rollback so the write locks are let go after it ran."""
    def run(dbapi_conn) -> None:
        try:
            end(dbapi_conn)
        finally:
            try:
                info = dbapi_conn.info  # the pool's proxy of the connection; its record's info
            except (AttributeError, NotImplementedError):  # ad-hoc proxy at first connect
                info = None
            if info:
                _release(info)
    return run


def _release(info: dict) -> None:
    held = info.pop(_HOLDS_GATE, None)  # the gate first: the next writer of this process takes it
    if held is not None:
        gate, hold = held
        gate.release(hold)
    lock = info.pop(_HOLDS_LOCK, None)
    if lock is not None:
        lock.release()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def read_only_session(factory: sessionmaker[Session]) -> Session:
    """A session for reading: on SQLite its transaction is DEFERRED (no write lock held)."""
    session = factory()
    session.connection(execution_options={SQLITE_BEGIN_OPTION: "DEFERRED"})
    return session


def read_row(engine: Engine, statement, params: dict):
    """The first row of one read-only statement, or None, without opening a transaction on SQLite.

    A single SELECT is atomic on its own, so the BEGIN/ROLLBACK pair around it is pure cost on a
    path every request takes (web.auth's user load). PostgreSQL runs it in its usual transaction.
    """
    with engine.connect() as conn:
        return conn.execution_options(**{SQLITE_BEGIN_OPTION: "NONE"}).execute(statement, params).first()


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE, DELETE or INSERT changed (SQLAlchemy types `execute()` as a Result; a DML
    statement's is a CursorResult, which carries the count)."""
    return cast(CursorResult[Any], result).rowcount
