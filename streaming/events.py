"""Listening events for statistics. Who listened is kept only as a keyed hash, and only
aggregates (`totals`) are meant to leave the database.

The player reports seconds actually listened with each progress report, credited at most as the
server's clock allows (`_credit`); a book's first report from a listener is a `play`, a report that
finishes the book a `complete`.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Float, Integer, Table, bindparam, case, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from catalog.db import rowcount
from catalog.models import ListeningEvent

KINDS = ("play", "listen", "complete")
CHANNELS = ("web", "onsite", "app", "embed")
MAX_LISTEN_S = 120.0  # one report never counts more than this (players report every 10-15 s)
ARRIVAL_SLACK_S = 3.0  # network jitter between reports that the clock rule tolerates


def listener_key(secret: str | bytes, *, user_id: int | None = None, device_id: str = "") -> str:
    """A stable pseudonym for a reader (or an anonymous device); not reversible without the key."""
    raw = secret.encode() if isinstance(secret, str) else secret
    subject = f"u:{user_id}" if user_id is not None else f"d:{device_id}"
    return hmac.new(raw, b"sachnoi/listener/" + subject.encode(), hashlib.sha256).hexdigest()[:32]


_EVENTS = cast(Table, ListeningEvent.__table__)
_UNTIL = _EVENTS.c.credited_until_s
_NOW, _SECONDS = bindparam("b_now", type_=Float), bindparam("b_seconds", type_=Float)
_FLOOR = bindparam("b_floor", type_=Float)  # b_now - MAX_LISTEN_S
_SETTLED = bindparam("b_settled", type_=Float)  # b_now - ARRIVAL_SLACK_S


def _greatest(a, b):
    return case((a > b, a), else_=b)  # portable: SQLite's max(a, b) is PostgreSQL's greatest


def _credit(until):
    """(seconds to credit, new `credited_until_s`) as SQL, from the listener's `until` so far.

    Listening is credited as server wall-clock time: a report may claim the time since the last
    credited instant (at most `MAX_LISTEN_S` back) and never more than it says it listened. What
    it does not claim is given up except the last `ARRIVAL_SLACK_S` (a report that arrives a
    little late leaves room for the next, early one). So 200 reports in 1.3 s add at most 1.3 s
    plus the slack. Computed in the statement itself: two racing reports cannot both claim a gap.
    """
    base = _greatest(until, _FLOOR)
    credit = case((_NOW - base <= 0, 0.0), (_NOW - base < _SECONDS, _NOW - base), else_=_SECONDS)
    return credit, _greatest(base + credit, _SETTLED)


# Today's growing "listen" row for one listener, book and channel (newest first), bumped in place.
_TODAYS_ROW = (select(_EVENTS.c.id).where(
    _EVENTS.c.book_id == bindparam("b_book_id"), _EVENTS.c.listener == bindparam("b_listener"),
    _EVENTS.c.kind == "listen", _EVENTS.c.channel == bindparam("b_channel"),
    _EVENTS.c.created_at >= bindparam("b_day")).order_by(_EVENTS.c.id.desc()).limit(1).scalar_subquery())
_BUMP_CREDIT, _BUMP_UNTIL = _credit(_UNTIL)
_BUMP = update(_EVENTS).where(_EVENTS.c.id == _TODAYS_ROW).values(seconds=_EVENTS.c.seconds + _BUMP_CREDIT,
                                                                  credited_until_s=_BUMP_UNTIL)
# A new day's (or channel's) row continues from the listener's last credited instant for the book.
_LAST_UNTIL = (select(func.max(_UNTIL)).where(_EVENTS.c.listener == bindparam("b_listener"),
                                              _EVENTS.c.book_id == bindparam("b_book_id")).scalar_subquery())
_START_CREDIT, _START_UNTIL = _credit(_LAST_UNTIL)
_INSERT = insert(_EVENTS)
_INSERT_LISTEN = insert(_EVENTS).values(seconds=_START_CREDIT, credited_until_s=_START_UNTIL)


def record(session: Session | Connection, *, book_id: int, library_id: int, listener: str, kind: str,
           seconds: float = 0.0, channel: str = "web", now_s: float | None = None) -> None:
    """Count one event in the caller's transaction, a Session or a Core Connection (Core
    statements: this runs on every progress report). `seconds`: what the player says it listened
    since its last report; credited at most as server time allows (see `_credit`). `now_s`: the
    server's clock (Unix seconds), for tests."""
    if kind not in KINDS or channel not in CHANNELS:
        raise ValueError(f"unknown event kind/channel: {kind}/{channel}")
    seconds = round(max(0.0, min(float(seconds or 0.0), MAX_LISTEN_S)), 1)
    if kind == "listen" and seconds <= 0:
        return
    now_s = time.time() if now_s is None else now_s
    now = dt.datetime.fromtimestamp(now_s, dt.timezone.utc).replace(tzinfo=None)
    row = {"book_id": book_id, "library_id": library_id, "listener": listener, "kind": kind,
           "channel": channel, "created_at": now}
    if kind != "listen":
        session.execute(_INSERT, {**row, "seconds": 0.0})
        return
    # One row per listener, book, channel and UTC day, growing as reports arrive: a reader
    # reports every 10 s, and a row per report would grow the table by ~360 rows an hour each.
    clock = {"b_now": now_s, "b_floor": now_s - MAX_LISTEN_S, "b_settled": now_s - ARRIVAL_SLACK_S,
             "b_seconds": seconds, "b_book_id": book_id, "b_listener": listener}
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    bumped = session.execute(_BUMP, {"b_channel": channel, "b_day": day, **clock})
    if not rowcount(bumped):
        session.execute(_INSERT_LISTEN, {**row, **clock})


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

