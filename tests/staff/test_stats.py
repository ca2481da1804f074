"""Statistics: aggregates by title, library, month and channel; CSV and XLSX; no reader identity."""
from __future__ import annotations

import datetime as dt
import io

from openpyxl import load_workbook
from sqlalchemy import select

from catalog.models import Library, ListeningEvent
from streaming.stats import aggregate, totals, year_range


def seed(app, book_id):
    with app.extensions["sachnoi"].sessions.begin() as s:
        thv = s.scalar(select(Library).where(Library.code == "THV"))
        other = s.scalar(select(Library).where(Library.code == "HUYEN1"))
        rows = [  # (library, listener, kind, seconds, channel, month)
            (thv, "hash-a", "play", 0, "web", 3), (thv, "hash-a", "listen", 1800, "web", 3),
            (thv, "hash-b", "play", 0, "onsite", 3), (thv, "hash-b", "listen", 1800, "onsite", 4),
            (thv, "hash-b", "complete", 0, "onsite", 4), (other, "hash-c", "play", 0, "web", 4),
            (other, "hash-c", "listen", 3600, "web", 4)]
        for lib, who, kind, secs, channel, month in rows:
            s.add(ListeningEvent(book_id=book_id, library_id=lib.id, listener=who, kind=kind, seconds=secs,
                                 channel=channel, created_at=dt.datetime(2026, month, 10, 12)))
        s.add(ListeningEvent(book_id=book_id, library_id=thv.id, listener="hash-z", kind="play",
                             created_at=dt.datetime(2025, 12, 31, 23)))  # outside the year
        return thv.id


def test_aggregates(app, published_book):
    thv = seed(app, published_book)
    start, end = year_range(2026)
    with app.extensions["sachnoi"].sessions() as s:
        months = {r.key: r.as_tuple()[1:] for r in aggregate(s, "month", library_id=thv, start=start, end=end)}
        assert months == {"2026-03": (2, 2, 0.5, 0), "2026-04": (0, 1, 0.5, 1)}
        channels = {r.key: (r.plays, r.listeners) for r in aggregate(s, "channel", start=start, end=end)}
        assert channels == {"web": (2, 2), "onsite": (1, 1)}
        libraries = {r.key: r.hours for r in aggregate(s, "library", start=start, end=end)}
        assert libraries == {"Thư viện tỉnh": 1.0, "Thư viện huyện": 1.0}
        total = totals(s, start=start, end=end)
        assert (total.plays, total.listeners, total.hours, total.completions) == (3, 3, 2.0, 1)


def test_pages_and_exports(app, login, published_book):
    seed(app, published_book)
    lib = login("lib1")
    page = lib.get("/stats/?year=2026").get_data(as_text=True)
    assert "Truyện Kiều" in page and "hash-" not in page and "<svg" in page
    csv_text = lib.get("/stats/export.csv?year=2026").get_data(as_text=True)
    assert "hash-" not in csv_text
    assert "month,2026-03,2,2,0.5,0" in csv_text.replace("\r", "")
    assert "Thư viện huyện" not in csv_text  # own library only
    admin = login("admin1")
    xlsx = admin.get("/stats/export.xlsx?year=2026")
    book = load_workbook(io.BytesIO(xlsx.data))
    assert "Theo thư viện" in book.sheetnames
    values = [tuple(r) for r in book["Theo thư viện"].iter_rows(min_row=2, values_only=True)]
    assert sorted(v[0] for v in values) == ["Thư viện huyện", "Thư viện tỉnh"]
    assert all("hash-" not in str(c) for sheet in book for row in sheet.iter_rows(values_only=True) for c in row)
