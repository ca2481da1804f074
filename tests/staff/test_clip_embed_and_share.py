"""Clip embed snippet and the share limit of restricted titles (issue 14.7)."""
from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest
from sqlalchemy import func, select

from catalog.models import Book, Clip

HOSTILE = 'x" onload="alert(1)'


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _add_clip(app, book_id: int, start: float, end: float, title: str = "Nghe thử") -> int:
    with app.extensions["sachnoi"].sessions.begin() as s:
        clip = Clip(book_id=book_id, title=title, start_s=start, end_s=end, state="ready")
        s.add(clip)
        s.flush()
        return clip.id


def _restrict(app, book_id: int, policy: str = "print-disabled") -> None:
    with app.extensions["sachnoi"].sessions.begin() as s:
        s.get(Book, book_id).access_policy = policy


def test_embed_snippet_escapes_the_title_as_an_attribute(login, app, published_book):
    """Attack: stored XSS on a third-party site. A clip titled `x" onload="alert(1)` gave a snippet
    whose iframe carried an `onload` handler on the site where the librarian pastes it."""
    clip_id = _add_clip(app, published_book, 2, 6, title=HOSTILE + " <script>alert(2)</script>")
    page = login("lib1").get(f"/clips/{clip_id}/edit").get_data(as_text=True)
    shown = re.search(r'<textarea id="snippet"[^>]*>(.*?)</textarea>', page, re.S).group(1)
    snippet = html.unescape(shown)  # what the librarian copies out of the text area
    parser = _Tags()
    parser.feed(snippet)
    assert [tag for tag, _ in parser.tags] == ["iframe"]
    attrs = parser.tags[0][1]
    assert set(attrs) == {"src", "title", "width", "height", "loading", "allow"}
    assert attrs["title"] == HOSTILE + " <script>alert(2)</script>"
    assert re.fullmatch(r"http://localhost/embed/clips/[0-9a-f-]{36}", attrs["src"])


def test_clips_of_a_restricted_title_count_together(login, app, published_book):
    """Attack: publishing a Marrakesh-Treaty (print-disabled) title in pieces. Each clip was under
    half of the 16 s book, so enough clips together made all of it public."""
    _restrict(app, published_book)
    _add_clip(app, published_book, 0, 5)
    _add_clip(app, published_book, 4, 8)   # overlaps: 8 s of 16 covered
    staff = login("lib1")
    response = staff.post("/clips/", {"book_id": published_book, "start": "9", "end": "12", "title": "Thêm"})
    assert response.status_code == 303
    follow = staff.get(response.headers["Location"]).get_data(as_text=True)
    assert "cộng lại không được quá 50" in follow
    with app.extensions["sachnoi"].sessions() as s:
        assert s.scalar(select(func.count()).select_from(Clip)) == 2


def test_share_rule_per_policy_and_for_a_clip_already_stored(app, published_book):
    """Public titles keep the per-clip rule (anyone may hear the book anyway); a restricted title's
    clip that was stored alongside another is checked against the earlier clips only."""
    from studio.clips import ClipError, check_clip
    first = _add_clip(app, published_book, 0, 6)
    second = _add_clip(app, published_book, 6, 12)
    with app.extensions["sachnoi"].sessions() as s:
        book = s.get(Book, published_book)
        check_clip(s, book, 12, 16)                       # public: 4 s alone is fine
        book.access_policy = "on-site"
        check_clip(s, book, 0, 6, clip_id=first)          # nothing before it
        with pytest.raises(ClipError):
            check_clip(s, book, 6, 12, clip_id=second)    # 12 s of 16 with the first
        with pytest.raises(ClipError):
            check_clip(s, book, 0, 12)                    # one clip over half: the old rule still holds


def test_covered_seconds_count_overlaps_once():
    from studio.clips import covered_s
    assert covered_s([(0, 5), (4, 8), (10, 11)]) == 9
    assert covered_s([(2, 3), (0, 10)]) == 10
    assert covered_s([]) == 0
