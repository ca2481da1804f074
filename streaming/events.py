"""Listening events for statistics. Who listened is kept only as a keyed hash, and only
aggregates (`totals`) are meant to leave the database.

The player reports seconds actually listened with each progress report; a book's first report from
a listener is a `play`, a report that finishes the book a `complete`.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

from sqlalchemy import Integer, func, select
from sqlalchemy.orm import Session

from catalog.models import Book, ListeningEvent

KINDS = ("play", "listen", "complete")
CHANNELS = ("web", "onsite", "app", "embed")
MAX_LISTEN_S = 120.0  # one report never counts more than this (players report every 10-15 s)


def listener_key(secret: str | bytes, *, user_id: int | None = None, device_id: str = "") -> str:
    """A stable pseudonym for a reader (or an anonymous device); not reversible without the key."""
    raw = secret.encode() if isinstance(secret, str) else secret
    subject = f"u:{user_id}" if user_id is not None else f"d:{device_id}"
    return hmac.new(raw, b"sachnoi/listener/" + subject.encode(), hashlib.sha256).hexdigest()[:32]


def record(session: Session, *, book: Book, listener: str, kind: str, seconds: float = 0.0,
           channel: str = "web") -> ListeningEvent | None:
    if kind not in KINDS or channel not in CHANNELS:
        raise ValueError(f"unknown event kind/channel: {kind}/{channel}")
    seconds = max(0.0, min(float(seconds or 0.0), MAX_LISTEN_S))
    if kind == "listen" and seconds <= 0:
        return None
    if kind == "listen":
        # One row per listener, book, channel and UTC day, growing as reports arrive: a reader
        # reports every 10 s, and a row per report would grow the table by ~360 rows an hour each.
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        row = session.scalars(select(ListeningEvent).where(
            ListeningEvent.book_id == book.id, ListeningEvent.listener == listener,
            ListeningEvent.kind == "listen", ListeningEvent.channel == channel,
            ListeningEvent.created_at >= day).order_by(ListeningEvent.id.desc()).limit(1)).first()
        if row is not None:
            row.seconds = round((row.seconds or 0.0) + seconds, 1)
            return row
    row = ListeningEvent(book_id=book.id, library_id=book.library_id, listener=listener, kind=kind,
                         seconds=round(seconds, 1), channel=channel)
    session.add(row)
    return row


@dataclass(frozen=True)
class BookTotals:
    book_id: int
    plays: int
    completions: int
    listeners: int
    hours: float


def totals(session: Session, *, library_id: int | None = None, start: dt.datetime | None = None,
           end: dt.datetime | None = None) -> list[BookTotals]:
    """Per-book aggregates over [start, end): plays, completions, distinct listeners, hours listened."""
    q = select(ListeningEvent.book_id,
               func.sum((ListeningEvent.kind == "play").cast(Integer)),
               func.sum((ListeningEvent.kind == "complete").cast(Integer)),
               func.count(func.distinct(ListeningEvent.listener)),
               func.coalesce(func.sum(ListeningEvent.seconds), 0.0)).group_by(ListeningEvent.book_id)
    if library_id is not None:
        q = q.where(ListeningEvent.library_id == library_id)
    if start is not None:
        q = q.where(ListeningEvent.created_at >= start)
    if end is not None:
        q = q.where(ListeningEvent.created_at < end)
    return [BookTotals(book_id, int(plays or 0), int(done or 0), int(people), round(float(secs) / 3600, 3))
            for book_id, plays, done, people, secs in session.execute(q.order_by(ListeningEvent.book_id))]

