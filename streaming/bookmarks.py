"""Bookmarks with notes: a reader's marked positions in a book, listed, edited and exported.

Positions are seconds on the book timeline; they are kept inside [0, duration]. Text is stored NFC.
"""
from __future__ import annotations

import unicodedata
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.models import Bookmark, utcnow
from catalog.spreadsheet import csv_text
from streaming.errors import N_, BookmarkError, BookmarkMissing

MAX_TITLE = 255
MAX_NOTE = 10_000
MAX_PER_BOOK = 1_000


def _text(value, limit: int, too_long: str) -> str:
    """`value` as NFC text, stripped; BookmarkError(`too_long`) above `limit` characters."""
    text = unicodedata.normalize("NFC", str(value or "")).strip()
    if len(text) > limit:
        raise BookmarkError(too_long, limit=limit)
    return text


def _position(value, duration_s: float) -> float:
    try:
        position = float(value)
    except (TypeError, ValueError):
        raise BookmarkError(N_("Vị trí không hợp lệ.")) from None
    if not position == position or position < 0:
        raise BookmarkError(N_("Vị trí không hợp lệ."))
    return round(min(position, duration_s) if duration_s > 0 else position, 3)


def list_for(session: Session, *, user_id: int, book_id: int) -> list[Bookmark]:
    return list(session.scalars(select(Bookmark).where(Bookmark.user_id == user_id, Bookmark.book_id == book_id)
                                .order_by(Bookmark.position_s, Bookmark.id)))


def get_own(session: Session, *, user_id: int, book_id: int, bookmark_id: int) -> Bookmark:
    row = session.get(Bookmark, bookmark_id)
    if row is None or row.user_id != user_id or row.book_id != book_id:
        raise BookmarkMissing(N_("Không tìm thấy dấu trang."))
    return row


def create(session: Session, *, user_id: int, book_id: int, duration_s: float, position_s, title="",
           note="") -> Bookmark:
    position = _position(position_s, duration_s)
    title, note = _text(title, MAX_TITLE, N_("Tiêu đề quá dài, tối đa %(limit)d ký tự.")), \
        _text(note, MAX_NOTE, N_("Ghi chú quá dài, tối đa %(limit)d ký tự."))
    if len(list_for(session, user_id=user_id, book_id=book_id)) >= MAX_PER_BOOK:
        raise BookmarkError(N_("Tối đa %(n)d dấu trang mỗi sách."), n=MAX_PER_BOOK)
    row = Bookmark(user_id=user_id, book_id=book_id, position_s=position, title=title, note=note)
    session.add(row)
    session.flush()
    return row


def update(session: Session, row: Bookmark, *, duration_s: float, **fields) -> Bookmark:
    changes: dict[str, Any] = {}
    if "position_s" in fields:
        changes["position_s"] = _position(fields["position_s"], duration_s)
    if "title" in fields:
        changes["title"] = _text(fields["title"], MAX_TITLE, "Tiêu đề")
    if "note" in fields:
        changes["note"] = _text(fields["note"], MAX_NOTE, "Ghi chú")
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    session.flush()
    return row


def delete(session: Session, row: Bookmark) -> None:
    session.delete(row)
    session.flush()


def as_dict(row: Bookmark) -> dict:
    return {"id": row.id, "position_s": row.position_s, "title": row.title, "note": row.note,
            "created_at": row.created_at.isoformat() + "Z" if row.created_at else None,
            "updated_at": row.updated_at.isoformat() + "Z" if row.updated_at else None}


def _clock(seconds: float) -> str:
    total = int(seconds)
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


def export_csv(rows: list[Bookmark]) -> str:
    """CSV (UTF-8, header row) for spreadsheets: time, seconds, title, note."""
    return csv_text([("thoi_diem", "giay", "tieu_de", "ghi_chu"),
                     *((_clock(r.position_s), f"{r.position_s:.3f}", r.title, r.note) for r in rows)])


def export_text(book_title: str, rows: list[Bookmark]) -> str:
    """Plain text, readable aloud by a screen reader."""
    lines = [f"Dấu trang — {book_title}", ""]
    for row in rows:
        lines.append(f"{_clock(row.position_s)}  {row.title or 'Dấu trang'}")
        if row.note:
            lines.extend("    " + part for part in row.note.splitlines())
    return "\n".join(lines) + "\n"
