"""Acceptance in headless Chromium: play, speed, chapters, resume after reload and on another device
(with the prompt), a keyboard-only run, and axe-core on every reader page."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def ui_login(page, base, username):
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", "mat-khau-" + username)
    page.click("form.form button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def current_time(page) -> float:
    return page.evaluate("document.getElementById('audio').currentTime")


def wait_playing_past(page, seconds: float, timeout=8000):
    page.wait_for_function(f"() => document.getElementById('audio').currentTime > {seconds} && "
                           "!document.getElementById('audio').paused", timeout=timeout)


def wait_ready(page):
    page.wait_for_function("() => document.getElementById('audio').readyState >= 1", timeout=8000)


def test_play_speed_chapters_resume_and_other_device(browser, live_server, make_book, people):
    book_id = make_book("members")
    base = live_server.url
    phone = browser.new_context()
    page = phone.new_page()
    ui_login(page, base, "bandoc")
    page.goto(f"{base}/books/{book_id}")
    page.click("#play")
    wait_playing_past(page, 0.5)
    start = current_time(page)
    page.wait_for_timeout(600)
    assert current_time(page) > start, "currentTime does not advance"
    for _ in range(3):
        page.click("#speed-up")
    assert page.evaluate("document.getElementById('audio').playbackRate") == pytest.approx(1.3)
    assert page.input_value("#speed") == "1,3"
    page.click("#next-chapter")
    page.wait_for_function("() => document.getElementById('audio').currentTime >= 10")
    assert "Chương 2" in page.text_content("#now-chapter")
    page.wait_for_function("() => document.getElementById('live').textContent.includes('Chương 2')")
    page.wait_for_timeout(800)
    with page.expect_response(lambda r: "/progress" in r.url and r.request.method == "PUT") as response:
        page.click("#play")  # pause: reported at once
    assert response.value.ok
    paused_at = current_time(page)
    page.reload()
    wait_ready(page)
    page.wait_for_function(f"() => Math.abs(document.getElementById('audio').currentTime - {paused_at}) < 2", timeout=8000)
    assert page.input_value("#speed") == "1,3"

    pc = browser.new_context()
    other = pc.new_page()
    ui_login(other, base, "bandoc")
    other.goto(f"{base}/books/{book_id}")
    offer = other.locator("#sync-accept")
    offer.wait_for(state="visible", timeout=8000)
    assert "thiết bị khác" in offer.text_content()
    other.wait_for_function("() => document.getElementById('live').textContent.includes('thiết bị khác')")
    assert other.input_value("#speed") == "1,3"  # speed is remembered per book across devices
    wait_ready(other)
    offer.click()
    other.wait_for_function(f"() => Math.abs(document.getElementById('audio').currentTime - {paused_at}) < 2")
    assert other.locator("#sync-offer").is_hidden()
    phone.close()
    pc.close()


def tab_to(page, element_id: str, limit: int = 80) -> None:
    """Press Tab until `element_id` has focus, checking on the way that focus is never under the bar."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        info = page.evaluate("""() => {
            const a = document.activeElement, bar = document.querySelector('.player-bar');
            const r = a.getBoundingClientRect();
            let covered = false;
            if (bar && a !== document.body && getComputedStyle(bar).position === 'fixed' && !bar.contains(a)) {
                covered = r.bottom > bar.getBoundingClientRect().top + 1 && r.top < innerHeight;
            }
            const outline = getComputedStyle(a).outlineStyle;
            return {id: a.id || (a.tagName + ":" + a.textContent.trim().slice(0, 30) + ":" + Math.round(r.top) + "-" + Math.round(r.bottom) + "/" + Math.round(bar ? bar.getBoundingClientRect().top : 0)), covered, outline, w: r.width, h: r.height};
        }""")
        assert not info["covered"], f"focus hidden under the player bar at #{info['id']}"
        if info["id"] == element_id:
            assert info["outline"] != "none", "no visible focus indicator"
            return
    raise AssertionError(f"#{element_id} not reachable with Tab")


def test_keyboard_only_flow(browser, live_server, make_book, people):
    book_id = make_book("public")
    base = live_server.url
    context = browser.new_context(viewport={"width": 1000, "height": 650})
    page = context.new_page()
    page.goto(f"{base}/login")
    page.focus("#username")
    page.keyboard.type("bandoc")
    page.keyboard.press("Tab")
    page.keyboard.type("mat-khau-bandoc")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/login" not in url)
    page.goto(f"{base}/books/{book_id}")
    tab_to(page, "play")
    page.keyboard.press("Enter")
    wait_playing_past(page, 0.3)
    tab_to(page, "speed-up")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    assert page.evaluate("document.getElementById('audio').playbackRate") == pytest.approx(1.2)
    tab_to(page, "goto-time")
    page.keyboard.type("0:21")
    page.keyboard.press("Enter")
    page.wait_for_function("() => Math.abs(document.getElementById('audio').currentTime - 21) < 1.5")
    # the chapter list sits below the fixed bar: reached by Tab, its focus must stay visible
    tab_to(page, "chapter-2")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('audio').currentTime >= 10 && "
                           "document.getElementById('audio').currentTime < 14")
    # single-key shortcuts work from the page, and can be turned off
    page.focus("#play")
    page.keyboard.press("Shift+Tab")  # leave the button so K is not also a click
    before = current_time(page)
    page.keyboard.press("l")
    page.wait_for_function(f"() => document.getElementById('audio').currentTime > {before} + 10")
    page.focus("#shortcuts")
    page.keyboard.press("Space")
    assert not page.is_checked("#shortcuts")
    page.focus("#play")
    page.keyboard.press("Shift+Tab")
    before = current_time(page)
    page.keyboard.press("j")
    page.wait_for_timeout(300)
    assert current_time(page) >= before - 0.5
    context.close()


def run_axe(page) -> list:
    page.add_script_tag(url="/static/vendor/axe.min.js")  # same origin: CSP allows it, an inline copy would not be
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)}));
    }""")
    return [v for v in result if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_on_every_reader_page(browser, live_server, make_book, people, scheme):
    """Every reader page, in the system's light and dark colour schemes (issue 16.21)."""
    book_id = make_book("public")
    locked = make_book("print-disabled", title="Sách Marrakesh")
    base = live_server.url
    context = browser.new_context(color_scheme=scheme)
    page = context.new_page()
    problems = {}
    anonymous = ["/", "/search?q=truyen", "/search?q=khongcogi", f"/books/{book_id}", f"/books/{locked}",
                 "/login", "/account", "/offline"]
    for path in anonymous:
        page.goto(base + path)
        problems[path] = run_axe(page)
    ui_login(page, base, "bandoc")
    page.goto(f"{base}/books/{book_id}")
    page.click("#play")
    wait_playing_past(page, 0.3)
    page.click("#bookmark-add")
    page.wait_for_selector(".bookmark")
    page.click("#play")
    for path in [f"/books/{book_id}", "/", "/history", "/account"]:
        page.goto(base + path)
        page.wait_for_timeout(200)
        problems["(reader) " + path] = run_axe(page)
    # the high-contrast, large-text theme too
    page.goto(f"{base}/account")
    page.check("#high_contrast")
    page.check("#large_text")
    page.click("#display ~ form button[type=submit]")
    page.goto(f"{base}/books/{book_id}")
    assert "high-contrast" in page.evaluate("document.documentElement.className")
    problems["(high contrast) book"] = run_axe(page)
    context.close()
    assert {k: v for k, v in problems.items() if v} == {}


def test_phone_width_and_200_percent_text(browser, live_server, make_book, people):
    book_id = make_book("public")
    context = browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2)
    page = context.new_page()
    for path in ("/", f"/books/{book_id}", "/search?q=truyen"):
        page.goto(live_server.url + path)
        wide = page.evaluate("""Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > 362)
            .map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 5)""")
        assert page.evaluate("document.documentElement.scrollWidth") <= 362, (path, wide)
    page.evaluate("document.documentElement.style.fontSize = '200%'")
    page.goto(f"{live_server.url}/books/{book_id}")
    page.evaluate("document.documentElement.style.fontSize = '200%'")
    wide = page.evaluate("""Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > 362)
        .map(e => e.tagName + '#' + e.id + '.' + e.className + ':' + Math.round(e.getBoundingClientRect().right)).slice(0, 8)""")
    assert page.evaluate("document.documentElement.scrollWidth") <= 362, wide
    sizes = page.evaluate("""Array.from(document.querySelectorAll('.player button, .player input, .player select'))
        .filter(e => e.offsetParent).map(e => { const r = e.getBoundingClientRect(); return [e.id, r.width, r.height]; })""")
    small = [s for s in sizes if s[1] < 24 or s[2] < 24 or (s[0] in ('play', 'back15', 'fwd15') and s[2] < 44)]
    assert not small, small
    context.close()


def test_anonymous_progress_merges_into_the_account_at_login(app, browser, live_server, make_book, people):
    from streaming import progress
    book_id = make_book("public")
    base = live_server.url
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/books/{book_id}")
    page.fill("#goto-time", "0:12")
    page.press("#goto-time", "Enter")
    page.click("#play")
    wait_playing_past(page, 12.5)
    page.click("#play")
    page.wait_for_function("() => Object.keys(localStorage).some(k => k.startsWith('sachnoi:anon:'))")
    ui_login(page, base, "bandoc")  # lands on the home page, where site.js merges
    page.wait_for_function("() => !Object.keys(localStorage).some(k => k.startsWith('sachnoi:anon:'))",
                           timeout=8000)
    with app.extensions["sachnoi"].sessions() as s:
        row = progress.get(s, user_id=people["bandoc"], book_id=book_id)
    assert row is not None and 12 <= row.position_s < 16
    context.close()


def test_sleep_timer_at_end_of_chapter_and_save_data(browser, live_server, make_book, people):
    book_id = make_book("public")
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{live_server.url}/books/{book_id}")
    page.select_option("#quality", "save")
    for _ in range(100):  # the choice applies once hls.js has parsed the ladder (slower on a loaded machine)
        if page.evaluate("window.sachnoiHls && window.sachnoiHls.levels.length > 0"):
            break
        page.wait_for_timeout(100)
    assert page.evaluate("window.sachnoiHls.autoLevelCapping") == 0  # the 32 kbps rung
    page.fill("#goto-time", "0:08")
    page.press("#goto-time", "Enter")
    page.select_option("#sleep", "chapter")
    page.wait_for_function("() => document.getElementById('live').textContent.includes('hết chương')")
    page.click("#play")
    page.wait_for_function("() => document.getElementById('audio').paused && "
                           "document.getElementById('audio').currentTime > 9", timeout=8000)
    assert 9.3 <= current_time(page) < 10.8
    assert page.input_value("#sleep") == ""
    context.close()
