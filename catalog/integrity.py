"""Is the database file intact? SQLite's `PRAGMA quick_check`, and telling a corrupted file apart
from other database errors so every entry point can say the one useful thing about it.

`quick_check(engine)` → `[]` when intact, else SQLite's problem lines (at most 10); PostgreSQL keeps
its own checksums, so it reports `[]`. `is_corrupt(exc)` is True for "file is not a database",
"database disk image is malformed" and the like, however wrapped.
"""
from __future__ import annotations

import sqlite3

from sqlalchemy import text
from sqlalchemy.engine import Engine

CORRUPT_MESSAGE = ("Cơ sở dữ liệu bị hỏng ({path}); hãy dừng máy chủ và khôi phục từ bản sao lưu gần nhất "
                   "(`sachnoi restore`). "
                   "(The database is corrupted; stop the server and restore it from the latest backup.)")
_CORRUPT_CODES = {getattr(sqlite3, name, None) for name in ("SQLITE_CORRUPT", "SQLITE_NOTADB")} - {None}
_CORRUPT_TEXTS = ("file is not a database", "database disk image is malformed", "malformed database schema")


def is_corrupt(exc: BaseException) -> bool:
    """True when `exc`, or the driver error it wraps, says the SQLite file is damaged."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sqlite3.DatabaseError) and (
                getattr(current, "sqlite_errorcode", None) in _CORRUPT_CODES
                or any(t in str(current) for t in _CORRUPT_TEXTS)):
            return True
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return False


def quick_check(engine: Engine, *, limit: int = 10) -> list[str]:
    """SQLite's quick_check (O(N), skips index-content checks): [] when the file is intact."""
    if engine.dialect.name != "sqlite":
        return []
    try:
        with engine.connect() as conn:
            rows = [r[0] for r in conn.execute(text(f"PRAGMA quick_check({int(limit)})"))]
    except Exception as exc:  # a file too damaged to open is the answer, not an error of the check
        if is_corrupt(exc):
            return [str(getattr(exc, "orig", exc))]
        raise
    return [] if rows == ["ok"] else rows


def database_path(engine: Engine) -> str:
    """The file behind a SQLite engine, or the URL without password."""
    if engine.dialect.name == "sqlite":
        return engine.url.database or ""
    return engine.url.render_as_string(hide_password=True)
