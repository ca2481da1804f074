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

from sqlalchemy import Integer, bindparam, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from catalog.models import ListeningEvent

KINDS = ("play", "listen", "complete")
CHANNELS = ("web", "onsite", "app", "embed")
MAX_LISTEN_S = 120.0  # one report never counts more than this (players report every 10-15 s)


def listener_key(secret: str | bytes, *, user_id: int | None = None, device_id: str = "") -> str:
    """A stable pseudonym for a reader (or an anonymous device); not reversible without the key."""
    raw = secret.encode() if isinstance(secret, str) else secret
    subject = f"u:{user_id}" if user_id is not None else f"d:{device_id}"
    return hmac.new(raw, b"sachnoi/listener/" + subject.encode(), hashlib.sha256).hexdigest()[:32]


_EVENTS = ListeningEvent.__table__
# Today's growing "listen" row for one listener, book and channel (newest first), bumped in place.
_TODAYS_ROW = (select(_EVENTS.c.id).where(
    _EVENTS.c.book_id == bindparam("b_book_id"), _EVENTS.c.listener == bindparam("b_listener"),
    _EVENTS.c.kind == "listen", _EVENTS.c.channel == bindparam("b_channel"),
    _EVENTS.c.created_at >= bindparam("b_day")).order_by(_EVENTS.c.id.desc()).limit(1).scalar_subquery())
_INSERT = insert(_EVENTS)
_BUMP = update(_EVENTS).where(_EVENTS.c.id == _TODAYS_ROW).values(seconds=_EVENTS.c.seconds + bindparam("b_seconds"))


def record(session: Session | Connection, *, book_id: int, library_id: int, listener: str, kind: str,
           seconds: float = 0.0, channel: str = "web") -> None:
    """Count one event in the caller's transaction, a Session or a Core Connection (Core
    statements: this runs on every progress report)."""
    if kind not in KINDS or channel not in CHANNELS:
        raise ValueError(f"unknown event kind/channel: {kind}/{channel}")
    seconds = round(max(0.0, min(float(seconds or 0.0), MAX_LISTEN_S)), 1)
    if kind == "listen" and seconds <= 0:
        return
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    if kind == "listen":
        # One row per listener, book, channel and UTC day, growing as reports arrive: a reader
        # reports every 10 s, and a row per report would grow the table by ~360 rows an hour each.
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        bumped = session.execute(_BUMP, {"b_book_id": book_id, "b_listener": listener, "b_channel": channel,
                                         "b_day": day, "b_seconds": seconds})
        if bumped.rowcount:
            return
    session.execute(_INSERT, {"book_id": book_id, "library_id": library_id, "listener": listener, "kind": kind,
                              "seconds": seconds, "channel": channel, "created_at": now})


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

