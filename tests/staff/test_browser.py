"""Browser tests (Chromium + Playwright): studio → librarian → reader, clips and embed, screenshots of
every staff page at 360 px and 1280 px (artifacts/screenshots/), axe-core on every staff page."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from catalog.models import Book, Clip, Mark

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
pytestmark = [pytest.mark.browser, pytest.mark.slow]


def sign_in(browser, server, username, width=1280, scheme="light"):
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="vi-VN", color_scheme=scheme)
    page = context.new_page()
    page.goto(server.url + "/login")
    page.fill("#username", username)
    page.fill("#password", f"mat-khau-{username}")
    page.click("form [type=submit]")
    page.wait_for_load_state()
    return context, page


def wait_until(page, js: str, timeout_s: float = 30.0) -> None:
    """Poll a JS expression (page.wait_for_function evaluates strings, which the CSP forbids)."""
    import time
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(f"() => Boolean({js})"):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {js}")
        page.wait_for_timeout(200)


def axe_violations(page, server) -> list[dict]:
    # add_script_tag(path=...) inlines the file, which the CSP blocks; the vendor copy is same-origin
    page.add_script_tag(url=server.url + "/static/vendor/axe.min.js")
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def shoot_and_check(browser, server, username, pages, name_prefix):
    """Screenshots at both widths and axe-core on each page, in the light and the dark colour scheme;
    returns the serious/critical violations."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems = {}
    for width, scheme in ((360, "light"), (1280, "light"), (1280, "dark")):
        context, page = sign_in(browser, server, username, width, scheme)
        for name, path in pages:
            response = page.goto(server.url + path)
            assert response.status == 200, (path, response.status)
            page.screenshot(path=str(SHOTS / f"{name_prefix}-{name}-{width}{'-dark' if scheme == 'dark' else ''}.png"),
                            full_page=True)
            if width == 1280:
                found = axe_violations(page, server)
                if found:
                    problems[f"{path} ({scheme})"] = found
        context.close()
    return problems


def test_studio_to_reader_and_clips(browser, live_server, app, users, session_files):
    server = live_server
    sessions = app.extensions["sachnoi"].sessions
    csp_errors = []

    # -- studio: new book, upload a generated session (tus), detect, move a boundary, approve -------
    context, page = sign_in(browser, server, "studio1")
    page.on("console", lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(server.url + "/studio/")
    page.fill("#nb-title", "Sách thử trình duyệt")
    page.click("text=Tạo sách")
    page.wait_for_selector("#session-files")
    page.set_input_files("#session-files", [str(p) for p in session_files])
    page.click("#upload-button")
    page.wait_for_selector("#upload-list progress", timeout=10000)
    wait_until(page, "document.getElementById('upload-status').textContent.length > 0 && "
                     "!document.getElementById('upload-button').disabled")
    assert "tất cả" in page.text_content("#upload-status")
    page.wait_for_timeout(1500)  # the page reloads itself after the uploads
    page.goto(page.url)
    assert page.locator("#sessions-h ~ ol li").count() == 2, page.content()
    page.click("#detect-button")
    page.wait_for_selector("svg.waveform", timeout=60000)
    with sessions() as s:
        book_id = s.scalar(select(Book.id).where(Book.title == "Sách thử trình duyệt"))
        second = s.scalars(select(Mark).where(Mark.book_id == book_id).order_by(Mark.take_id, Mark.start_s)).all()[1]
    page.fill(f"#move-{second.id}", "8.1")
    page.click(f"#mark-{second.id} .move-button")
    page.wait_for_selector(f"#mark-{second.id} .source:has-text('ban đầu')")
    page.click("#approve-marks")  # mastering is a job: the book page follows it and reloads when done
    page.wait_for_selector("#chapters-h", timeout=15000)
    page.wait_for_selector("#approve-all", timeout=120000)
    page.click("#approve-all")
    page.wait_for_selector("text=Đã đóng gói", timeout=120000)
    with sessions() as s:
        book = s.get(Book, book_id)
        assert len(book.chapters) == 3 and abs(book.chapters[0].duration_s - 8.1) < 0.05
        assert all(c.review_state == "approved" for c in book.chapters)
        chapter_id = book.chapters[0].id
    context.close()

    # -- librarian publishes; a reader sees the book ---------------------------------------------------
    context, page = sign_in(browser, server, "lib1")
    page.goto(f"{server.url}/librarian/books/{book_id}")
    page.click("#publish-button")
    page.wait_for_selector("text=Đã xuất bản")
    context.close()
    context, page = sign_in(browser, server, "reader1")
    page.goto(server.url + "/")
    assert "Sách thử trình duyệt" in page.content()
    context.close()

    # -- librarian makes a clip; MP3 and MP4 exist; the feed lists it; the embed page plays --------------
    context, page = sign_in(browser, server, "lib1")
    page.goto(f"{server.url}/clips/new?book_id={book_id}")
    page.fill("#start", "1")
    page.fill("#end", "5")
    page.fill("#clip-title", "Nghe thử trong trình duyệt")
    page.click("#make-clip")  # returns at once: the render is a job; the clip page follows its progress
    page.wait_for_selector("#publish-clip", timeout=15000)
    if page.query_selector(".job-progress"):  # still rendering (nearly always): the progress state is checked too
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "librarian-clips-edit-rendering-1280.png"), full_page=True)
        assert axe_violations(page, server) == []
    # job-progress.js polls the job feed and reloads the page when the job is done
    page.wait_for_selector("a[download]:has-text('Tải MP3')", timeout=90000)
    page.click("#publish-clip")
    page.wait_for_selector("text=Đã đăng đoạn giới thiệu")
    with sessions() as s:
        clip = s.scalars(select(Clip)).one()
        store = app.extensions["sachnoi"].store
        assert store.path(clip.mp3_key).stat().st_size == clip.mp3_bytes > 0
        assert store.path(clip.mp4_key).stat().st_size > 0
        uuid, clip_id = clip.uuid, clip.id
    import feedparser
    import requests
    feed = feedparser.parse(requests.get(server.url + "/clips/feed.xml", timeout=10).content)
    (item,) = feed.entries
    assert int(item.enclosures[0].length) == clip.mp3_bytes
    context.close()

    embed_context = browser.new_context()
    embed = embed_context.new_page()
    embed.goto(f"{server.url}/embed/clips/{uuid}")
    embed.evaluate("() => { const a = document.getElementById('embed-audio'); a.muted = true; a.play(); }")
    wait_until(embed, "document.getElementById('embed-audio').currentTime > 0.3", 15)
    embed_context.close()

    # -- screenshots and axe on every staff page -------------------------------------------------------------
    problems = {}
    problems.update(shoot_and_check(browser, server, "studio1", [
        ("studio-index", "/studio/"), ("studio-book", f"/studio/books/{book_id}"),
        ("studio-editor", f"/studio/books/{book_id}/chapters"), ("studio-qc", f"/studio/chapters/{chapter_id}/qc"),
    ], "studio"))
    problems.update(shoot_and_check(browser, server, "lib1", [
        ("librarian-index", "/librarian/"), ("librarian-book", f"/librarian/books/{book_id}"),
        ("librarian-readers", "/librarian/readers"), ("clips-index", "/clips/"),
        ("clips-new", f"/clips/new?book_id={book_id}"), ("clips-edit", f"/clips/{clip_id}/edit"),
        ("clip-public", f"/clips/{uuid}"), ("clip-embed", f"/embed/clips/{uuid}"), ("stats", "/stats/"),
    ], "librarian"))
    problems.update(shoot_and_check(browser, server, "admin1", [("admin", "/admin/")], "admin"))
    assert not problems, json.dumps(problems, ensure_ascii=False, indent=1)
    assert not csp_errors, csp_errors
