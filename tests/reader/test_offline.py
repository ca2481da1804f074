"""Offline listening, server side: the web app manifest and icons, the service worker's headers,
and the "may I keep this title offline?" answer a page asks before a download and on every reconnect."""
from __future__ import annotations

import io
from types import SimpleNamespace

from PIL import Image

from catalog.manuscripts import ParsedSection, store_parsed
from catalog.models import Book, Chapter
from reader_helpers import login
from streaming.offline import may_keep, pick_rendition
from web.app_icons import FILES, FOLDER, draw_icon


def test_manifest_names_the_app_its_icons_start_url_and_display(client):
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200 and response.mimetype == "application/manifest+json"
    manifest = response.get_json()
    assert manifest["name"] == "Sách Nói" and manifest["lang"] == "vi"
    assert manifest["start_url"] == "/" and manifest["scope"] == "/"
    assert manifest["display"] in ("standalone", "fullscreen", "minimal-ui")
    assert manifest["theme_color"] == "#0b5394" and manifest["background_color"] == "#ffffff"
    sizes = {(i["sizes"], i["purpose"]) for i in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for icon in manifest["icons"]:
        png = client.get(icon["src"])
        assert png.status_code == 200 and png.mimetype == "image/png"
        image = Image.open(io.BytesIO(png.data))
        assert f"{image.width}x{image.height}" == icon["sizes"]
    page = client.get("/").get_data(as_text=True)
    assert '<link rel="manifest" href="/manifest.webmanifest">' in page
    assert '<meta name="theme-color" content="#0b5394">' in page


def test_committed_icons_are_small_and_the_ones_the_drawing_makes():
    for name, (size, maskable) in FILES.items():
        data = (FOLDER / name).read_bytes()
        assert len(data) < 20_000, name
        image = Image.open(io.BytesIO(data))
        assert image.size == (size, size)
        again = Image.open(io.BytesIO(draw_icon(size, maskable)))
        assert image.convert("RGBA").tobytes() == again.convert("RGBA").tobytes(), name
    maskable = Image.open(FOLDER / "icon-maskable-512.png").convert("RGBA")
    assert maskable.getpixel((2, 2))[3] == 255  # full bleed: the corners are painted, not transparent


def test_service_worker_is_served_for_the_whole_site(client):
    response = client.get("/sw.js")
    assert response.status_code == 200 and response.mimetype == "text/javascript"
    assert response.headers["Service-Worker-Allowed"] == "/"
    assert response.headers["Cache-Control"] == "no-cache"
    assert b"sachnoi-book-" in response.data


def test_offline_page_lists_from_the_browser(client):
    page = client.get("/offline").get_data(as_text=True)
    assert "<h1" in page and "Sách đã tải" in page and 'id="offline-list"' in page
    assert "/static/offline.js" in page


def test_a_reader_who_may_listen_gets_what_to_download(app, client, make_book, people):
    book_id = make_book("members")
    anonymous = client.get(f"/api/books/{book_id}/offline")
    assert anonymous.status_code == 200
    assert anonymous.get_json()["allowed"] is False and anonymous.get_json()["reason"] == "login-required"
    assert "master" not in anonymous.get_json()
    login(client, "bandoc")
    answer = client.get(f"/api/books/{book_id}/offline")
    assert answer.headers["Cache-Control"] == "no-store"
    plan = answer.get_json()
    assert plan["allowed"] is True and plan["rendition"] == "aac-64k" and plan["bitrate"] == 64000
    assert plan["size_bytes"] > 10_000 and plan["csrf_token"]
    assert plan["page"] == f"/books/{book_id}" and plan["text"] is None
    master = client.get(plan["master"])
    assert master.status_code == 200 and b"aac-64k/index.m3u8?t=" in master.data
    assert client.get(plan["manifest"]).status_code == 200
    page = client.get(f"/books/{book_id}").get_data(as_text=True)
    assert "Tải về nghe ngoại tuyến" in page and f'data-plan="/api/books/{book_id}/offline"' in page


def test_the_answer_turns_to_no_when_the_policy_changes_or_the_title_goes(app, client, make_book, people):
    book_id = make_book("public")
    assert client.get(f"/api/books/{book_id}/offline").get_json()["allowed"] is True
    sessions = app.extensions["sachnoi"].sessions
    with sessions.begin() as s:
        s.get(Book, book_id).access_policy = "print-disabled"
    answer = client.get(f"/api/books/{book_id}/offline").get_json()
    assert answer == {**answer, "allowed": False, "reason": "login-required"}
    login(client, "bandoc")
    assert client.get(f"/api/books/{book_id}/offline").get_json()["reason"] == "print-disabled-only"
    with sessions.begin() as s:
        s.get(Book, book_id).state = "withdrawn"
    gone = client.get(f"/api/books/{book_id}/offline")
    assert gone.status_code == 404 and gone.get_json()["allowed"] is False
    assert client.get("/api/books/987654/offline").status_code == 404


def test_on_site_titles_are_never_copied(app, client, make_book, people):
    book_id = make_book("on-site", onsite="127.0.0.0/8")
    page = client.get(f"/books/{book_id}").get_data(as_text=True)
    assert 'id="player"' in page  # heard here, in the library ...
    assert "Tải về nghe ngoại tuyến" not in page  # ... but not taken home
    answer = client.get(f"/api/books/{book_id}/offline").get_json()
    assert answer["allowed"] is False and answer["reason"] == "on-site-only"
    staff = app.test_client()
    login(staff, "thuthu")  # the owning library's staff may (review copies)
    assert staff.get(f"/api/books/{book_id}/offline").get_json()["allowed"] is True


def with_text(app, book_id: int) -> None:
    """A manuscript of two sentences on chapter 2; the first timed (1.0–3.5 s of the chapter)."""
    with app.extensions["sachnoi"].sessions.begin() as s:
        manuscript = store_parsed(s, book_id, [ParsedSection("Chương 1", [["Trăm năm trong cõi người ta.",
                                                                          "Chữ tài chữ mệnh khéo là ghét nhau."]])])
        chapter = s.query(Chapter).filter_by(book_id=book_id, position=2).one()
        section = manuscript.sections[0]
        section.chapter_id = chapter.id
        section.sentences[0].start_s, section.sentences[0].end_s = 1.0, 3.5


def test_read_along_text_is_part_of_the_copy_when_the_book_has_one(app, client, make_book, people):
    book_id = make_book("public")
    assert client.get(f"/api/books/{book_id}/offline").get_json()["text"] is None
    with_text(app, book_id)
    plan = client.get(f"/api/books/{book_id}/offline").get_json()
    assert plan["text"] == f"/api/books/{book_id}/text"  # the read-along panel's own URL (api.book_text)
    text = client.get(plan["text"]).get_json()
    first, second = text["chapters"][0]["sentences"]
    assert first["text"] == "Trăm năm trong cõi người ta." and first["start_s"] == 11.0  # book seconds
    assert second["start_s"] is None


def _rendition(name, bitrate, kind="hls"):
    return SimpleNamespace(kind=kind, name=name, bitrate=bitrate)


def test_the_rendition_nearest_64_kbps_is_downloaded():
    ladder = [_rendition("aac-32k-mono", 32000), _rendition("aac-64k-mono", 64000), _rendition("aac-128k", 128000),
              _rendition("", 0, kind="m4b")]
    assert pick_rendition(ladder).name == "aac-64k-mono"
    assert pick_rendition([_rendition("aac-32k-mono", 32000), _rendition("aac-96k", 96000)]).name == "aac-32k-mono"
    assert pick_rendition([_rendition("x", 0, kind="mp3")]) is None


def test_may_keep_is_the_streaming_rule_without_on_site_titles():
    import datetime as dt
    book = SimpleNamespace(access_policy="members", state="published", deleted_at=None, publish_at=None,
                           library_id=1)
    reader = SimpleNamespace(id=1, role="reader", library_id=1, is_print_disabled=False)
    assert may_keep(book, reader).allowed and not may_keep(book, None).allowed
    onsite = SimpleNamespace(**{**vars(book), "access_policy": "on-site"})
    assert may_keep(onsite, reader, "10.0.0.5", "10.0.0.0/8").reason == "on-site-only"
    later = SimpleNamespace(**{**vars(book), "publish_at": dt.datetime(2999, 1, 1)})
    assert may_keep(later, reader).reason == "not-published"
