"""What a librarian may publish (found by an outside tester): a book whose chapter failed QC and was
never made playable went live, with a manifest pointing at audio that does not exist; and scheduling
a live book for later silently took it away from readers until then."""
from __future__ import annotations

from sqlalchemy import select

from catalog.books import is_visible, publication_problems
from catalog.models import Book, Chapter, Rendition


def _draft(app, *, qc_passed, review_state="pending", master=True, packaged=True) -> int:
    from catalog.books import create_book
    from catalog.models import Library
    with app.extensions["sachnoi"].sessions.begin() as s:
        book = create_book(s, library=s.scalar(select(Library).where(Library.code == "THV")), title="Sách thử")
        s.add(Chapter(book_id=book.id, position=1, title="Chương 1", duration_s=8.0, qc={},
                      master_key="derived/x.flac" if master else "", qc_passed=qc_passed, review_state=review_state))
        if packaged:
            s.add(Rendition(book_id=book.id, kind="hls", name="aac-64k", key="hls", codec="aac", bitrate=64000))
        s.flush()
        return book.id


def _publish(staff, book_id, when=""):
    response = staff.post(f"/librarian/books/{book_id}/publish", {"publish_at": when})
    assert response.status_code in (302, 303)
    return staff.get(f"/librarian/books/{book_id}").get_data(as_text=True)


def _live(app, book_id) -> bool:
    with app.extensions["sachnoi"].sessions() as s:
        return is_visible(s.get(Book, book_id))


def test_a_book_that_failed_qc_or_is_not_packaged_is_not_published(login, app, users):
    staff = login("lib1")
    failed = _draft(app, qc_passed=False)
    page = _publish(staff, failed)
    assert "chưa đạt QC" in page and not _live(app, failed)
    sent_back = _draft(app, qc_passed=True, review_state="rejected")
    assert "chưa đạt QC" in _publish(staff, sent_back) and not _live(app, sent_back)
    unpackaged = _draft(app, qc_passed=True, packaged=False)
    assert "chưa được đóng gói" in _publish(staff, unpackaged) and not _live(app, unpackaged)
    approved = _draft(app, qc_passed=False, review_state="approved")  # a person listened and accepted it
    _publish(staff, approved)
    assert _live(app, approved)


def test_a_live_book_is_not_rescheduled_out_of_sight(login, app, users):
    staff = login("lib1")
    book_id = _draft(app, qc_passed=True)
    _publish(staff, book_id)
    assert _live(app, book_id)
    page = _publish(staff, book_id, "2030-01-01T08:00")
    assert "rút sách trước" in page and _live(app, book_id)
    with app.extensions["sachnoi"].sessions() as s:
        assert publication_problems(s.get(Book, book_id)) == []  # publishing it now again is fine
