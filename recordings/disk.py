"""A full disk, however it is reported: an OSError from a file write, SQLite's SQLITE_FULL, or
PostgreSQL's `disk_full` (SQLSTATE 53100), possibly wrapped by SQLAlchemy or by our own errors.

`is_disk_full(exc)` tells it apart from other failures so that callers can say the one useful
thing ("No space left on device") instead of "System error"; `free_bytes(path)` measures what is left.
"""
from __future__ import annotations

import errno
import shutil
import sqlite3
from pathlib import Path

DISK_FULL_MESSAGE = "Hết dung lượng đĩa (No space left on device)"
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_SQLITE_FULL_TEXT = "database or disk is full"
_PG_DISK_FULL = "53100"


def _chain(exc: BaseException):
    """`exc` and what it wraps: __cause__, __context__ and SQLAlchemy's `.orig`, without cycles."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend((current.__cause__, current.__context__, getattr(current, "orig", None)))


def is_disk_full(exc: BaseException) -> bool:
    """True when `exc` (or anything it wraps) says the disk or the database file is full."""
    for current in _chain(exc):
        if isinstance(current, OSError) and current.errno in _FULL_ERRNOS:
            return True
        if isinstance(current, sqlite3.Error) and (
                getattr(current, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
                or _SQLITE_FULL_TEXT in str(current)):
            return True
        if getattr(current, "sqlstate", None) == _PG_DISK_FULL or getattr(current, "pgcode", None) == _PG_DISK_FULL:
            return True
        if "No space left on device" in str(current):  # ffmpeg's stderr, carried in our own errors
            return True
    return False


def free_bytes(path: str | Path) -> int:
    """Bytes available to this process on the file system holding `path` (its nearest existing parent)."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free
