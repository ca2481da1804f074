"""Issue 16.20: raw codes (`draft`, `pending`, `public`, `dead_air`, `library-streaming`) showed in the
interface. Pages show translated labels from one table (web.labels); messages have no English tails."""
from __future__ import annotations

import re

from reader_helpers import login

CODES = ("draft", "published", "withdrawn", "pending", "approved", "public", "members", "print-disabled",
         "on-site", "dead_air", "library-streaming")


def visible_text(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)  # attributes (class="state-draft") are not shown


def test_librarian_pages_show_labels_not_codes(app, client, make_book, people):
    from catalog.models import Chapter
    book_id = make_book("public", published=False)
    with app.extensions["sachnoi"].sessions.begin() as s:
        for chapter in s.query(Chapter).filter_by(book_id=book_id):
            chapter.review_state = "pending"
    login(client, "thuthu")
    for path in ("/librarian/", f"/librarian/books/{book_id}", f"/books/{book_id}"):
        text = visible_text(client.get(path).get_data(as_text=True))
        found = [code for code in CODES if re.search(rf"(?<![\w-]){re.escape(code)}(?![\w-])", text)]
        assert found == [], (path, found)
    text = visible_text(client.get(f"/librarian/books/{book_id}").get_data(as_text=True))
    assert "Bản nháp" in text and "Chờ duyệt" in text


def test_label_table_covers_every_stored_code():
    from catalog.models import ACCESS_POLICIES, BOOK_STATES, JOB_STATES, ROLES
    from mastering.profiles import PROFILES
    from streaming.events import CHANNELS
    from web import labels
    assert set(labels.BOOK_STATES) == set(BOOK_STATES) and set(labels.ACCESS) == set(ACCESS_POLICIES)
    assert set(labels.JOB_STATES) == set(JOB_STATES) and set(labels.ROLES) == set(ROLES)
    assert set(labels.PROFILES) == set(PROFILES) and set(labels.CHANNELS) == set(CHANNELS)


def test_label_in_english_and_unknown_codes(app):
    from web.labels import label
    with app.test_request_context("/?lang=en"):
        from flask_babel import force_locale
        with force_locale("en"):
            assert label("book_state", "draft") == "Draft"
            assert label("qc_region", "dead_air") != "dead_air"
            assert label("access", "something-new") == "Other"


def test_reader_api_messages_have_no_english_tails(client, make_book, people):
    book_id = make_book()
    csrf = login(client, "bandoc")
    response = client.put(f"/api/books/{book_id}/progress", json={"position_s": 1}, headers={"X-CSRFToken": csrf})
    message = response.get_json()["message"]
    assert response.status_code == 400 and "(" not in message.replace("(thiếu", "") and "bad" not in message
