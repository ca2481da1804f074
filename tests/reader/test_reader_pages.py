"""Catalogue pages: continue listening, history, account and display settings, access notices."""
from __future__ import annotations

import re
import time

from reader_helpers import login


def test_pages_follow_the_readers_listening(client, make_book, people):
    listened, _untouched = make_book(title="Truyện Kiều nói"), make_book(title="Lục Vân Tiên")
    assert client.get("/history").status_code == 302  # login first
    csrf = login(client, "bandoc")
    now = int(time.time() * 1000)
    client.put(f"/api/books/{listened}/progress", headers={"X-CSRFToken": csrf},
               json={"position_s": 12, "event_time_ms": now, "device_id": "pc", "seq": 1})
    home = client.get("/").get_data(as_text=True)
    assert "Nghe tiếp" in home and "Đã nghe đến 0:12" in home
    history = client.get("/history").get_data(as_text=True)
    assert "Truyện Kiều nói" in history and "Lục Vân Tiên" not in history
    account = client.get("/account").get_data(as_text=True)
    assert "bandoc" in account and "Sách đã nghe" in account


def test_display_settings_apply_to_every_page_for_accounts_and_anonymous(app, client, make_book, people):
    page = client.get("/account").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/account", data={"csrf_token": token, "high_contrast": "on", "large_text": "on"})
    html = client.get("/").get_data(as_text=True)
    assert re.search(r'<html lang="vi" class="high-contrast large-text"', html)
    assert client.post("/account", data={"high_contrast": "on"}).status_code == 400  # CSRF
    other = app.test_client()
    login(other, "khiemthi")
    page = other.get("/account").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    other.post("/account", data={"csrf_token": token, "shortcuts_off": "on"})
    from catalog.models import User
    with app.extensions["sachnoi"].sessions() as s:
        assert s.get(User, people["khiemthi"]).settings["display"]["shortcuts_off"] is True
    book = other.get(f"/books/{make_book()}").get_data(as_text=True)
    assert 'class="no-shortcuts has-player-bar"' in book
    assert 'id="shortcuts" checked' not in book


def test_book_page_tells_why_a_title_cannot_be_played(client, make_book, people):
    locked = make_book("print-disabled", title="Sách Marrakesh")
    page = client.get(f"/books/{locked}").get_data(as_text=True)
    assert "Hãy đăng nhập để nghe sách này." in page and 'id="player"' not in page
    login(client, "bandoc")
    page = client.get(f"/books/{locked}").get_data(as_text=True)
    assert "Hiệp ước Marrakesh" in page and "?t=" not in page
    draft = make_book(published=False)
    assert client.get(f"/books/{draft}").status_code == 404
