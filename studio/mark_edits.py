"""Staff edits of chapter marks: move, add, remove, rename — the rules, apart from any page.

Once staff touch a take's marks, its automatic (pause) marks become `manual` and remember where
they came from, so running detection again cannot wipe the edit. Any edit withdraws approval of
the book's marks: a person must approve the new set.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.models import Chapter, Mark, Take
from catalog.text import nfc
from studio.errors import N_, StudioError
from studio.pipeline import chapter_spans

MIN_GAP_S = 0.5  # two chapter marks on one take closer than this are a mistake


def parse_time(text: str | None, duration_s: float) -> float:
    """Seconds from '75.5', '1:15.5' or '0:01:15,5', inside [0, duration_s); StudioError otherwise."""
    raw = (text or "").strip().replace(",", ".")
    try:
        parts = [float(p) for p in raw.split(":")]
    except ValueError:
        parts = []
    if not parts or len(parts) > 3 or any(p < 0 or p != p or p == float("inf") for p in parts):
        raise StudioError(N_("Thời điểm không hợp lệ: %(raw)s (dùng giây hoặc phút:giây)."), raw=repr(raw))
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    if seconds >= duration_s:
        raise StudioError(N_("Thời điểm %(t).2f s nằm sau cuối bản ghi (%(end).2f s)."), t=seconds, end=duration_s)
    return round(seconds, 3)


def _check_gap(db: Session, take_id: int, start_s: float, ignore: int | None = None) -> None:
    others = db.scalars(select(Mark).where(Mark.take_id == take_id, Mark.kind == "chapter"))
    if any(abs(m.start_s - start_s) < MIN_GAP_S for m in others if m.id != ignore):
        raise StudioError(N_("Đã có mốc chương ở gần thời điểm này."))


def _keep_take_marks(db: Session, take_id: int) -> None:
    for mark in db.scalars(select(Mark).where(Mark.take_id == take_id, Mark.source == "pauses")):
        mark.detail = {**(mark.detail or {}), "from_source": "pauses"}
        mark.source = "manual"


def _unapprove(db: Session, book_id: int) -> None:
    for mark in db.scalars(select(Mark).where(Mark.book_id == book_id)):
        mark.approved = False


def move_mark(db: Session, mark: Mark, text: str | None) -> float:
    """Move `mark` to the typed time on its take; returns the new start (s)."""
    take = db.get_one(Take, mark.take_id)
    start = parse_time(text, take.duration_s)
    _check_gap(db, take.id, start, ignore=mark.id)
    detail = dict(mark.detail or {})
    detail.setdefault("from_source", mark.source)
    detail.setdefault("from_start_s", mark.start_s)
    mark.detail, mark.start_s, mark.source = detail, start, "manual"
    _keep_take_marks(db, take.id)
    _unapprove(db, mark.book_id)
    return start


def add_mark(db: Session, take: Take, text: str | None, title: str = "", *, added_by: int | None = None) -> Mark:
    """A new manual chapter mark on `take` at the typed time."""
    start = parse_time(text, take.duration_s)
    _check_gap(db, take.id, start)
    _keep_take_marks(db, take.id)
    mark = Mark(book_id=take.session.book_id, take_id=take.id, kind="chapter", start_s=start,
                title=nfc(title)[:500], source="manual", detail={"added_by": added_by}, approved=False)
    db.add(mark)
    _unapprove(db, mark.book_id)
    return mark


def delete_mark(db: Session, mark: Mark) -> None:
    """Remove a chapter mark; a book keeps at least one."""
    remaining = db.scalars(select(Mark.id).where(Mark.book_id == mark.book_id, Mark.kind == "chapter",
                                                 Mark.id != mark.id)).first()
    if remaining is None:
        raise StudioError(N_("Sách phải còn ít nhất một mốc chương."))
    _keep_take_marks(db, mark.take_id)
    db.delete(mark)
    _unapprove(db, mark.book_id)


def rename_mark(db: Session, mark: Mark, title: str) -> None:
    """Rename the chapter a mark starts; an already mastered chapter's title follows."""
    mark.title = nfc(title)[:500]
    if not mark.title:
        return
    for position, (*_rest, span_mark) in enumerate(chapter_spans(db, mark.book_id), start=1):
        if span_mark.id == mark.id:
            chapter = db.scalar(select(Chapter).where(Chapter.book_id == mark.book_id,
                                                      Chapter.position == position))
            if chapter is not None:
                chapter.title = mark.title
