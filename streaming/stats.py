"""Listening statistics: aggregate queries over `ListeningEvent` rows.

Only aggregates leave the database: every query groups in SQL and returns counts and sums, never
a listener key. Measures per group:

    plays       number of `play` events
    listeners   distinct listener keys (hashed; counted, never returned)
    hours       sum of `listen` seconds / 3600
    completions number of `complete` events

Groups: `title` (book), `library`, `month` ("YYYY-MM", UTC), `channel` (web | onsite | app | embed).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import case, distinct, func, select
from sqlalchemy.orm import Session

from catalog.models import Book, Library, ListeningEvent

GROUPS = ("title", "library", "month", "channel")
MEASURES = ("plays", "listeners", "hours", "completions")


class StatsError(ValueError):
    """A request for statistics that cannot be answered (unknown grouping, bad dates)."""


@dataclass(frozen=True)
class StatRow:
    key: str          # group value shown to people (title, library name, month, channel)
    plays: int
    listeners: int
    hours: float
    completions: int

    def as_tuple(self) -> tuple:
        return (self.key, self.plays, self.listeners, round(self.hours, 2), self.completions)


def _month_expr(session: Session):
    column = ListeningEvent.created_at
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(column, "YYYY-MM")
    return func.strftime("%Y-%m", column)


def _group_columns(session: Session, group: str):
    if group == "title":
        return (Book.title, ListeningEvent.book_id)
    if group == "library":
        return (Library.name, ListeningEvent.library_id)
    if group == "month":
        expr = _month_expr(session)
        return (expr, expr)
    if group == "channel":
        return (ListeningEvent.channel, ListeningEvent.channel)
    raise StatsError(f"Không nhóm được theo {group!r} (unknown grouping; use one of {', '.join(GROUPS)})")


def aggregate(session: Session, group: str, *, library_id: int | None = None,
              start: dt.datetime | None = None, end: dt.datetime | None = None) -> list[StatRow]:
    """Measures per `group` value; `library_id` None means every library; [start, end) in UTC."""
    label, key = _group_columns(session, group)
    ev = ListeningEvent
    query = (select(label.label("label"),
                    func.sum(case((ev.kind == "play", 1), else_=0)).label("plays"),
                    func.count(distinct(ev.listener)).label("listeners"),
                    func.coalesce(func.sum(case((ev.kind == "listen", ev.seconds), else_=0.0)), 0.0)
                    .label("seconds"),
                    func.sum(case((ev.kind == "complete", 1), else_=0)).label("completions"))
             .select_from(ev))
    if group == "title":
        query = query.join(Book, Book.id == ev.book_id)
    if group == "library":
        query = query.join(Library, Library.id == ev.library_id)
    if library_id is not None:
        query = query.where(ev.library_id == library_id)
    if start is not None:
        query = query.where(ev.created_at >= start)
    if end is not None:
        query = query.where(ev.created_at < end)
    if start is not None and end is not None and end <= start:
        raise StatsError("Ngày kết thúc phải sau ngày bắt đầu (end must be after start)")
    group_by = (label, key) if label is not key else (label,)
    query = query.group_by(*group_by)
    rows = [StatRow(str(r.label if r.label is not None else "—"), int(r.plays or 0), int(r.listeners or 0),
                    float(r.seconds or 0.0) / 3600.0, int(r.completions or 0))
            for r in session.execute(query)]
    if group == "month":
        rows.sort(key=lambda r: r.key)
    else:
        rows.sort(key=lambda r: (-r.plays, -r.hours, r.key))
    return rows


def totals(session: Session, *, library_id: int | None = None, start: dt.datetime | None = None,
           end: dt.datetime | None = None) -> StatRow:
    """The measures over everything selected (listeners counted once across titles)."""
    ev = ListeningEvent
    query = select(func.sum(case((ev.kind == "play", 1), else_=0)),
                   func.count(distinct(ev.listener)),
                   func.coalesce(func.sum(case((ev.kind == "listen", ev.seconds), else_=0.0)), 0.0),
                   func.sum(case((ev.kind == "complete", 1), else_=0)))
    if library_id is not None:
        query = query.where(ev.library_id == library_id)
    if start is not None:
        query = query.where(ev.created_at >= start)
    if end is not None:
        query = query.where(ev.created_at < end)
    plays, listeners, seconds, completions = session.execute(query).one()
    return StatRow("Tổng", int(plays or 0), int(listeners or 0), float(seconds or 0) / 3600.0,
                   int(completions or 0))


def year_range(year: int) -> tuple[dt.datetime, dt.datetime]:
    """[1 Jan year, 1 Jan year+1) — the yearly report's period."""
    if not 2000 <= year <= 2100:
        raise StatsError(f"Năm không hợp lệ: {year} (year out of range)")
    return dt.datetime(year, 1, 1), dt.datetime(year + 1, 1, 1)
