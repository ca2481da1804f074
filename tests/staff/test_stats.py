"""Statistics: aggregates by title, library, month and channel; CSV and XLSX; no reader identity."""
from __future__ import annotations

import datetime as dt
import io

import pytest
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
    assert "Truyện Kiều" in page and "hash-" not in page and "chart-bars" in page
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


# -- issue 16.9 and 16.10: hours and minutes, filters, local periods, the yearly report -------------------

def _events(app, book_id, rows):
    """rows: (listener, kind, seconds, UTC datetime)"""
    with app.extensions["sachnoi"].sessions.begin() as s:
        thv = s.scalar(select(Library).where(Library.code == "THV"))
        for who, kind, secs, when in rows:
            s.add(ListeningEvent(book_id=book_id, library_id=thv.id, listener=who, kind=kind, seconds=secs,
                                 channel="web", created_at=when))


def test_hours_are_shown_as_hours_and_minutes(app, login, published_book):
    """16.9: 36 s of listening showed as "0.01" hours; 1 h 30 min showed as "1.50"."""
    _events(app, published_book, [("a", "play", 0, dt.datetime(2026, 5, 1, 3)),
                                   ("a", "listen", 5400, dt.datetime(2026, 5, 1, 3)),
                                   ("b", "listen", 36, dt.datetime(2026, 6, 2, 3))])
    page = login("lib1").get("/stats/?year=2026").get_data(as_text=True)
    assert "1 giờ 31 phút" in page and "1 giờ 30 phút" in page and "1 phút" in page
    assert "1.51" not in page and "0.01" not in page


def test_periods_are_read_in_the_library_time_zone():
    """16.10: 31 March 20:00 UTC is 1 April 03:00 in Vietnam: it belongs to April and to Q2."""
    from streaming.stats import StatsError, period_range
    start, end = period_range("month", "2026-04")
    assert (start, end) == (dt.datetime(2026, 3, 31, 17), dt.datetime(2026, 4, 30, 17))
    assert period_range("quarter", "2026-Q2") == (dt.datetime(2026, 3, 31, 17), dt.datetime(2026, 6, 30, 17))
    assert period_range("range", "2026-01-15..2026-01-15") == (dt.datetime(2026, 1, 14, 17),
                                                               dt.datetime(2026, 1, 15, 17))
    assert period_range("year", "2026", "Europe/Paris")[0] == dt.datetime(2025, 12, 31, 23)
    for kind, value in (("month", "2026-13"), ("quarter", "2026-Q5"), ("range", "2026-03-01..2026-01-01"),
                        ("week", "1"), ("year", "abc")):
        with pytest.raises(StatsError):
            period_range(kind, value)


def test_filters_month_quarter_range_title_subject_and_reader_group(app, login, published_book):
    """16.9: filters by period, title, subject and reader group (verified print-disabled readers)."""
    from catalog.books import create_book, publish
    from catalog.models import User, utcnow
    from streaming.events import listener_key
    from streaming.stats import Filters, period_range
    secret = app.config["SECRET_KEY"]
    with app.extensions["sachnoi"].sessions.begin() as s:
        thv = s.scalar(select(Library).where(Library.code == "THV"))
        other = create_book(s, library=thv, title="Sách khác", subjects=["Lịch sử"])
        publish(s, other)
        other_id = subject_id = None
        s.flush()
        other_id, subject_id = other.id, other.subjects[0].subject_id
        reader = s.scalar(select(User).where(User.username == "reader1"))
        reader.print_disabled_verified_at = utcnow()
        blind = listener_key(secret, user_id=reader.id)
    _events(app, published_book, [(blind, "play", 0, dt.datetime(2026, 3, 31, 20)),      # April in Vietnam
                                   ("x", "play", 0, dt.datetime(2026, 3, 31, 10))])       # March
    _events(app, other_id, [("y", "play", 0, dt.datetime(2026, 7, 5, 10))])
    from streaming.stats import totals
    with app.extensions["sachnoi"].sessions() as s:
        def plays(**kw):
            return totals(s, filters=Filters(**kw)).plays
        april = period_range("month", "2026-04")
        assert plays(start=april[0], end=april[1]) == 1
        q1 = period_range("quarter", "2026-Q1")
        assert plays(start=q1[0], end=q1[1]) == 1
        assert plays(book_id=other_id) == 1 and plays(subject_id=subject_id) == 1
        assert plays(listeners=frozenset({blind})) == 1 and plays(listeners=frozenset()) == 0
    lib = login("lib1")
    page = lib.get("/stats/?period=month&value=2026-04&year=2026&group=print-disabled").get_data(as_text=True)
    assert '<dd>1</dd>' in page  # one play, by the print-disabled reader
    page = lib.get(f"/stats/?year=2026&subject={subject_id}").get_data(as_text=True)
    assert "Sách khác" in page and "Truyện Kiều" not in page.split("<h2", 1)[1]
    bad = lib.get("/stats/?period=month&value=2026-13&year=2026")
    assert bad.status_code == 400 and "Kỳ thống kê không hợp lệ" in bad.get_data(as_text=True)
    assert lib.get("/stats/?period=range&from=2026-01-01&to=2026-02-01&year=2026").status_code == 200


def test_yearly_report_html_and_xlsx_with_growth(app, login, published_book):
    """16.9: readers, listening hours, titles and growth against last year, print-ready HTML and XLSX with a chart."""
    _events(app, published_book, [("a", "play", 0, dt.datetime(2025, 6, 1, 3)),
                                   ("a", "listen", 3600, dt.datetime(2025, 6, 1, 3)),
                                   ("a", "play", 0, dt.datetime(2026, 6, 1, 3)),
                                   ("b", "play", 0, dt.datetime(2026, 6, 2, 3)),
                                   ("b", "listen", 5400, dt.datetime(2026, 6, 2, 3))])
    lib = login("lib1")
    page = lib.get("/stats/report?year=2026").get_data(as_text=True)
    assert "Báo cáo nghe sách nói năm 2026" in page and 'class="chart-bars"' in page
    assert "+100,0 %" in page      # readers 2 against 1, Vietnamese decimal comma
    assert "+50,0 %" in page       # 1 h 30 min against 1 h
    assert "1 giờ 30 phút" in page
    response = lib.get("/stats/report.xlsx?year=2026")
    book = load_workbook(io.BytesIO(response.data))
    summary = {row[0]: row[1:] for row in book.worksheets[0].iter_rows(min_row=3, values_only=True)}
    assert summary["Bạn đọc (không trùng)"] == (2, 1, 1.0)
    assert summary["Giờ nghe"] == (1.5, 1.0, 0.5)
    months = book.worksheets[1]
    assert [r for r in months.iter_rows(min_row=2, values_only=True)] == [("2026-06", 1.5, 2, 2)]
    assert len(months._charts) == 1


def test_chart_labels_are_whole_and_inside_the_chart():
    """16.9: labels were right-aligned at x=190 and cut to 40 characters: long titles lost their start."""
    from streaming.stats import StatRow
    from web.stats import bar_chart
    long_title = "Truyện cổ tích Việt Nam chọn lọc: bốn truyện kể cho thiếu nhi"
    chart = bar_chart([StatRow(long_title, 5, 1, 1.0, 0), StatRow("Ngắn", 1, 1, 0.1, 0)], "plays", "x")
    assert chart["bars"][0]["label"] == long_title           # whole, never cut
    assert [bar["pct"] for bar in chart["bars"]] == [100.0, 20.0]


def test_library_time_zone_setting(app, login):
    """16.10: the library's time zone is a setting (default Asia/Ho_Chi_Minh); a bad name changes nothing."""
    lib = login("lib1")
    page = lib.get("/stats/?year=2026").get_data(as_text=True)
    assert 'value="Asia/Ho_Chi_Minh"' in page
    assert lib.post("/stats/time-zone", data={"time_zone": "Mars/Olympus"}).status_code == 303
    with app.extensions["sachnoi"].sessions() as s:
        assert s.scalar(select(Library.time_zone).where(Library.code == "THV")) == "Asia/Ho_Chi_Minh"
    assert "Múi giờ không hợp lệ" in lib.get("/stats/?year=2026").get_data(as_text=True)
    assert lib.post("/stats/time-zone", data={"time_zone": "Asia/Bangkok"}).status_code == 302
    with app.extensions["sachnoi"].sessions() as s:
        assert s.scalar(select(Library.time_zone).where(Library.code == "THV")) == "Asia/Bangkok"
        assert s.scalar(select(Library.time_zone).where(Library.code == "HUYEN1")) == "Asia/Ho_Chi_Minh"
    assert 'value="Asia/Bangkok"' in lib.get("/stats/?year=2026").get_data(as_text=True)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_local_months_and_yearly_report_on_both_databases(request, tmp_path, database):
    """16.9/16.10 on SQLite and PostgreSQL: an event at 31 March 20:00 UTC counts for April (Vietnam),
    and the yearly report's figures agree."""
    from catalog import migrate
    from catalog.db import make_engine, make_sessionmaker
    from streaming.stats import Filters, aggregate, yearly_report
    url = f"sqlite:///{tmp_path}/s.db" if database == "sqlite" else request.getfixturevalue("pg_url")
    migrate.upgrade(url)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as s:
        from catalog.books import create_book
        lib = Library(code="THV", name="Thư viện tỉnh", kind="province")
        s.add(lib)
        s.flush()
        book = create_book(s, library=lib, title="Sách")
        for who, kind, secs, when in (("a", "play", 0, dt.datetime(2026, 3, 31, 20)),
                                      ("a", "listen", 1800, dt.datetime(2026, 3, 31, 20)),
                                      ("b", "play", 0, dt.datetime(2025, 3, 1, 3))):
            s.add(ListeningEvent(book_id=book.id, library_id=lib.id, listener=who, kind=kind, seconds=secs,
                                 created_at=when))
        s.commit()
        months = {r.key: r.plays for r in aggregate(s, "month", filters=Filters(utc_offset_h=7.0))}
        assert months == {"2025-03": 1, "2026-04": 1}
        report = yearly_report(s, 2026)
        assert (report["this"].readers, report["this"].hours, report["last"].readers) == (1, 0.5, 1)
        assert report["growth"]["readers"] == 0.0 and [r.key for r in report["months"]] == ["2026-04"]
    engine.dispose()
