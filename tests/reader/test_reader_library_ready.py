"""Issue 16, what a reader sees: covers (16.6), the phone's first screen (16.7), Vietnamese decimal
comma in the player (16.8). Headless Debian Chromium at 360 and 1280 px, and the Flask client."""
from __future__ import annotations

import io

import pytest

from tests.reader.test_reader_browser import ui_login, wait_ready

SHOTS = "/tmp/reader-shots"


def _shot(page, name, full_page=False):
    import os
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=f"{SHOTS}/{name}.png", full_page=full_page)


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


# -- speed with the Vietnamese decimal comma (16.8) ----------------------------------------------------

@pytest.mark.browser
def test_speed_typed_with_a_decimal_comma(app, browser, live_server, make_book, people):
    """16.8: typing "1,5" gave 15, clamped to 4×, saved and synced. Now 1,5 is 1.5; nonsense is refused."""
    from streaming import progress
    book_id = make_book("public")
    context = browser.new_context(viewport={"width": 360, "height": 800})
    page = context.new_page()
    ui_login(page, live_server.url, "bandoc")
    page.goto(f"{live_server.url}/books/{book_id}")
    wait_ready(page)
    assert page.input_value("#speed") == "1,0"
    page.fill("#speed", "1,5")
    page.press("#speed", "Enter")
    assert page.evaluate("document.getElementById('audio').playbackRate") == 1.5
    assert page.input_value("#speed") == "1,5"
    page.wait_for_function("() => document.getElementById('live').textContent.includes('1,5 lần')")
    page.fill("#speed", "1.2")  # the other separator works too
    page.press("#speed", "Enter")
    assert page.evaluate("document.getElementById('audio').playbackRate") == 1.2
    with page.expect_response(lambda r: "/progress" in r.url and r.request.method == "PUT"):
        page.click("#play")
        page.click("#play")
    with app.extensions["sachnoi"].sessions() as s:
        assert progress.get(s, user_id=people["bandoc"], book_id=book_id).speed == 1.2
    for nonsense in ("15", "abc", "1,5,3", "0,2"):
        page.fill("#speed", nonsense)
        page.press("#speed", "Enter")
        assert page.get_attribute("#speed", "aria-invalid") == "true", nonsense
        assert "từ 0,5 đến 4" in page.text_content("#speed-error")
        assert page.evaluate("document.getElementById('audio').playbackRate") == 1.2, nonsense
    _shot(page, "speed-error-360")
    page.goto(f"{live_server.url}/books/{book_id}?lang=en")
    wait_ready(page)
    assert page.input_value("#speed") == "1.2"
    context.close()


def test_speed_with_a_comma_is_accepted_by_the_api(client, make_book, people):
    """16.8: a client sending "1,5" gets 1.5, not a 500 or 15; "1,5,3" is refused with a message."""
    import time
    from reader_helpers import login
    book_id = make_book()
    csrf = login(client, "bandoc")
    body = {"position_s": 3, "event_time_ms": int(time.time() * 1000), "device_id": "phone", "seq": 1, "speed": "1,5"}
    response = client.put(f"/api/books/{book_id}/progress", json=body, headers={"X-CSRFToken": csrf})
    assert response.status_code == 200 and response.get_json()["progress"]["speed"] == 1.5
    body.update(seq=2, speed="1,5,3")
    response = client.put(f"/api/books/{book_id}/progress", json=body, headers={"X-CSRFToken": csrf})
    assert response.status_code == 400


def test_parse_decimal_accepts_both_separators_and_nothing_else():
    from catalog.text import parse_decimal
    assert parse_decimal("1,5") == parse_decimal("1.5") == parse_decimal(1.5) == 1.5
    assert parse_decimal(" 2 ") == 2.0
    for bad in ("1,5,3", "1.000,5", "abc", "", "1,", True, None):
        with pytest.raises(ValueError):
            parse_decimal(bad)


# -- time zone (16.10) ---------------------------------------------------------------------------------

def test_history_shows_library_time_not_utc(app, client, make_book, people):
    """16.10: listening history showed UTC; it shows the library's time zone (default Asia/Ho_Chi_Minh)."""
    import datetime as dt
    from catalog.models import Library, Progress
    from reader_helpers import login
    book_id = make_book()
    with app.extensions["sachnoi"].sessions.begin() as s:
        s.add(Progress(user_id=people["bandoc"], book_id=book_id, position_s=5, event_time_ms=1,
                       device_id="d", seq=1, updated_at=dt.datetime(2026, 3, 31, 20, 5)))
    login(client, "bandoc")
    page = client.get("/history").get_data(as_text=True)
    assert "01/04/2026 03:05" in page and "31/03/2026 20:05" not in page
    with app.extensions["sachnoi"].sessions.begin() as s:
        s.get(Library, people["library"]).time_zone = "Europe/Paris"
    assert "31/03/2026 22:05" in client.get("/history").get_data(as_text=True)


# -- dark mode and the browser's text size (16.21) -----------------------------------------------------

@pytest.mark.browser
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_colour_scheme_follows_the_system_with_no_axe_violations(app, browser, live_server, make_book, people,
                                                                scheme):
    """16.21: the site follows the system's colour scheme; axe-core (colour contrast included) finds no
    serious or critical violation in either scheme, at 360 and 1280 px, on reader, staff and error pages.
    16.9: chart labels (a long title) are whole on the statistics page and the yearly report."""
    import datetime as dt
    from catalog.models import ListeningEvent
    from tests.reader.test_reader_browser import run_axe
    book_id = make_book("public", title="Sách thử màu tối")
    long_id = make_book("public", title="Truyện cổ tích Việt Nam chọn lọc: bốn truyện kể cho thiếu nhi, bản đọc mẫu")
    year = dt.date.today().year
    with app.extensions["sachnoi"].sessions.begin() as s:
        for i, (book, seconds) in enumerate(((book_id, 600), (long_id, 5400))):
            for kind in ("play", "listen"):
                s.add(ListeningEvent(book_id=book, library_id=people["library"], listener=f"k{i}", kind=kind,
                                     seconds=seconds if kind == "listen" else 0, channel="web",
                                     created_at=dt.datetime(year, 1, 10 + i, 3)))
    problems = {}
    for width in (360, 1280):
        context = browser.new_context(viewport={"width": width, "height": 800}, color_scheme=scheme)
        page = context.new_page()
        page.goto(live_server.url + "/khong-co")
        problems[f"{width} 404"] = run_axe(page)
        ui_login(page, live_server.url, "thuthu")
        for path in ("/", "/search?q=sach", f"/books/{book_id}", "/history", "/stats/", "/stats/report",
                     "/librarian/", f"/librarian/books/{book_id}"):
            page.goto(live_server.url + path)
            problems[f"{width} {path}"] = run_axe(page)
            wide = page.evaluate(f"""Array.from(document.querySelectorAll('body *')).filter(e =>
                e.getBoundingClientRect().right > {width + 2}).map(e => e.tagName + '.' + e.className).slice(0, 6)""")
            assert page.evaluate("document.documentElement.scrollWidth") <= width + 2, (width, path, wide)
        page.goto(f"{live_server.url}/books/{book_id}")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == ("rgb(18, 18, 18)" if scheme == "dark" else "rgb(255, 255, 255)")
        _shot(page, f"book-{scheme}-{width}")
        for path in ("/stats/", "/stats/report"):
            page.goto(live_server.url + path)
            labels = page.evaluate("""Array.from(document.querySelectorAll('.chart-label')).map(e =>
                [e.textContent, e.scrollWidth <= e.clientWidth + 1, e.getBoundingClientRect().right <= innerWidth])""")
            assert any("bản đọc mẫu" in text for text, _, _ in labels), labels
            assert all(fits and inside for _, fits, inside in labels), labels
        page.goto(live_server.url + "/stats/")
        _shot(page, f"stats-{scheme}-{width}", full_page=True)
        context.close()
    assert {k: v for k, v in problems.items() if v} == {}


@pytest.mark.browser
def test_text_follows_the_browsers_font_size(browser, live_server, make_book, people):
    """16.21: with the browser's default text size set to 24 px (Chromium's setting, via CDP), page text
    is 24 px, not a fixed 16 px; the phone layout still fits 360 px without sideways scrolling."""
    book_id = make_book("public")
    context = browser.new_context(viewport={"width": 360, "height": 800})
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Page.enable")
    cdp.send("Page.setFontSizes", {"fontSizes": {"standard": 24, "fixed": 20}})
    for path in ("/", f"/books/{book_id}", "/khong-co"):
        page.goto(live_server.url + path)
        sizes = page.evaluate("""() => [getComputedStyle(document.body).fontSize,
            getComputedStyle(document.querySelector('main p, main label, main dd')).fontSize]""")
        assert sizes[0] == "24px", (path, sizes)
        assert float(sizes[1].rstrip("px")) >= 22, (path, sizes)
        wide = page.evaluate("""Array.from(document.querySelectorAll('body *'))
            .filter(e => e.getBoundingClientRect().right > 362).map(e => e.tagName + '.' + e.className).slice(0, 5)""")
        assert page.evaluate("document.documentElement.scrollWidth") <= 362, (path, wide)
    context.close()


# -- search finds the demo book (16.5) -------------------------------------------------------------------

@pytest.mark.parametrize("q", ["Thánh Gióng", "Son Tinh", "hai anh em"])
def test_search_page_finds_the_demo_book(demo_home, q):
    """16.5: "Thánh Gióng", "Sơn Tinh", "hai anh em" returned nothing for the book `sachnoi demo` publishes."""
    import uuid
    from web.app import create_app
    app = create_app({"HOME": str(demo_home), "SECRET_KEY": "demo-" + uuid.uuid4().hex, "RUN_WORKERS": False})
    html = app.test_client().get("/search", query_string={"q": q}).get_data(as_text=True)
    assert "1 kết quả" in html and "Truyện cổ tích Việt Nam chọn lọc" in html
    app.extensions["sachnoi"].engine.dispose()


@pytest.mark.browser
def test_jobs_and_history_tables_reflow_on_a_phone(app, browser, live_server, make_book, people):
    """16.7: the jobs table (8 columns) and the listening history were wider than a 360 px screen;
    on a phone each row becomes a block whose cells carry their column's name."""
    from catalog.models import Job, Progress
    book_id = make_book("public", title="Một đầu sách có nhan đề khá dài để thử bảng trên điện thoại")
    with app.extensions["sachnoi"].sessions.begin() as s:
        s.add(Job(kind="ingest", book_id=book_id, state="failed", stage="master", attempts=3, progress=42.0,
                  error="Traceback\nstudio.errors.QCRejected: chương 2 không đạt độ to tích hợp (LUFS)"))
        s.add(Progress(user_id=people["thuthu"], book_id=book_id, position_s=5, event_time_ms=1, device_id="d",
                       seq=1))
    for width in (360, 1280):
        context = browser.new_context(viewport={"width": width, "height": 800})
        page = context.new_page()
        ui_login(page, live_server.url, "thuthu")
        for path in ("/jobs/", "/history"):
            page.goto(live_server.url + path)
            assert page.evaluate("document.documentElement.scrollWidth") <= width + 2, (width, path)
            display = page.evaluate("getComputedStyle(document.querySelector('table.reflow td')).display")
            assert display == ("block" if width == 360 else "table-cell"), (width, path)
            _shot(page, f"table{path.replace('/', '-')}{width}")
        context.close()
