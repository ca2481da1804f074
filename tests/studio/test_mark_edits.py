"""Staff edits of chapter marks: typed times, the minimum gap, the last mark, provenance kept."""
import pytest
from sqlalchemy import select

from catalog.accounts import get_or_create_library
from catalog.books import create_book
from catalog.models import Mark, Original, RecordingSession, Take
from studio import mark_edits
from studio.errors import StudioError


@pytest.mark.parametrize("text, expected", [("75.5", 75.5), ("1:15.5", 75.5), ("0:01:15,5", 75.5), ("0", 0.0)])
def test_parse_time_accepts_seconds_and_clock_forms(text, expected):
    assert mark_edits.parse_time(text, 100.0) == expected


@pytest.mark.parametrize("text", ["", "abc", "-1", "1:2:3:4", "inf", "nan", "100", "2:00"])
def test_parse_time_refuses_bad_or_out_of_range_times(text):
    with pytest.raises(StudioError):
        mark_edits.parse_time(text, 100.0)


@pytest.fixture
def take(app):
    sessions = app.extensions["sachnoi"].sessions
    with sessions.begin() as s:
        lib = get_or_create_library(s, "THV")
        book = create_book(s, library=lib, title="Sách thử")
        s.flush()
        rec = RecordingSession(book_id=book.id)
        s.add(rec)
        s.add(Original(sha256="a" * 64, size_bytes=1))
        s.flush()
        t = Take(session_id=rec.id, position=1, original_sha256="a" * 64, duration_s=60.0)
        s.add(t)
        s.flush()
        s.add_all([Mark(book_id=book.id, take_id=t.id, start_s=0.0, source="pauses", approved=True),
                   Mark(book_id=book.id, take_id=t.id, start_s=30.0, source="pauses", approved=True)])
        return t.id


def test_move_keeps_provenance_freezes_pause_marks_and_withdraws_approval(app, take):
    sessions = app.extensions["sachnoi"].sessions
    with sessions.begin() as s:
        second = s.scalars(select(Mark).where(Mark.start_s == 30.0)).one()
        assert mark_edits.move_mark(s, second, "0:32") == 32.0
    with sessions() as s:
        marks = s.scalars(select(Mark).order_by(Mark.start_s)).all()
        assert [(m.start_s, m.source, m.approved) for m in marks] == [(0.0, "manual", False), (32.0, "manual", False)]
        assert marks[1].detail["from_source"] == "pauses" and marks[1].detail["from_start_s"] == 30.0


def test_add_refuses_a_mark_too_close_and_delete_keeps_the_last(app, take):
    sessions = app.extensions["sachnoi"].sessions
    with sessions.begin() as s:
        t = s.get(Take, take)
        with pytest.raises(StudioError):
            mark_edits.add_mark(s, t, "30.2")
        mark_edits.add_mark(s, t, "45", "Chương ba")
    with sessions.begin() as s:
        marks = s.scalars(select(Mark).order_by(Mark.start_s)).all()
        assert [m.start_s for m in marks] == [0.0, 30.0, 45.0]
        mark_edits.delete_mark(s, marks[1])
        mark_edits.delete_mark(s, marks[2])
    with sessions.begin() as s:
        last = s.scalars(select(Mark)).one()
        with pytest.raises(StudioError):
            mark_edits.delete_mark(s, last)
