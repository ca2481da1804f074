"""Formula injection (issue 14.2): every CSV and XLSX the platform writes shows a hostile title as text.

Attack: a title (or clip name, bookmark note) such as `=HYPERLINK("http://x","y")` is stored as
plain text, then a librarian opens a statistics or open-data export in a spreadsheet program, where
it becomes a live formula (CSV / formula injection, OWASP). Files are read back with the clients
spreadsheet programs use: openpyxl for XLSX, the csv module for CSV.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re

from openpyxl import load_workbook
from sqlalchemy import select

from catalog.models import Book, Bookmark, ListeningEvent, User
from catalog.spreadsheet import csv_cell, csv_text

HOSTILE = '=HYPERLINK("http://x","y")'
OTHERS = ("+1+2", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "=cmd|'/c calc'!A0")


def _retitle(app, book_id: int, title: str) -> None:
    with app.extensions["sachnoi"].sessions.begin() as s:
        book = s.get(Book, book_id)
        book.title = title
        s.add(ListeningEvent(book_id=book_id, library_id=book.library_id, listener="h", kind="play",
                             channel="web", created_at=dt.datetime(2026, 3, 10, 12)))


def _csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def test_csv_cells_that_start_a_formula_get_a_quote_and_numbers_stay():
    """Attack: formula injection through any CSV writer. OWASP's list (= + - @ tab CR) gets `'`;
    a negative number and plain text are written as they are."""
    rows = _csv_rows(csv_text([[HOSTILE, *OTHERS, -1.5, 0, "Truyện Kiều", "a = b"]]))
    assert rows == [["'" + HOSTILE, *("'" + v for v in OTHERS), "-1.5", "0", "Truyện Kiều", "a = b"]]
    assert csv_cell(-3) == -3


def test_stats_xlsx_writes_a_formula_like_title_as_text(app, login, published_book):
    """Attack: `=HYPERLINK(...)` as a title becomes a live formula in /stats/export.xlsx."""
    _retitle(app, published_book, HOSTILE)
    data = login("lib1").get("/stats/export.xlsx?year=2026").data
    sheet = load_workbook(io.BytesIO(data))["Theo đầu sách"]
    cell = sheet["A2"]
    assert cell.value == HOSTILE
    assert cell.data_type == "s" and cell.quotePrefix  # text, and stays text when edited in Excel
    assert not any(c.data_type == "f" for row in sheet.iter_rows() for c in row)
    assert sheet["B2"].value == 1 and sheet["B2"].data_type == "n"  # figures stay numbers


def test_stats_csv_escapes_a_formula_like_title(app, login, published_book):
    """Attack: `=HYPERLINK(...)` as a title becomes a live formula in /stats/export.csv."""
    _retitle(app, published_book, HOSTILE)
    rows = _csv_rows(login("lib1").get("/stats/export.csv?year=2026").get_data(as_text=True))
    titles = [r[1] for r in rows if r[0] == "title"]
    assert titles == ["'" + HOSTILE]
    assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row)


def test_opendata_csv_escapes_a_formula_like_title(app, published_book):
    """Attack: a public title `=HYPERLINK(...)` becomes a formula in /opendata/catalog.csv,
    which anyone downloads and opens in a spreadsheet."""
    _retitle(app, published_book, HOSTILE)
    rows = _csv_rows(app.test_client().get("/opendata/catalog.csv").get_data(as_text=True))
    title = rows[0].index("dcterms:title")
    assert [r[title] for r in rows[1:]] == ["'" + HOSTILE]


def test_bookmark_csv_escapes_a_formula_like_note(app, login, published_book):
    """Attack: a bookmark note `@SUM(...)` (or a title) becomes a formula in the reader's CSV export."""
    with app.extensions["sachnoi"].sessions.begin() as s:
        user = s.scalar(select(User).where(User.username == "reader1"))
        s.add(Bookmark(user_id=user.id, book_id=published_book, position_s=3.0, title=HOSTILE, note="@SUM(1+1)*cmd"))
    client = login("reader1")
    text = client.get(f"/api/books/{published_book}/bookmarks/export?format=csv").get_data(as_text=True)
    rows = _csv_rows(text)
    assert rows[1][2:] == ["'" + HOSTILE, "'@SUM(1+1)*cmd"]
    assert re.match(r"0:00:03", rows[1][0])
