"""Issue 16.19: 403/404/500 were bare English pages. They are Vietnamese (English when chosen), with the
site's navigation and a way back; the API keeps JSON; a favicon is served."""
from __future__ import annotations

import pytest
from reader_helpers import login


def test_404_in_vietnamese_with_navigation_search_and_a_way_back(client, people):
    response = client.get("/khong-co-trang-nay", headers={"Referer": "http://localhost/search?q=a"})
    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert '<html lang="vi"' in html and "Không tìm thấy trang" in html and "Not Found" not in html
    assert 'aria-label="Điều hướng chính"' in html              # the site's navigation
    assert 'href="http://localhost/search?q=a"' in html and "Quay lại trang trước" in html
    assert 'role="search"' in html and "Về trang chủ" in html


def test_a_foreign_referrer_is_not_offered_as_the_way_back(client, people):
    html = client.get("/khong-co", headers={"Referer": "https://evil.example/phish"}).get_data(as_text=True)
    assert "evil.example" not in html


def test_404_in_english_when_chosen(client, people):
    client.get("/?lang=en")
    html = client.get("/books/999999").get_data(as_text=True)
    assert '<html lang="en"' in html and "Page not found" in html and "Không tìm thấy trang" not in html


def test_403_for_a_reader_on_a_staff_page(client, people):
    login(client, "bandoc")
    response = client.get("/stats/")
    assert response.status_code == 403
    html = response.get_data(as_text=True)
    assert "Bạn không có quyền xem trang này" in html and "Forbidden" not in html


def test_500_page_and_its_fallback(app, client, people):
    @app.get("/_test/boom")
    def boom():
        raise RuntimeError("boom")
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.get("/_test/boom")
    assert response.status_code == 500 and "Máy chủ gặp lỗi" in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)


def test_api_errors_stay_json(client, people):
    response = client.get("/api/khong-co")
    assert response.status_code == 404 and response.is_json


def test_favicon(client):
    from PIL import Image
    import io
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response.mimetype == "image/x-icon"
    assert Image.open(io.BytesIO(response.data)).format == "ICO"
    assert client.get("/static/favicon.svg").status_code == 200
    assert 'rel="icon"' in client.get("/").get_data(as_text=True)


@pytest.mark.browser
@pytest.mark.parametrize("width", [360, 1280])
def test_error_page_in_chromium_has_no_axe_violations(browser, live_server, people, width):
    from tests.reader.test_reader_browser import run_axe
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    response = page.goto(live_server.url + "/khong-co-trang-nay")
    assert response.status == 404
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 2
    page.screenshot(path=f"/tmp/reader-shots/404-{width}.png")
    assert run_axe(page) == []
    context.close()
