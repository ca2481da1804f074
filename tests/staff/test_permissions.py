"""Every staff route refuses readers, anonymous users and other libraries' staff."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from catalog.models import Chapter, Clip, Mark, RecordingSession, Take, User

STAFF_PREFIXES = ("/studio", "/librarian", "/clips/", "/stats", "/admin")
PUBLIC = {"/clips/<uuid>", "/clips/<uuid>/clip.mp3", "/clips/<uuid>/clip.mp4", "/clips/<uuid>/clip-story.mp4",
          "/clips/<uuid>/transcript.vtt",
          "/clips/<uuid>/chapters.json", "/clips/<uuid>/cover.jpg", "/clips/artwork.jpg", "/clips/feed.xml",
          "/clips/listen"}


@pytest.fixture
def objects(app, published_book, users):
    """Ids of one row of every kind a staff URL names, all belonging to library THV."""
    services = app.extensions["sachnoi"]
    with services.sessions.begin() as s:
        from catalog.models import Original
        s.add(Original(sha256="a" * 64, size_bytes=1))
        rec = RecordingSession(book_id=published_book, name="Buổi 1")
        s.add(rec)
        s.flush()
        take = Take(session_id=rec.id, position=1, original_sha256="a" * 64, duration_s=10.0)
        s.add(take)
        s.flush()
        mark = Mark(book_id=published_book, take_id=take.id, start_s=0.0, source="pauses")
        clip = Clip(book_id=published_book, title="x", start_s=0, end_s=2)
        s.add_all([mark, clip])
        s.flush()
        chapter = s.scalar(select(Chapter).where(Chapter.book_id == published_book))
        reader = s.scalar(select(User).where(User.username == "reader1"))
        from catalog.manuscripts import ParsedSection, store_parsed
        manuscript = store_parsed(s, published_book, [ParsedSection("Chương 1", [["Câu một."]])])
        sentence = manuscript.sections[0].sentences[0]
        sentence.issue = "low_confidence"
        s.flush()
        return {"sentence_id": sentence.id, "book_id": published_book, "session_id": rec.id, "take_id": take.id, "mark_id": mark.id,
                "clip_id": clip.id, "chapter_id": chapter.id, "user_id": reader.id, "library_id": 1,
                "jingle_id": 1}


def staff_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(STAFF_PREFIXES) and rule.rule not in PUBLIC:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule, method


CHOICES = {"which": "after"}  # arguments of `any(...)` converters: one valid choice


def build(rule, objects):
    url = rule.rule
    for name in rule.arguments:
        url = re.sub(rf"<[^<>]*:{name}>|<{name}>", str(objects[name] if name in objects else CHOICES[name]), url)
    return url


def test_all_staff_routes_are_covered(app):
    names = {r.endpoint.split(".")[0] for r, _m in staff_routes(app)}
    assert names == {"studio_views", "narration", "librarian", "clips", "stats", "admin", "readers"}


@pytest.mark.parametrize("who", ["anonymous", "reader1"])
def test_readers_and_anonymous_refused(app, login, objects, who):
    client = app.test_client() if who == "anonymous" else login(who)
    for rule, method in staff_routes(app):
        url = build(rule, objects)
        if method == "GET":
            response = client.get(url, headers={"Accept": "text/html"})
        else:
            response = client.post(url, {}) if who != "anonymous" else client.post(url)
        expected = {302, 401, 400} if who == "anonymous" else {403, 400}
        assert response.status_code in expected, (who, method, url, response.status_code)
        if who == "reader1":
            assert response.status_code == 403 or method == "POST", (method, url, response.status_code)


@pytest.mark.parametrize("who", ["studio2", "lib2"])
def test_other_library_staff_refused(app, login, objects, who):
    client = login(who)
    for rule, method in staff_routes(app):
        if not rule.arguments or rule.endpoint.startswith("admin.") or rule.endpoint.startswith("stats."):
            continue
        url = build(rule, objects)
        response = client.get(url) if method == "GET" else client.post(url, {"start": "1", "title": "x",
                                                                             "evidence": "x", "decision": "approve"})
        assert response.status_code in (403, 404), (who, method, url, response.status_code)


def test_librarian_cannot_reach_admin_or_studio_and_sees_only_own_stats(app, login, objects):
    lib2 = login("lib2")
    assert lib2.get("/admin/").status_code == 403
    assert lib2.get("/studio/").status_code == 403
    assert lib2.get("/stats/?library=1").status_code == 200  # the parameter is ignored for librarians
