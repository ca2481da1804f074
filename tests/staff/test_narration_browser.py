"""Narration QC in Chromium: live alignment progress on the book page, the retake list by keyboard
(decision announced, play jumps to the finding), the printable list on paper, axe-core and
screenshots at 360 and 1280 px."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from catalog.models import Job, Manuscript, Sentence
from narration_world import build
from test_browser import SHOTS, axe_violations, shoot_and_check, sign_in, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_alignment_progress_updates_live_then_the_page_shows_the_result(browser, live_server, app, users):
    ids = build(app)
    sessions = app.extensions["sachnoi"].sessions
    with sessions.begin() as db:
        db.get(Manuscript, ids["manuscript"]).state = "parsed"
        job = Job(kind="align", book_id=ids["book"], state="running", progress=25.0,
                  payload={"manuscript_id": ids["manuscript"]})
        db.add(job)
        db.flush()
        job_id = job.id
    context, page = sign_in(browser, live_server, "studio1")
    page.goto(f"{live_server.url}/studio/books/{ids['book']}")
    assert page.inner_text("#manuscript-percent") == "25%"
    with sessions.begin() as db:
        db.get(Job, job_id).progress = 60.0
    wait_until(page, "document.getElementById('manuscript-percent').textContent === '60%'", 15)
    with sessions.begin() as db:
        db.get(Job, job_id).state = "done"
        db.get(Manuscript, ids["manuscript"]).state = "aligned"
    page.wait_for_selector("#propose-chapters", timeout=15000)  # reloaded once, finished
    assert page.inner_text("#manuscript-state") == "Đã căn chỉnh"
    context.close()


def test_retake_list_by_keyboard_play_and_print(browser, live_server, app, users):
    ids = build(app)
    sid = ids["sentences"][(1, 2)]
    context, page = sign_in(browser, live_server, "studio1")
    page.goto(f"{live_server.url}/studio/chapters/{ids['chapter1']}/qc")
    target = f"#finding-{sid} button[value=rerecord]"
    for _ in range(80):  # keyboard only: Tab until the finding's "Cần thu lại" button has focus
        page.keyboard.press("Tab")
        if page.evaluate(f"() => document.activeElement === document.querySelector('{target}')"):
            break
    else:
        raise AssertionError("the decision button cannot be reached with Tab")
    page.keyboard.press("Enter")
    wait_until(page, "document.getElementById('retake-status').textContent.includes('Cần thu lại')", 10)
    assert page.get_attribute(target, "aria-pressed") == "true"
    assert page.inner_text(f"#decision-{sid}") == "Cần thu lại"
    assert page.url.endswith("/qc")  # no reload: focus stays where the user is
    with app.extensions["sachnoi"].sessions() as db:
        assert db.scalar(select(Sentence.decision).where(Sentence.id == sid)) == "rerecord"
    page.keyboard.press("Enter")  # a toggle: pressing it again takes the decision back
    wait_until(page, "document.getElementById('retake-status').textContent.includes('Chưa quyết định')", 10)
    assert page.get_attribute(target, "aria-pressed") == "false"
    with app.extensions["sachnoi"].sessions() as db:
        assert db.scalar(select(Sentence.decision).where(Sentence.id == sid)) == ""

    page.click(f"#finding-{sid} button[data-play]")  # the skipped sentence belongs at 3,2 s
    wait_until(page, "document.getElementById('qc-after').currentTime > 2.2", 15)
    assert page.evaluate("() => document.getElementById('qc-after').currentTime") < 4.5

    page.goto(f"{live_server.url}/studio/books/{ids['book']}/retakes")
    page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
    page.emulate_media(media="print")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "narration-retakes-print.png"), full_page=True)
    assert not page.is_visible("#print-button") and not page.is_visible(".site-header")
    assert page.is_visible("text=Câu bị bỏ sót ở đây.")
    width = page.evaluate("() => document.querySelector('.retake-table table').getBoundingClientRect().right")
    assert width <= 794  # the table fits the page
    context.close()


def test_narration_pages_axe_and_screenshots(browser, live_server, app, users):
    ids = build(app)
    client_ctx, page = sign_in(browser, live_server, "studio1")
    page.goto(f"{live_server.url}/studio/books/{ids['book']}")
    page.click("#propose-chapters")
    page.wait_for_load_state()
    client_ctx.close()
    pages = [("book", f"/studio/books/{ids['book']}"), ("qc1", f"/studio/chapters/{ids['chapter1']}/qc"),
             ("qc2", f"/studio/chapters/{ids['chapter2']}/qc"), ("retakes", f"/studio/books/{ids['book']}/retakes"),
             ("editor", f"/studio/books/{ids['book']}/chapters")]
    problems = shoot_and_check(browser, live_server, "studio1", pages, "narration")
    assert not problems, problems
    assert axe_violations  # imported helper is the one the other staff pages use
