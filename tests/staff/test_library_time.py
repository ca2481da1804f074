"""Issue 16.10: times staff type and read on the librarian pages are in the library's time zone
(they were fixed at UTC+7 whatever the library's setting)."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from catalog.models import Book, Library


@pytest.mark.parametrize("zone, utc_hour", [("Asia/Ho_Chi_Minh", 1), ("Europe/Paris", 7)])
def test_scheduled_publication_is_read_in_the_librarys_zone(login, app, published_book, zone, utc_hour):
    from catalog.models import Rendition
    sessions = app.extensions["sachnoi"].sessions
    with sessions.begin() as s:
        s.scalar(select(Library).where(Library.code == "THV")).time_zone = zone
        s.add(Rendition(book_id=published_book, kind="hls", name="aac-64k", key="hls", codec="aac", bitrate=64000))
    staff = login("lib1")
    assert staff.post(f"/librarian/books/{published_book}/withdraw", {}).status_code in (302, 303)
    response = staff.post(f"/librarian/books/{published_book}/publish", {"publish_at": "2030-01-10T08:00"})
    assert response.status_code in (302, 303)
    with sessions() as s:
        assert s.get(Book, published_book).publish_at == dt.datetime(2030, 1, 10, utc_hour, 0)
    page = staff.get(f"/librarian/books/{published_book}").get_data(as_text=True)
    assert 'value="2030-01-10T08:00"' in page  # shown back as it was typed, in the library's zone
