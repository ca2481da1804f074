"""Account pages in Chromium (issue 16.1-16.3, 360 px and 1280 px, axe-core): a librarian registers a
reader at the desk, the reader logs in with the one-time password and must choose a new one; the
paged admin user list; forgot-password and registration pages as an anonymous visitor."""
from __future__ import annotations

import json
import re

import pytest

from test_browser import SHOTS, axe_violations, shoot_and_check, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_librarian_registers_a_reader_who_then_sets_a_password(browser, live_server, users):
    """Issue 16.1/16.2 end to end: card at the desk → one-time password → forced change → signed in."""
    server = live_server
    context, page = sign_in(browser, server, "lib1", width=360)
    page.goto(server.url + "/librarian/accounts/")
    page.fill("#nr-card", "TV-2026-001")
    page.fill("#nr-name", "Nguyễn Thị Mai")
    page.click("form[action$='/accounts/new'] button[type=submit]")
    page.wait_for_selector("#created-list")
    shown = page.inner_text("#created-list")
    password = re.search(r"([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})", shown).group(1)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "accounts-created-360.png"), full_page=True)
    assert not axe_violations(page, server)
    context.close()

    reader_context = browser.new_context(viewport={"width": 360, "height": 800}, locale="vi-VN")
    reader = reader_context.new_page()
    reader.goto(server.url + "/login")
    reader.fill("#username", "TV-2026-001")
    reader.fill("#password", password)
    reader.click("form [type=submit]")
    reader.wait_for_selector("#must-change")
    assert reader.url.endswith("/account/password")
    reader.screenshot(path=str(SHOTS / "accounts-must-change-360.png"), full_page=True)
    assert not axe_violations(reader, server)
    reader.goto(server.url + "/history")
    assert reader.url.endswith("/account/password")  # nothing else until the password is changed
    reader.fill("#current", password)
    reader.fill("#new", "hoa-mai-no-som")
    reader.fill("#confirm", "hoa-mai-no-som")
    reader.click("form.form [type=submit]")
    reader.wait_for_load_state()
    assert "Đã đổi mật khẩu" in reader.content()
    reader.goto(server.url + "/history")
    assert reader.url.endswith("/history")
    reader_context.close()


def test_account_pages_at_both_widths_pass_axe(browser, live_server, users):
    """Issue 16.3 and the new pages: screenshots at 360 and 1280 px, no serious axe violation."""
    server = live_server
    problems = shoot_and_check(browser, server, "admin1", [
        ("admin-users", "/admin/users"), ("admin-users-filtered", "/admin/users?role=librarian&q=lib"),
        ("admin", "/admin/")], "accounts")
    problems.update(shoot_and_check(browser, server, "lib1", [("librarian-accounts", "/librarian/accounts/")],
                                    "accounts"))
    for width in (360, 1280):
        context = browser.new_context(viewport={"width": width, "height": 800}, locale="vi-VN")
        page = context.new_page()
        for name, path in (("login", "/login"), ("forgot", "/password/forgot"), ("register", "/register")):
            assert page.goto(server.url + path).status == 200
            page.screenshot(path=str(SHOTS / f"accounts-{name}-{width}.png"), full_page=True)
            found = axe_violations(page, server)
            if found:
                problems[f"{path} @{width}"] = found
            # Nothing wider than the screen (a phone must not scroll sideways).
            assert page.evaluate("() => document.documentElement.scrollWidth") <= width, (path, width)
        context.close()
    assert not problems, json.dumps(problems, ensure_ascii=False, indent=1)
