"""Listening position per reader and book, synced between devices.

Players report `(position_s, event_time_ms, device_id, seq)`: the client's clock when the position
was true and a sequence number that grows with every report from that device. Networks deliver
late, twice, or out of order, so a write only takes effect when it is newer than what is stored:

- per device (`DeviceProgress`): a higher `seq` than the stored one;
- per account (`Progress`): a later event time, or the same event time from the same device with a
  higher `seq`.

Both checks are in the `WHERE` of a single upsert (`INSERT ... ON CONFLICT DO UPDATE ... WHERE`),
so two racing requests can not interleave a read and a write; the database decides. A reader who seeks back on purpose sends a *newer* event
time, so that is kept: "never backwards" is about arrival order, not about position.

Event times more than `MAX_CLOCK_AHEAD_MS` ahead of the server are clamped, so one device with a
wrong clock cannot pin the account's position for ever.

A book is finished when the reader has *heard* it, not when the position reached the end
(pressing End on the seek bar must not count): the book is cut into COVERAGE_BUCKETS equal
stretches, and a stretch counts as heard when the position moved through its middle between two
reports of the same device no faster than playback could (`heard_span`). Finished means at least
FINISHED_COVERAGE of the stretches heard; once finished, a book stays finished.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, and_, bindparam, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Row
from sqlalchemy.orm import Session

from catalog.models import DeviceProgress, Progress, utcnow
from catalog.text import parse_decimal
from streaming.errors import N_, ProgressError

COVERAGE_BUCKETS = 100       # each 1 % of the book
FINISHED_COVERAGE = 0.9      # share of the book heard for "finished"
PLAY_SLACK, PLAY_SLACK_S = 1.25, 3.0  # how much faster than speed × wall time still counts as playing
MAX_CLOCK_AHEAD_MS = 5 * 60 * 1000
MIN_SPEED, MAX_SPEED = 0.5, 4.0
MAX_CHAPTER = 100_000
_DEVICE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Report:
    position_s: float
    event_time_ms: int
    device_id: str
    seq: int
    speed: float = 1.0
    chapter: int = 1
    device_name: str = ""


@dataclass(frozen=True)
class Outcome:
    accepted: bool          # the account-wide position took this report
    device_accepted: bool   # the device's own row took it (False = late or duplicate)
    progress: Row | None    # the account's position after the write, with Progress's columns
    before: Row | None      # the account's position before the write (None: the reader's first report)

    @property
    def first_report(self) -> bool:
        return self.before is None

    @property
    def just_finished(self) -> bool:
        """This report finished the book (it was not finished before)."""
        return (self.accepted and self.progress is not None and bool(self.progress.finished)
                and not (self.before and self.before.finished))


def parse_report(data: dict, *, duration_s: float, now_ms: int | None = None) -> Report:
    """Check and normalise a report from JSON or form data. Raises ProgressError."""
    try:
        position = float(data["position_s"])
        event_time = int(float(data["event_time_ms"]))
        seq = int(data["seq"])
        speed = parse_decimal(data.get("speed") or 1.0)  # "1,5" as typed in Vietnamese is 1.5, never 15
        chapter = int(data.get("chapter") or 1)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, KeyError):
            raise ProgressError(N_("Báo cáo vị trí không hợp lệ (thiếu %(field)s)."), field=exc.args[0]) from None
        raise ProgressError(N_("Báo cáo vị trí không hợp lệ.")) from None
    device = str(data.get("device_id") or "")
    if not _DEVICE.match(device):
        raise ProgressError(N_("Mã thiết bị không hợp lệ"))
    if not (position == position) or position < 0 or seq < 0 or event_time <= 0:  # NaN check first
        raise ProgressError(N_("Vị trí, thời điểm hoặc số thứ tự không hợp lệ"))
    if chapter > MAX_CHAPTER:  # the column is int4 on PostgreSQL; no book has this many chapters
        raise ProgressError(N_("Số chương quá lớn (tối đa %(n)d)."), n=MAX_CHAPTER)
    if not MIN_SPEED - 1e-9 <= speed <= MAX_SPEED + 1e-9:
        raise ProgressError(N_("Tốc độ phải từ 0,5 đến 4 lần."))
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    event_time = min(event_time, now_ms + MAX_CLOCK_AHEAD_MS)
    if duration_s > 0:
        position = min(position, duration_s)
    return Report(position_s=round(position, 3), event_time_ms=event_time, device_id=device, seq=seq,
                  speed=round(speed, 1), chapter=max(1, chapter),
                  device_name=str(data.get("device_name") or "")[:255])


def heard_span(before: Row | None, report: Report) -> tuple[float, float] | None:
    """(from_s, to_s) played between the stored report and this one, or None for a jump, a seek back,
    another device, or a position that moved faster than playback at the reported speed could."""
    if before is None or before.device_id != report.device_id:
        return None
    elapsed_s = (report.event_time_ms - before.event_time_ms) / 1000.0
    moved_s = report.position_s - before.position_s
    if elapsed_s <= 0 or moved_s <= 0:
        return None
    if moved_s > elapsed_s * max(before.speed or 1.0, report.speed) * PLAY_SLACK + PLAY_SLACK_S:
        return None
    return before.position_s, report.position_s


def mark_heard(heard: str, span: tuple[float, float] | None, duration_s: float) -> str:
    """`heard` ('0'/'1' per bucket) with the buckets whose middle lies in `span` set to '1'."""
    bits = list((heard or "").ljust(COVERAGE_BUCKETS, "0")[:COVERAGE_BUCKETS])
    if span is not None and duration_s > 0:
        width = duration_s / COVERAGE_BUCKETS
        for i in range(COVERAGE_BUCKETS):
            if span[0] <= (i + 0.5) * width < span[1]:
                bits[i] = "1"
    return "".join(bits)


def coverage(heard: str | None) -> float:
    """Share of the book heard, 0..1."""
    return (heard or "").count("1") / COVERAGE_BUCKETS


_DEVICE_T = cast(Table, DeviceProgress.__table__)
_PROGRESS_T = cast(Table, Progress.__table__)
_DEVICE_COLS = ("position_s", "event_time_ms", "seq", "device_name", "updated_at")
_PROGRESS_COLS = ("position_s", "event_time_ms", "device_id", "device_name", "seq", "speed", "chapter",
                  "finished", "heard", "updated_at")
_statements: dict[str, tuple] = {}


def _upserts(dialect: str) -> tuple:
    """(device upsert, account upsert), built once per dialect.

    Each is one `INSERT ... ON CONFLICT DO UPDATE ... WHERE <newer> RETURNING`: a row comes back
    when the report was inserted or won, none when it was late or a duplicate. Both SQLite (3.35+)
    and PostgreSQL take it, and a single statement leaves no read-then-write gap for a race.
    """
    if dialect not in _statements:
        insert = sqlite_insert if dialect == "sqlite" else pg_insert
        dev_row = insert(_DEVICE_T)
        dev = dev_row.on_conflict_do_update(
            index_elements=["user_id", "book_id", "device_id"],
            set_={c: dev_row.excluded[c] for c in _DEVICE_COLS},
            where=_DEVICE_T.c.seq < dev_row.excluded.seq).returning(_DEVICE_T.c.id)
        acc_row = insert(_PROGRESS_T)
        newer = or_(_PROGRESS_T.c.event_time_ms < acc_row.excluded.event_time_ms,
                    and_(_PROGRESS_T.c.event_time_ms == acc_row.excluded.event_time_ms,
                         _PROGRESS_T.c.device_id == acc_row.excluded.device_id,
                         _PROGRESS_T.c.seq < acc_row.excluded.seq))
        acc = acc_row.on_conflict_do_update(index_elements=["user_id", "book_id"],
                                            set_={c: acc_row.excluded[c] for c in _PROGRESS_COLS},
                                            where=newer).returning(*_PROGRESS_T.c)
        _statements[dialect] = (dev, acc)
    return _statements[dialect]


_CURRENT = select(*_PROGRESS_T.c).where(_PROGRESS_T.c.user_id == bindparam("user_id"),
                                         _PROGRESS_T.c.book_id == bindparam("book_id"))


def record(db: Session | Connection, *, user_id: int, book_id: int, report: Report, duration_s: float) -> Outcome:
    """Apply one report in the caller's transaction (a Session or a Core Connection).

    Late and duplicate reports change nothing. Three statements: the account's row as it was, the
    device upsert, and (only when the device took the report) the account upsert.
    """
    device_upsert, account_upsert = _upserts(db.get_bind().dialect.name if isinstance(db, Session)
                                             else db.dialect.name)
    now = utcnow()
    keys = {"user_id": user_id, "book_id": book_id}
    before = db.execute(_CURRENT, keys).first()
    device_ok = db.execute(device_upsert, {
        **keys, "device_id": report.device_id, "position_s": report.position_s,
        "event_time_ms": report.event_time_ms, "seq": report.seq, "device_name": report.device_name,
        "updated_at": now}).first() is not None
    row = None
    if device_ok:
        heard = mark_heard(before.heard if before is not None else "", heard_span(before, report), duration_s)
        finished = bool(before is not None and before.finished) or coverage(heard) >= FINISHED_COVERAGE
        row = db.execute(account_upsert, {
            **keys, "position_s": report.position_s, "event_time_ms": report.event_time_ms,
            "device_id": report.device_id, "device_name": report.device_name, "seq": report.seq,
            "speed": report.speed, "chapter": report.chapter,
            "finished": finished, "heard": heard, "updated_at": now}).first()
    return Outcome(accepted=row is not None, device_accepted=device_ok, progress=row or before, before=before)


def merge_anonymous(session: Session, *, user_id: int, entries: list[tuple[int, Report, float]]) -> int:
    """Fold progress kept in an anonymous browser into the account: (book_id, report, duration_s).

    Each entry competes like any report, so a newer position already on the account wins.
    Returns how many books took the browser's position.
    """
    return sum(record(session, user_id=user_id, book_id=book_id, report=report, duration_s=duration).accepted
               for book_id, report, duration in entries)


def get(session: Session, *, user_id: int, book_id: int) -> Progress | None:
    return session.scalar(select(Progress).where(Progress.user_id == user_id, Progress.book_id == book_id))


def devices(session: Session, *, user_id: int, book_id: int) -> list[DeviceProgress]:
    return list(session.scalars(select(DeviceProgress)
                                .where(DeviceProgress.user_id == user_id, DeviceProgress.book_id == book_id)
                                .order_by(DeviceProgress.event_time_ms.desc())))


def history(session: Session, *, user_id: int, limit: int = 100) -> list[Progress]:
    """The reader's books, most recently listened first."""
    return list(session.scalars(select(Progress).where(Progress.user_id == user_id)
                                .order_by(Progress.updated_at.desc(), Progress.id.desc()).limit(limit)))


def as_dict(row: Progress | Row | None) -> dict:
    if row is None:
        return {"position_s": 0.0, "event_time_ms": 0, "device_id": "", "device_name": "", "seq": 0,
                "speed": 1.0, "chapter": 1, "finished": False, "heard_share": 0.0}
    return {"position_s": row.position_s, "event_time_ms": row.event_time_ms, "device_id": row.device_id,
            "device_name": row.device_name, "seq": row.seq, "speed": row.speed, "chapter": row.chapter,
            "finished": bool(row.finished), "heard_share": coverage(row.heard)}
