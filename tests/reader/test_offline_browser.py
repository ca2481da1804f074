"""Offline listening in headless Chromium: download a title, play it with the network off, queue
progress and a bookmark offline and sync them when back online (never moving the reader back),
lose the copy on reconnect when the policy changes, the installable web app, axe-core and screenshots.

"Network off" is two things here: the page's context is set offline (navigator.onLine, the
`online` event, the page's own requests), and the server stops listening. The second is needed
because Chromium's offline emulation does not cover a service worker's own requests
(microsoft/playwright#2311); the server speaks HTTP/1.0 so no kept-alive connection outlives it.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from catalog.models import Book, Bookmark, DeviceProgress, Progress
from test_reader_browser import run_axe, ui_login

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


class _OneRequestPerConnection(WSGIRequestHandler):
    protocol_version = "HTTP/1.0"


class CuttableServer:
    """A live server on a fixed loopback port that can be cut off and brought back."""

    def __init__(self, app):
        self.app, self.port, self.server = app, 0, None
        self.start()
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self):
        self.server = make_server("127.0.0.1", self.port, self.app, threaded=True,
                                  request_handler=_OneRequestPerConnection)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def cut(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server(app):
    running = CuttableServer(app)
    yield running
    running.cut()


def go_offline(context, server):
    context.set_offline(True)
    server.cut()


def go_online(context, server):
    server.start()
    context.set_offline(False)


def queued(page) -> int:
    return page.evaluate("""() => new Promise(resolve => {
        const open = indexedDB.open('sachnoi-offline', 1);
        open.onsuccess = () => { const r = open.result.transaction('queue').objectStore('queue').count();
                                 r.onsuccess = () => resolve(r.result); };
    })""")


def wait_sent(page, timeout_s: float = 15) -> None:
    """Until the offline queue is empty (wait_for_function does not await a promise's value)."""
    deadline = time.monotonic() + timeout_s
    while queued(page):
        assert time.monotonic() < deadline, "the offline queue was not sent"
        page.wait_for_timeout(100)


def download(page, book_id: int) -> None:
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=10000)
    page.click("#offline-download")
    page.wait_for_function("() => document.getElementById('offline-status').textContent.includes('Đã tải xong')",
                           timeout=30000)
    assert page.locator("#offline-delete").is_visible() and page.locator("#offline-download").is_hidden()
    assert page.evaluate(f"caches.has('sachnoi-book-{book_id}')")


def play_from_cache(page, past: float) -> None:
    page.click("#play")
    page.wait_for_function(f"() => document.getElementById('audio').currentTime > {past}", timeout=15000)
    start = page.evaluate("document.getElementById('audio').currentTime")
    page.wait_for_timeout(700)
    assert page.evaluate("document.getElementById('audio').currentTime") > start, "playback does not advance offline"


def server_rows(app, book_id: int):
    with app.extensions["sachnoi"].sessions() as s:
        progress = s.query(Progress).filter_by(book_id=book_id).one_or_none()
        devices = {d.device_id: d.position_s for d in s.query(DeviceProgress).filter_by(book_id=book_id)}
        marks = [b.position_s for b in s.query(Bookmark).filter_by(book_id=book_id)]
        return progress, devices, marks


def test_download_play_offline_sync_and_revoke(app, browser, server, make_book, people):
    book_id = make_book("members")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    ui_login(page, server.url, "bandoc")
    page.goto(f"{server.url}/books/{book_id}")
    download(page, book_id)
    device = page.evaluate("window.sachnoiPlayer.deviceId")

    # 1. offline: the page, the player and the audio come from the cache
    go_offline(context, server)
    page.reload()
    play_from_cache(page, 1.0)
    page.click("#play")  # pause: the report is queued, not lost
    page.fill("#bookmark-title", "Nghe ngoại tuyến")
    page.click("#bookmark-add")
    page.wait_for_function("() => document.getElementById('live').textContent.includes('khi có mạng')")
    offline_at = page.evaluate("document.getElementById('audio').currentTime")
    assert queued(page) >= 2
    assert server_rows(app, book_id)[0] is None

    # 2. back online: the queue is sent with a fresh CSRF token
    go_online(context, server)
    wait_sent(page)
    progress, devices, marks = server_rows(app, book_id)
    assert progress.position_s == pytest.approx(offline_at, abs=0.5) and progress.device_id == device
    assert len(marks) == 1 and marks[0] == pytest.approx(offline_at, abs=0.5)

    # 3. an older offline report arriving after a newer one from another device does not move the reader back
    go_offline(context, server)
    page.evaluate("document.getElementById('audio').currentTime = 4")
    page.wait_for_timeout(200)
    page.evaluate("window.sachnoiPlayer.report(false)")
    assert queued(page) == 1
    other = app.test_client()
    from reader_helpers import login
    csrf = login(other, "bandoc")
    newer = other.put(f"/api/books/{book_id}/progress", headers={"X-CSRFToken": csrf},
                      json={"position_s": 25, "event_time_ms": int(time.time() * 1000) + 1000, "device_id": "pc",
                            "seq": 1})
    assert newer.get_json()["accepted"] is True
    go_online(context, server)
    wait_sent(page)
    progress, devices, _ = server_rows(app, book_id)
    assert devices[device] == pytest.approx(4, abs=0.3)  # the late report arrived ...
    assert progress.position_s == 25 and progress.device_id == "pc"  # ... and did not move the reader back

    # 4. the policy changes while the device is away: on reconnect the copy is deleted and the page says why
    go_offline(context, server)
    page.goto(f"{server.url}/offline")
    page.wait_for_selector("#offline-list li")  # the list is filled from IndexedDB after load
    assert page.locator("#offline-list li").count() == 1
    with app.extensions["sachnoi"].sessions.begin() as s:
        s.get(Book, book_id).access_policy = "print-disabled"
    go_online(context, server)
    page.wait_for_function("() => document.getElementById('offline-notices').textContent.includes('khuyết tật')",
                           timeout=15000)
    assert page.evaluate(f"caches.has('sachnoi-book-{book_id}')") is False
    page.wait_for_function("() => document.querySelectorAll('#offline-list li').length === 0")
    assert page.locator("#offline-empty").is_visible()
    context.close()


def test_a_copy_stops_playing_when_the_reader_is_logged_out(app, browser, server, make_book, people):
    """Logged out (here: the session ended on the server) counts as "no" for a members-only title."""
    book_id = make_book("members")
    context = browser.new_context()
    page = context.new_page()
    ui_login(page, server.url, "bandoc")
    page.goto(f"{server.url}/books/{book_id}")
    download(page, book_id)
    go_offline(context, server)
    page.reload()
    play_from_cache(page, 0.5)
    context.clear_cookies()
    go_online(context, server)
    page.wait_for_function("() => (document.getElementById('offline-notices') || {textContent: ''}).textContent.includes('đăng nhập')",
                           timeout=15000)
    page.wait_for_function("() => document.getElementById('audio').paused")
    assert page.evaluate(f"caches.has('sachnoi-book-{book_id}')") is False
    context.close()


def test_installable_axe_and_screenshots(app, browser, server, make_book, people):
    book_id = make_book("public", title="Truyện Kiều nói")
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{server.url}/books/{book_id}")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=10000)
    cdp = context.new_cdp_session(page)
    manifest = cdp.send("Page.getAppManifest")
    assert manifest["errors"] == [], manifest["errors"]
    assert manifest["url"].endswith("/manifest.webmanifest")
    # Playwright's contexts are incognito profiles, which Chromium never installs apps from: that
    # one error is about the browser, not the site; any other (manifest, icons, worker) would be ours
    errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    assert [e for e in errors if e["errorId"] != "in-incognito"] == [], errors
    problems = {"book": run_axe(page)}
    download(page, book_id)
    problems["book (downloaded)"] = run_axe(page)
    for width in (360, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{server.url}/books/{book_id}")
        page.locator("#offline").scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / f"offline-book-{width}.png"))
        page.goto(f"{server.url}/offline")
        page.wait_for_selector("#offline-list li")
        assert "Truyện Kiều nói" in page.text_content("#offline-list")
        assert "MB" in page.text_content("#offline-list") or "kB" in page.text_content("#offline-list")
        page.wait_for_function("() => document.getElementById('offline-usage').textContent.length > 0")
        page.screenshot(path=str(SHOTS / f"offline-library-{width}.png"), full_page=True)
    problems["offline"] = run_axe(page)
    page.click("#offline-list button")
    page.wait_for_function("() => document.getElementById('offline-status').textContent.includes('Đã xoá')")
    assert page.evaluate(f"caches.has('sachnoi-book-{book_id}')") is False
    problems["offline (empty)"] = run_axe(page)
    assert not any(problems.values()), problems
    context.close()


def test_cancel_leaves_nothing_behind(app, browser, server, make_book, people):
    """Cancel mid-download: no cache, no row, and the button to start again has focus."""
    book_id = make_book("public")
    context = browser.new_context(viewport={"width": 360, "height": 800})
    page = context.new_page()
    held = []
    page.route("**/seg_*", lambda route: held.append(route))  # segments never arrive until cancelled
    page.goto(f"{server.url}/books/{book_id}")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=10000)
    page.click("#offline-download")
    page.wait_for_function("() => !document.getElementById('offline-progress').hidden")
    page.wait_for_timeout(300)
    assert page.evaluate(f"caches.has('sachnoi-book-{book_id}')")  # filling had begun
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#offline").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "offline-book-downloading-360.png"))
    page.keyboard.press("Enter")  # focus moved to "Huỷ tải" when the download started
    page.wait_for_function("() => document.getElementById('offline-status').textContent.includes('Đã huỷ tải')")
    assert page.evaluate(f"caches.has('sachnoi-book-{book_id}')") is False
    assert page.evaluate("window.sachnoiOffline.titles().then(rows => rows.length)") == 0
    assert page.evaluate("document.activeElement.id") == "offline-download"
    page.unroute("**/seg_*")
    context.close()


def test_a_queued_report_is_never_sent_as_another_reader(app, browser, server, make_book, people):
    """Reports wait under the login they were made in: another reader logging in here drops them."""
    book_id = make_book("members")
    context = browser.new_context()
    page = context.new_page()
    ui_login(page, server.url, "bandoc")
    page.goto(f"{server.url}/books/{book_id}")
    page.evaluate(f"""window.sachnoiOffline.queue('/api/books/{book_id}/progress', 'PUT',
        {{position_s: 7, event_time_ms: Date.now(), device_id: 'phone', seq: 1}})""")
    assert queued(page) == 1
    context.clear_cookies()
    page.goto(f"{server.url}/offline")  # logged out: kept for bandoc
    page.wait_for_timeout(500)
    assert queued(page) == 1
    ui_login(page, server.url, "khiemthi")
    page.goto(f"{server.url}/offline")
    wait_sent(page)
    assert server_rows(app, book_id)[0] is None  # dropped, not written to khiemthi's account
    context.close()


def test_read_along_text_comes_with_the_copy(app, browser, server, make_book, people):
    from test_offline import with_text
    book_id = make_book("public")
    with_text(app, book_id)
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server.url}/books/{book_id}")
    page.wait_for_function("() => document.querySelectorAll('#readalong-text .ra-s').length === 2", timeout=10000)
    download(page, book_id)
    go_offline(context, server)
    page.reload()
    page.wait_for_function("() => document.querySelectorAll('#readalong-text .ra-s').length === 2", timeout=10000)
    assert "Trăm năm trong cõi người ta." in page.text_content("#readalong-text")
    context.close()
