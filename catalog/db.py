"""The database edge: engine creation and sessions.

SQLite is the embedded default (WAL, busy timeout, foreign keys on, set on every
connection); PostgreSQL is reached by giving a `postgresql+psycopg://` URL.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 15_000
_HOLDS_LOCK = "sachnoi_writer_lock"
SQLITE_BEGIN_OPTION = "sqlite_begin"  # execution option: "IMMEDIATE" (default) or "DEFERRED"


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
        # one ends; other processes (workers, the CLI) still meet busy_timeout.
        writer_lock = threading.Lock()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # pragma: no cover
            # IMMEDIATE (the default) takes the write lock up front, so two writers queue on
            # busy_timeout instead of failing with "database is locked" when a read upgrades to a
            # write. Read-only work (GET requests) asks for DEFERRED and reads a WAL snapshot
            # without waiting for, or blocking, any writer.
            mode = conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "IMMEDIATE")
            if mode == "DEFERRED":
                conn.exec_driver_sql("BEGIN DEFERRED")
                return
            if writer_lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
                conn.info[_HOLDS_LOCK] = writer_lock
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                _release(conn.info)
                raise

        @event.listens_for(engine, "commit")
        @event.listens_for(engine, "rollback")
        def _sqlite_end(conn):  # pragma: no cover
            _release(conn.info)

        @event.listens_for(engine.pool, "reset")
        def _pool_reset(_dbapi_conn, record, _reset_state):  # pragma: no cover
            _release(record.info)

        @event.listens_for(engine.pool, "checkin")
        def _pool_checkin(_dbapi_conn, record):  # pragma: no cover
            _release(record.info)

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _release(info: dict) -> None:
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
