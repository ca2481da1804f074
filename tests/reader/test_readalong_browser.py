"""Read-along in headless Chromium (issue 20.4): keyboard only — Tab into the text (one tab stop),
arrows and Page keys move by sentence and paragraph, Enter plays from a sentence; the highlight
follows playback; search jumps to the moment a sentence is read; axe-core in both colour schemes;
screenshots at 360 and 1280 px."""
from __future__ import annotations

from pathlib import Path

import pytest

from readalong_helpers import add_manuscript

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def audio_time(page) -> float:
    return page.evaluate("document.getElementById('audio').currentTime")


def focused(page) -> dict:
    return page.evaluate("""() => { const a = document.activeElement;
        return {text: a.textContent, id: a.id, sentence: a.classList.contains('ra-s'), tabindex: a.tabIndex}; }""")


def open_book(page, base, book_id):
    page.goto(f"{base}/books/{book_id}")
    page.wait_for_function("() => document.querySelectorAll('#readalong-text .ra-s').length === 11")
    page.wait_for_function("() => document.getElementById('audio').readyState >= 1", timeout=8000)


def test_keyboard_only_read_along(app, browser, live_server, make_book):
    book_id = make_book("public")
    add_manuscript(app, book_id)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    open_book(page, live_server.url, book_id)
    # real text: paragraphs under chapter headings
    assert page.locator("#readalong-text h3").all_text_contents()[1] == "Chương hai: Lễ vật"
    assert page.locator("#readalong-text p").count() == 5
    # one tab stop for the whole text
    assert page.evaluate("document.querySelectorAll('#readalong-text [tabindex=\"0\"]').length") == 1
    for _ in range(60):
        page.keyboard.press("Tab")
        if focused(page)["sentence"]:
            break
    else:
        raise AssertionError("the read-along text is not reachable with Tab")
    assert focused(page)["text"].startswith("Đời Hùng Vương")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.press("Tab")
    assert not focused(page)["sentence"], "Tab must leave the text, not walk every sentence"
    page.keyboard.press("Shift+Tab")
    assert focused(page)["text"].startswith("Đời Hùng Vương")

    page.keyboard.press("ArrowDown")
    assert focused(page)["text"].startswith("Vua muốn kén")
    assert focused(page)["tabindex"] == 0  # roving: the tab stop moved with focus
    page.keyboard.press("PageDown")         # next paragraph
    assert focused(page)["text"].startswith("Một hôm có hai chàng trai")
    page.keyboard.press("PageDown")         # next paragraph is in the next chapter
    assert focused(page)["text"].startswith("Vua phán")
    page.keyboard.press("PageUp")
    assert focused(page)["text"].startswith("Một hôm có hai chàng trai")
    page.keyboard.press("ArrowDown")
    assert focused(page)["text"].startswith("Một người ở vùng núi")
    page.keyboard.press("PageUp")           # in the middle of a paragraph: its first sentence
    assert focused(page)["text"].startswith("Một hôm có hai chàng trai")
    page.keyboard.press("PageUp")           # at its first sentence: the previous paragraph
    assert focused(page)["text"].startswith("Đời Hùng Vương")
    page.keyboard.press("End")
    assert focused(page)["text"].startswith("Sơn Tinh bốc từng quả đồi")
    page.keyboard.press("Home")
    assert focused(page)["text"].startswith("Đời Hùng Vương")

    # Enter on the 4th sentence (chapter 1, 6.6 s) plays from there
    for _ in range(3):
        page.keyboard.press("ArrowDown")
    assert focused(page)["text"].startswith("Một người ở vùng núi Tản Viên")
    page.keyboard.press("Enter")
    page.wait_for_function("() => !document.getElementById('audio').paused")
    assert abs(audio_time(page) - 6.6) < 1.0
    current = page.locator("#readalong-text .ra-current")
    assert current.text_content().startswith("Một người ở vùng núi Tản Viên")
    assert current.get_attribute("aria-current") == "true"
    # the highlight follows playback into chapter 2 (10.5 s), one sentence at a time
    page.wait_for_function("() => (document.querySelector('#readalong-text .ra-current') || {}).textContent"
                           " === 'Vua phán: «Ai đem lễ vật đến trước thì được lấy Mị Nương».'", timeout=10000)
    assert page.evaluate("document.querySelectorAll('#readalong-text [aria-current]').length") == 1
    assert focused(page)["text"].startswith("Một người ở vùng núi Tản Viên"), "playback must not move focus"
    # the reader asks which sentence is being read
    for _ in range(3):  # the search button, the search box, the question
        page.keyboard.press("Shift+Tab")
    assert focused(page)["id"] == "readalong-where"
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('readalong-status').textContent.includes('Vua phán')")
    assert "Chương hai: Lễ vật" in page.text_content("#readalong-status")

    # a sentence the narrator skipped has no time: Space on it says so and does not seek
    for _ in range(3):
        page.keyboard.press("Tab")
    assert focused(page)["sentence"]
    page.keyboard.press("Home")
    for _ in range(6):
        page.keyboard.press("ArrowDown")
    assert focused(page)["text"] == "Câu này người đọc bỏ qua."
    before = audio_time(page)
    page.keyboard.press("Space")
    page.wait_for_function("() => document.getElementById('readalong-status').textContent.includes('chưa khớp')")
    assert audio_time(page) >= before - 0.1

    # search without diacritics; the result seeks and moves focus to its sentence
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    assert focused(page)["id"] == "readalong-q"
    page.keyboard.type("dang nuoc")
    page.keyboard.press("Enter")
    page.wait_for_selector("#readalong-results li")
    assert page.locator("#readalong-results mark").all_text_contents() == ["dâng nước"]
    assert "0:20" in page.text_content("#readalong-results")
    page.wait_for_function("() => document.getElementById('readalong-status').textContent.includes('1 câu')")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.classList.contains('ra-hit')")
    page.keyboard.press("Enter")
    page.wait_for_function("() => Math.abs(document.getElementById('audio').currentTime - 20.5) < 1")
    assert focused(page)["text"].startswith("Thủy Tinh hô mưa gọi gió")
    page.wait_for_function("() => (document.querySelector('#readalong-text .ra-current') || {}).textContent"
                           " === document.activeElement.textContent")
    context.close()


def test_follow_scrolls_the_panel_not_the_page_and_can_be_turned_off(app, browser, live_server, make_book):
    book_id = make_book("public")
    add_manuscript(app, book_id)
    context = browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2,
                                  reduced_motion="reduce")
    page = context.new_page()
    open_book(page, live_server.url, book_id)
    box = "document.getElementById('readalong-text')"
    assert page.evaluate(f"{box}.scrollHeight > {box}.clientHeight"), "the text should scroll in its box at 360 px"
    page.evaluate("window.sachnoiPlayer.seekTo(26.3)")
    page.wait_for_selector("#readalong-text .ra-current")
    visible = f"""() => {{ const b = {box}.getBoundingClientRect(),
        s = document.querySelector('#readalong-text .ra-current').getBoundingClientRect();
        return s.top >= b.top - 1 && s.bottom <= b.bottom + 1; }}"""
    page.wait_for_function(visible)
    assert page.text_content("#readalong-text .ra-current").startswith("Sơn Tinh bốc")
    page.locator("#readalong-text").scroll_into_view_if_needed()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "readalong-360.png"))
    # scrolling the text by hand: following waits (5 s) instead of pulling the reader back
    page.evaluate("window.sachnoiPlayer.seekTo(0.6)")
    page.wait_for_function("() => document.querySelector('#readalong-text .ra-current').textContent.startsWith('Đời')")
    page.evaluate(f"{box}.dispatchEvent(new WheelEvent('wheel', {{deltaY: 100}})); {box}.scrollTop = 0")
    page.evaluate("window.sachnoiPlayer.seekTo(26.3)")
    page.wait_for_function("() => document.querySelector('#readalong-text .ra-current').textContent.startsWith('Sơn Tinh bốc')")
    page.wait_for_timeout(300)
    assert page.evaluate(f"{box}.scrollTop") == 0
    page.check("#readalong-follow")
    page.uncheck("#readalong-follow")
    page.evaluate(f"{box}.scrollTop = 0")
    page.evaluate("window.sachnoiPlayer.seekTo(0.6)")
    page.wait_for_function("() => document.querySelector('#readalong-text .ra-current').textContent.startsWith('Đời')")
    page.evaluate("window.sachnoiPlayer.seekTo(26.3)")
    page.wait_for_function("() => document.querySelector('#readalong-text .ra-current').textContent.startsWith('Sơn Tinh bốc')")
    page.wait_for_timeout(300)
    assert page.evaluate(f"{box}.scrollTop") == 0, "with following off the panel stays where the reader left it"
    page.reload()
    page.wait_for_selector("#readalong-text .ra-s")
    assert not page.is_checked("#readalong-follow")  # remembered
    assert page.evaluate("document.documentElement.scrollWidth") <= 362
    context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_on_the_read_along_panel(app, browser, live_server, make_book, scheme):
    from test_reader_browser import run_axe
    book_id = make_book("public")
    add_manuscript(app, book_id)
    problems = {}
    for width in (360, 1280):
        context = browser.new_context(viewport={"width": width, "height": 800}, color_scheme=scheme)
        page = context.new_page()
        open_book(page, live_server.url, book_id)
        page.evaluate("window.sachnoiPlayer.seekTo(13.7)")
        page.wait_for_selector("#readalong-text .ra-current")
        page.fill("#readalong-q", "son tinh")
        page.click("#readalong-search button[type=submit]")
        page.wait_for_selector("#readalong-results li")
        page.focus("#readalong-text .ra-s[tabindex='0']")
        problems[f"{width}"] = run_axe(page)
        page.locator("#readalong").scroll_into_view_if_needed()
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"readalong-{scheme}-{width}.png"))
        if width == 1280 and scheme == "light":  # the reader's high-contrast, large-text settings
            page.goto(f"{live_server.url}/account")
            page.check("#high_contrast")
            page.check("#large_text")
            page.click("#display ~ form button[type=submit]")
            open_book(page, live_server.url, book_id)
            page.evaluate("window.sachnoiPlayer.seekTo(13.7)")
            page.wait_for_selector("#readalong-text .ra-current")
            assert page.evaluate("getComputedStyle(document.querySelector('.ra-current')).backgroundColor") \
                == "rgb(255, 215, 0)"
            assert page.evaluate("parseFloat(getComputedStyle(document.querySelector('.ra-s')).fontSize)") >= 21
            problems["high contrast"] = run_axe(page)
            page.locator("#readalong-text").scroll_into_view_if_needed()
            page.screenshot(path=str(SHOTS / "readalong-high-contrast-1280.png"))
        context.close()
    assert {k: v for k, v in problems.items() if v} == {}
