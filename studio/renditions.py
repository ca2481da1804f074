"""Rendition rows of the package stage: written in short transactions, read without the write lock."""
from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import select

from catalog.db import read_only_session, session_scope
from catalog.models import Rendition
from recordings.store import MediaStore


def upsert(db, book_id: int, kind: str, name: str, key: str, source: str, chapter_id=None,
           **fields) -> Rendition:
    row = db.execute(select(Rendition).where(
        Rendition.book_id == book_id, Rendition.kind == kind, Rendition.name == name,
        Rendition.chapter_id.is_(None) if chapter_id is None else Rendition.chapter_id == chapter_id,
    )).scalars().first()
    if row is None:
        row = Rendition(book_id=book_id, kind=kind, name=name, chapter_id=chapter_id, key=key)
        db.add(row)
    row.key = key
    row.source_sha256 = source
    for k, v in fields.items():
        if k != "extra":
            setattr(row, k, v)
    return row


def current_rendition(db, book_id: int, kind: str, name: str, source: str, store: MediaStore,
                      chapter_id=None) -> Rendition | None:
    row = db.execute(select(Rendition).where(
        Rendition.book_id == book_id, Rendition.kind == kind, Rendition.name == name,
        Rendition.chapter_id.is_(None) if chapter_id is None else Rendition.chapter_id == chapter_id,
    )).scalars().first()
    if row is not None and row.source_sha256 == source and store.exists(row.key):
        return row
    return None


@contextmanager
def reading(session_factory):
    """A read-only session (no write lock on SQLite), closed afterwards."""
    db = read_only_session(session_factory)
    try:
        yield db
    finally:
        db.close()


def write_renditions(session_factory, pending: list[tuple[tuple, dict]], stale: list[int]) -> None:
    """Apply `upsert` arguments and delete stale rendition rows, in one short transaction."""
    if not pending and not stale:
        return
    with session_scope(session_factory) as db:
        for args, kwargs in pending:
            upsert(db, *args, **kwargs)
        for rendition_id in stale:
            row = db.get(Rendition, rendition_id)
            if row is not None:
                db.delete(row)
