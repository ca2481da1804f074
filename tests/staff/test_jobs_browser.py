"""The jobs page in Chromium at 360 px and 1280 px: a QC review row with its chapter links, a failed
hot-folder session, keyboard reach of the review link, axe-core clean (issue 16.13)."""
from __future__ import annotations

import pytest

from catalog.accounts import get_or_create_library
from catalog.models import Book, Chapter
from studio import jobs
from test_browser import SHOTS, axe_violations, sign_in

pytestmark = [pytest.mark.browser]


def test_jobs_page_shows_review_and_hot_folder_rows_at_both_widths(browser, live_server, app, users):
    sessions = app.extensions["sachnoi"].sessions
    with sessions.begin() as s:
        book = Book(title="Sơn Tinh Thủy Tinh — truyền thuyết Việt Nam", library=get_or_create_library(s, "THV", ""))
        s.add(book)
        s.flush()
        chapter = Chapter(book_id=book.id, position=2, title="Chương 2: Thủy Tinh nổi giận", duration_s=9.0,
                          qc={"failures": ["no_dead_air", "integrated_loudness"]}, qc_passed=False)
        s.add(chapter)
        s.flush()
        book_id, chapter_id = book.id, chapter.id
    job_id = jobs.enqueue(sessions, "produce", book_id=book_id)
    jobs.claim(sessions, "w")
    jobs.fail(sessions, job_id, "w", "QC", final=True,
              review=[{"chapter_id": chapter_id, "position": 2, "title": "Chương 2: Thủy Tinh nổi giận",
                       "rules": ["no_dead_air", "integrated_loudness"]}])
    jobs.record_failure(sessions, "Không có tệp âm thanh nào trong thư mục", payload={"folder": "phien-thu-3"})
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (360, 1280):
        context, page = sign_in(browser, live_server, "studio1", width)
        assert page.goto(live_server.url + "/jobs/").status == 200
        link = page.get_by_role("link", name="Chương 2: Thủy Tinh nổi giận")
        assert link.get_attribute("href") == f"/studio/chapters/{chapter_id}/qc"
        assert page.get_by_text("Cần duyệt", exact=True).is_visible()
        assert page.get_by_text("phien-thu-3").is_visible()
        for _ in range(40):  # the review link is reachable by Tab
            page.keyboard.press("Tab")
            if page.evaluate("() => document.activeElement.textContent") == "Chương 2: Thủy Tinh nổi giận":
                break
        else:
            raise AssertionError("the chapter's QC link is not reachable by keyboard")
        page.screenshot(path=str(SHOTS / f"jobs-review-{width}.png"), full_page=True)
        assert axe_violations(page, live_server) == []
        context.close()


def test_qc_zone_plays_before_and_after_mastering(browser, live_server, app, published_book, login):
    """Issue 16.14: the QC page listed failing zones as text only; staff now play a zone (a player seeked
    to it, stopped after it) in the chapter before mastering and after, by keyboard too."""
    import shutil
    from studio.pipeline import edit_key
    services = app.extensions["sachnoi"]
    with services.sessions.begin() as s:
        book = s.get(Book, published_book)
        chapter = next(c for c in book.chapters if c.position == 1)
        chapter.qc = {"profile": "library-streaming", "rules": [], "failures": ["no_dead_air"],
                      "regions": [{"kind": "dead_air", "start_s": 3.0, "end_s": 4.0}]}
        chapter.qc_passed = False
        chapter_id = chapter.id
        before = services.store.path(edit_key(services.store.book_prefix(book.uuid), 1))
        before.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(services.store.path(chapter.master_key), before)  # stands in for the unmastered cut
    staff = login("studio1")
    assert staff.get(f"/studio/chapters/{chapter_id}/audio/after", headers={"Range": "bytes=0-99"}).status_code == 206
    assert staff.get(f"/studio/chapters/{chapter_id}/audio/before").status_code == 200
    assert staff.get(f"/studio/chapters/{chapter_id}/audio/sideways").status_code == 404
    assert login("reader1").get(f"/studio/chapters/{chapter_id}/audio/after").status_code == 403
    other = login("lib2")  # another library's librarian: refused as the QC page itself refuses
    assert other.get(f"/studio/chapters/{chapter_id}/audio/after").status_code == \
        other.get(f"/studio/chapters/{chapter_id}/qc").status_code == 403

    for width in (360, 1280):
        context, page = sign_in(browser, live_server, "studio1", width)
        assert page.goto(live_server.url + f"/studio/chapters/{chapter_id}/qc").status == 200
        page.evaluate("() => document.querySelectorAll('audio').forEach(a => { a.muted = true; })")
        assert page.get_by_text("Khoảng lặng số: 3,0–4,0 s").count() == 1  # a label, not `dead_air`
        for which, button in (("after", "Nghe sau xử lý"), ("before", "Nghe trước xử lý")):
            page.get_by_role("button", name=button).focus()
            page.keyboard.press("Enter")
            page.wait_for_function(f"() => !document.getElementById('qc-{which}').paused", timeout=15_000)
            start = page.evaluate(f"() => document.getElementById('qc-{which}').currentTime")
            assert 1.9 <= start <= 3.5, start  # one second before the zone
            page.wait_for_function(f"() => document.getElementById('qc-{which}').paused", timeout=15_000)
            end = page.evaluate(f"() => document.getElementById('qc-{which}').currentTime")
            assert 4.9 <= end <= 5.6, end  # stopped one second after the zone
        page.screenshot(path=str(SHOTS / f"qc-listen-{width}.png"), full_page=True)
        assert axe_violations(page, live_server) == []
        context.close()
