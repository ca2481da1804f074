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
