"""In Chromium: the book page with its talking-book links, and the refusal page, pass axe-core (no
serious or critical violation) in light and dark schemes; screenshots at 360 and 1280 px."""
from __future__ import annotations

from pathlib import Path

import pytest

from catalog import talking_books
from catalog.models import Book, Rendition
from test_reader_browser import run_axe, ui_login

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def _with_talking_books(app, book_id: int) -> None:
    services = app.extensions["sachnoi"]
    with services.sessions.begin() as s:
        book = s.get(Book, book_id)
        for kind in talking_books.KINDS.values():
            key = talking_books.key(book.uuid, kind)
            services.store.write_bytes(key, b"PK\x03\x04" + b"\x00" * 64)
            s.add(Rendition(book_id=book_id, kind=kind.kind, name=talking_books.FULL_TEXT, key=key, codec="zip"))


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_on_the_book_page_with_talking_books_and_on_the_refusal(app, browser, live_server, make_book, people,
                                                                    scheme):
    book_id = make_book("print-disabled", title="Sách Marrakesh")
    _with_talking_books(app, book_id)
    base = live_server.url
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems = {}
    for who, path in (("khiemthi", f"/books/{book_id}"), ("bandoc", f"/books/{book_id}/talking-book/epub3")):
        for width in (360, 1280):
            context = browser.new_context(color_scheme=scheme, viewport={"width": width, "height": 900})
            page = context.new_page()
            ui_login(page, base, who)
            page.goto(base + path)
            if who == "khiemthi":
                link = page.locator(f'a[href="/books/{book_id}/talking-book/daisy202"]')
                assert link.is_visible()
            else:
                assert "Marrakesh" in page.inner_text("main")
            page.screenshot(path=str(SHOTS / f"talking-book-{who}-{scheme}-{width}.png"), full_page=True)
            problems[f"{who} {width}"] = run_axe(page)
            context.close()
    assert {k: v for k, v in problems.items() if v} == {}
