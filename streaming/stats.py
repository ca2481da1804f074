"""Listening statistics: aggregate queries over `ListeningEvent` rows.

Only aggregates leave the database: every query groups in SQL and returns counts and sums, never
a listener key. Measures per group:

    plays       number of `play` events
    listeners   distinct listener keys (hashed; counted, never returned)
    hours       sum of `listen` seconds / 3600
    completions number of `complete` events

Groups: `title` (book), `library`, `month` ("YYYY-MM" in the library's time zone), `channel`
(web | onsite | app | embed).

Filters (`Filters`): a period [start, end) in UTC (`period_range` turns a year, quarter, month or
date range in the library's time zone into one), a library, a title, a subject, and a set of
listener keys (a reader group such as verified print-disabled readers: `streaming.events.listener_key`
of each member, so the rows themselves never name anyone). `yearly_report` gives the figures the
provincial plans ask for each year, with growth against the year before.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import case, distinct, func, literal_column, select
from sqlalchemy.orm import Session

from catalog.models import Book, BookSubject, Library, ListeningEvent
from streaming.errors import N_, StatsError

GROUPS = ("title", "library", "month", "channel")


@dataclass(frozen=True)
class StatRow:
    key: str          # group value shown to people (title, library name, month, channel)
    plays: int
    listeners: int
    hours: float
    completions: int

    def as_tuple(self) -> tuple:
        return (self.key, self.plays, self.listeners, round(self.hours, 2), self.completions)


@dataclass(frozen=True)
class Filters:
    """What to count: [start, end) in UTC, one library, title or subject, a set of listener keys."""
    library_id: int | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    book_id: int | None = None
    subject_id: int | None = None
    listeners: frozenset[str] | None = None
    utc_offset_h: float = 7.0  # the library's offset, for grouping by local month

    def apply(self, query):
        ev = ListeningEvent
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise StatsError(N_("Ngày kết thúc phải sau ngày bắt đầu."))
        if self.library_id is not None:
            query = query.where(ev.library_id == self.library_id)
        if self.start is not None:
            query = query.where(ev.created_at >= self.start)
        if self.end is not None:
            query = query.where(ev.created_at < self.end)
        if self.book_id is not None:
            query = query.where(ev.book_id == self.book_id)
        if self.subject_id is not None:
            query = query.where(ev.book_id.in_(
                select(BookSubject.book_id).where(BookSubject.subject_id == self.subject_id)))
        if self.listeners is not None:
            query = query.where(ev.listener.in_(sorted(self.listeners) or [""]))
        return query


def _month_expr(session: Session, utc_offset_h: float = 0.0):
    """'YYYY-MM' of each event in local time (UTC shifted by the library's offset)."""
    column = ListeningEvent.created_at
    minutes = int(round(utc_offset_h * 60))
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(column + literal_column(f"interval '{minutes} minutes'"), "YYYY-MM")
    return func.strftime("%Y-%m", column, f"{minutes:+d} minutes")


def _group_columns(session: Session, group: str, utc_offset_h: float = 0.0):
    if group == "title":
        return (Book.title, ListeningEvent.book_id)
    if group == "library":
        return (Library.name, ListeningEvent.library_id)
    if group == "month":
        expr = _month_expr(session, utc_offset_h)
        return (expr, expr)
    if group == "channel":
        return (ListeningEvent.channel, ListeningEvent.channel)
    raise StatsError(N_("Không nhóm được theo %(group)s"), group=repr(group))


def aggregate(session: Session, group: str, *, library_id: int | None = None,
              start: dt.datetime | None = None, end: dt.datetime | None = None,
              filters: Filters | None = None) -> list[StatRow]:
    """Measures per `group` value; `library_id` None means every library; [start, end) in UTC.

    `filters` (when given) replaces `library_id`, `start` and `end`."""
    filters = filters or Filters(library_id=library_id, start=start, end=end, utc_offset_h=0.0)
    label, key = _group_columns(session, group, filters.utc_offset_h)
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
    query = filters.apply(query)
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
           end: dt.datetime | None = None, filters: Filters | None = None) -> StatRow:
    """The measures over everything selected (listeners counted once across titles)."""
    filters = filters or Filters(library_id=library_id, start=start, end=end)
    ev = ListeningEvent
    query = filters.apply(select(func.sum(case((ev.kind == "play", 1), else_=0)),
                                 func.count(distinct(ev.listener)),
                                 func.coalesce(func.sum(case((ev.kind == "listen", ev.seconds), else_=0.0)), 0.0),
                                 func.sum(case((ev.kind == "complete", 1), else_=0))))
    plays, listeners, seconds, completions = session.execute(query).one()
    return StatRow("Tổng", int(plays or 0), int(listeners or 0), float(seconds or 0) / 3600.0,
                   int(completions or 0))


def year_range(year: int) -> tuple[dt.datetime, dt.datetime]:
    """[1 Jan year, 1 Jan year+1) — the yearly report's period."""
    if not 2000 <= year <= 2100:
        raise StatsError(N_("Năm không hợp lệ: %(year)s (từ 2000 đến 2100)."), year=year)
    return dt.datetime(year, 1, 1), dt.datetime(year + 1, 1, 1)


def _utc(local: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """Naive local wall time in `zone` → naive UTC (how rows store times)."""
    return local.replace(tzinfo=zone).astimezone(dt.timezone.utc).replace(tzinfo=None)


def period_range(kind: str, value: str, zone: str = "Asia/Ho_Chi_Minh") -> tuple[dt.datetime, dt.datetime]:
    """[start, end) in UTC of a period written in the library's time zone.

    kind 'year' '2026' · 'quarter' '2026-Q2' (or '2026-2') · 'month' '2026-04' ·
    'range' '2026-01-15..2026-03-01' (both days included). Raises StatsError with a message.
    """
    tz = ZoneInfo(zone)
    value = (value or "").strip()
    try:
        if kind == "year":
            year = int(value)
            first, after = dt.datetime(year, 1, 1), dt.datetime(year + 1, 1, 1)
        elif kind == "quarter":
            match = re.fullmatch(r"(\d{4})-?Q?([1-4])", value, re.I)
            if not match:
                raise ValueError(value)
            year, quarter = int(match[1]), int(match[2])
            first = dt.datetime(year, 3 * quarter - 2, 1)
            after = dt.datetime(year + (quarter == 4), 1 if quarter == 4 else 3 * quarter + 1, 1)
        elif kind == "month":
            year, month = (int(part) for part in value.split("-"))
            first = dt.datetime(year, month, 1)
            after = dt.datetime(year + (month == 12), 1 if month == 12 else month + 1, 1)
        elif kind == "range":
            since, until = value.split("..")
            first = dt.datetime.fromisoformat(since.strip())
            after = dt.datetime.fromisoformat(until.strip()) + dt.timedelta(days=1)
        else:
            raise StatsError(N_("Kỳ thống kê phải là năm, quý, tháng hoặc khoảng ngày."))
    except (ValueError, TypeError, OverflowError):  # year 10000 overflows datetime
        raise StatsError(N_("Kỳ thống kê không hợp lệ: %(value)s."), value=repr(value)) from None
    if not 2000 <= first.year <= 2100 or after <= first:
        raise StatsError(N_("Kỳ thống kê không hợp lệ: %(value)s."), value=repr(value))
    return _utc(first, tz), _utc(after, tz)


def utc_offset_hours(zone: str, when: dt.datetime | None = None) -> float:
    """The zone's offset from UTC in hours at `when` (naive UTC; default now)."""
    when = when or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    return (ZoneInfo(zone).utcoffset(when) or dt.timedelta()).total_seconds() / 3600.0


@dataclass(frozen=True)
class YearFigures:
    year: int
    readers: int        # distinct listeners
    hours: float        # hours listened
    titles: int         # titles listened to
    plays: int
    completions: int


def _year_figures(session: Session, year: int, filters: Filters, zone: str) -> YearFigures:
    start, end = period_range("year", str(year), zone)
    scoped = Filters(**{**filters.__dict__, "start": start, "end": end})
    total = totals(session, filters=scoped)
    titles = session.scalar(scoped.apply(
        select(func.count(distinct(ListeningEvent.book_id))).select_from(ListeningEvent))) or 0
    return YearFigures(year, total.listeners, total.hours, int(titles), total.plays, total.completions)


def growth(now: float, before: float) -> float | None:
    """Change against last year as a fraction (0.25 = +25 %); None when last year had nothing."""
    return None if not before else (now - before) / before


def yearly_report(session: Session, year: int, *, filters: Filters | None = None,
                  zone: str = "Asia/Ho_Chi_Minh") -> dict:
    """The yearly report: this year's and last year's figures, growth, and the year by month and title.

    {"this": YearFigures, "last": YearFigures, "growth": {measure: fraction | None},
     "months": [StatRow per local month], "titles": [StatRow per title, most played first]}
    """
    filters = filters or Filters()
    this, last = _year_figures(session, year, filters, zone), _year_figures(session, year - 1, filters, zone)
    start, end = period_range("year", str(year), zone)
    scoped = Filters(**{**filters.__dict__, "start": start, "end": end,
                        "utc_offset_h": utc_offset_hours(zone, start)})
    return {"this": this, "last": last,
            "growth": {m: growth(getattr(this, m), getattr(last, m))
                       for m in ("readers", "hours", "titles", "plays", "completions")},
            "months": aggregate(session, "month", filters=scoped),
            "titles": aggregate(session, "title", filters=scoped)}
