"""End to end: the demo session, ingested, is listed on the reader site and plays in Chromium."""
from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def demo_server(demo_home, start_server):
    from web.app import create_app
    app = create_app({"HOME": str(demo_home), "SECRET_KEY": "demo-" + uuid.uuid4().hex})
    yield start_server(app)
    app.extensions["sachnoi"].engine.dispose()


@pytest.mark.browser
def test_demo_book_is_listed_and_plays(browser, demo_server):
    context = browser.new_context()
    page = context.new_page()
    page.goto(demo_server.url + "/")
    link = page.get_by_role("link", name="Truyện cổ tích Việt Nam chọn lọc")
    link.click()
    page.wait_for_load_state("networkidle")
    page.locator("audio").evaluate("a => { a.muted = true; }")
    page.locator("#play").click()
    page.wait_for_function("() => document.querySelector('audio').currentTime > 1.0", timeout=20_000)
    first = page.evaluate("document.querySelector('audio').currentTime")
    page.wait_for_timeout(1500)
    second = page.evaluate("document.querySelector('audio').currentTime")
    assert second > first
    assert page.evaluate("document.querySelector('audio').paused") is False
    context.close()
