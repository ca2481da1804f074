"""Issue 16, what a reader sees: covers (16.6), the phone's first screen (16.7), Vietnamese decimal
comma in the player (16.8). Headless Debian Chromium at 360 and 1280 px, and the Flask client."""
from __future__ import annotations

import io

import pytest

from tests.reader.test_reader_browser import ui_login, wait_ready

SHOTS = "/tmp/reader-shots"


def _shot(page, name):
    import os
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=f"{SHOTS}/{name}.png", full_page=False)


# -- covers ---------------------------------------------------------------------------------------------

def test_generated_cover_is_a_png_with_the_title(app, client, make_book):
    """16.6: a book without an uploaded cover gets a plain typographic one (Pillow, DejaVu), not a 404."""
    from PIL import Image
    book_id = make_book("public", title="Đất rừng phương Nam")
    response = client.get(f"/covers/{book_id}.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    image = Image.open(io.BytesIO(response.data))
    assert image.size == (512, 512)
    # text drawn: white pixels on the dark ground, more than the frame alone
    white = sum(image.convert("L").histogram()[201:])
    assert white > 6000
    # a different title gives a different cover
    other = make_book("public", title="Dế Mèn phiêu lưu ký")
    assert client.get(f"/covers/{other}.png").data != response.data


def test_cover_of_a_hidden_book_is_not_served(client, make_book):
    draft = make_book("public", published=False)
    assert client.get(f"/covers/{draft}.png").status_code == 404
    assert client.get("/covers/999999.png").status_code == 404


def test_uploaded_cover_is_what_readers_see(app, client, make_book):
    """16.6: the librarian's upload (cover_path) is shown, with empty alt next to the title, on every page."""
    from catalog.books import update_book
    from catalog.covers import cover_link
    from catalog.models import Book
    book_id = make_book("public", title="Truyện có bìa")
    plain = make_book("public", title="Truyện không bìa")
    services = app.extensions["sachnoi"]
    with services.sessions.begin() as s:
        update_book(s, book_id, cover_path="covers/x.jpg")
    with services.sessions() as s:
        assert cover_link(s.get(Book, book_id)) == (f"/covers/{book_id}.jpg", "image/jpeg")
        assert cover_link(s.get(Book, plain)) == (f"/covers/{plain}.png", "image/png")
    for path in ("/", "/search?q=truyen", f"/books/{book_id}"):
        html = client.get(path).get_data(as_text=True)
        assert f'<img class="cover" src="/covers/{book_id}.jpg" alt=""' in html, path
    assert f'src="/covers/{plain}.png" alt=""' in client.get("/").get_data(as_text=True)


@pytest.mark.browser
@pytest.mark.parametrize("width,height", [(360, 800), (1280, 800)])
def test_covers_load_and_phone_first_screen(browser, live_server, make_book, people, width, height):
    """16.6 + 16.7: covers load on home/search/book; at 360×800 the title, narrator, duration and Play are on
    the first screen (Play was at y = 1 139 px), for a logged-in reader whose header is longest."""
    book_id = make_book("public", title="Truyện cổ tích Việt Nam chọn lọc, bốn truyện kể cho thiếu nhi")
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    ui_login(page, live_server.url, "bandoc")
    for path in ("/", "/search?q=truyen", f"/books/{book_id}"):
        page.goto(live_server.url + path)
        page.wait_for_load_state("networkidle")
        loaded = page.evaluate("Array.from(document.querySelectorAll('img.cover')).map(i => [i.alt, i.naturalWidth])")
        assert loaded and all(alt == "" and w == 512 for alt, w in loaded), (path, loaded)
        assert page.evaluate("document.documentElement.scrollWidth") <= width + 2, path
    wait_ready(page)
    _shot(page, f"book-{width}")
    boxes = page.evaluate("""() => Object.fromEntries(
        [['title', 'h1'], ['narrator', '.book-head dd'], ['duration', '.book-head dd:last-of-type'], ['play', '#play']]
        .map(([k, sel]) => { const r = document.querySelector(sel).getBoundingClientRect();
                             return [k, [r.top, r.bottom, r.height]]; }))""")
    for name, (top, bottom, h) in boxes.items():
        assert h > 0 and top >= 0 and bottom <= height, (name, boxes)
    context.close()
