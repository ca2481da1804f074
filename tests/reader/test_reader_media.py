"""Media delivery: tokens on every URL, the access-policy matrix, types, caching, ranges, gzip, X-Accel."""
from __future__ import annotations

import gzip
import re
import time

import pytest

from reader_helpers import login, media_token


def master(book_id, token):
    return f"/books/{book_id}/hls/master.m3u8?t={token}"


def segment(book_id, token, name="seg_001.m4s"):
    return f"/books/{book_id}/hls/aac-32k/{name}?t={token}"


def test_book_page_playlists_carry_tokens_down_to_every_segment(client, make_book):
    book_id = make_book("public")
    html = client.get(f"/books/{book_id}").get_data(as_text=True)
    src = re.search(r'data-src="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert "?t=" in src
    top = client.get(src)
    assert top.status_code == 200 and top.mimetype == "application/vnd.apple.mpegurl"
    variants = [line for line in top.get_data(as_text=True).splitlines() if line and not line.startswith("#")]
    assert variants and all("?t=" in v for v in variants)
    media = client.get(f"/books/{book_id}/hls/{variants[0]}")
    text = media.get_data(as_text=True)
    uris = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert 'URI="init.mp4?t=' in text
    assert len(uris) >= 10 and all(re.match(r"^seg_\d{3}\.m4s\?t=[\w.-]+$", u) for u in uris)
    seg = client.get(f"/books/{book_id}/hls/aac-32k/{uris[0]}")
    assert seg.status_code == 200 and seg.mimetype == "audio/mp4" and len(seg.data) > 100


def test_no_token_expired_token_and_other_books_token_are_refused(app, client, make_book):
    first, second = make_book("public"), make_book("public", title="Sách khác")
    assert client.get(f"/books/{first}/hls/master.m3u8").status_code == 401
    assert client.get(segment(first, "")).status_code == 401
    expired = media_token(app, first, None, ttl_s=60, now=time.time() - 3600)
    assert client.get(segment(first, expired)).status_code == 401
    other = media_token(app, second, None)
    assert client.get(segment(first, other)).status_code == 403
    assert client.get(master(first, other)).status_code == 403
    good = media_token(app, first, None)
    tampered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    assert client.get(segment(first, tampered)).status_code == 403
    assert client.get(segment(first, "garbage")).status_code == 403
    assert client.get(segment(first, good)).status_code == 200


def test_token_signed_with_another_key_is_refused(client, make_book):
    from streaming import tokens
    book_id = make_book("public")
    foreign = tokens.issue("a different secret", book_id=book_id, subject="p", ttl_s=600)
    assert client.get(segment(book_id, foreign)).status_code == 403


MATRIX = [  # (policy, who, expected status) — who None = anonymous
    ("public", None, 200), ("public", "bandoc", 200),
    ("members", None, 401), ("members", "bandoc", 200),
    ("print-disabled", None, 401), ("print-disabled", "bandoc", 403), ("print-disabled", "khiemthi", 200),
    ("print-disabled", "thuthu", 200), ("print-disabled", "thuthu2", 403),
    ("on-site", None, 403), ("on-site", "bandoc", 403), ("on-site", "thuthu", 200),
]


def test_policy_matrix_on_playlists_and_segments(app, make_book, people):
    books = {policy: make_book(policy, onsite="10.0.0.0/8") for policy in {row[0] for row in MATRIX}}
    clients = {who: app.test_client() for who in {row[1] for row in MATRIX}}
    for who, c in clients.items():
        if who:
            login(c, who)
    seen = []
    for policy, who, _expected in MATRIX:
        book_id, c = books[policy], clients[who]
        token = media_token(app, book_id, people[who] if who else None)
        seen.append((policy, who, c.get(master(book_id, token)).status_code,
                     c.get(segment(book_id, token)).status_code))
    assert seen == [(p, w, e, e) for p, w, e in MATRIX]


def test_on_site_title_plays_from_the_library_network_only(app, client, make_book):
    book_id = make_book("on-site", onsite="10.1.0.0/16\n192.168.5.0/24")
    token = media_token(app, book_id, None)
    inside = client.get(segment(book_id, token), environ_base={"REMOTE_ADDR": "10.1.2.3"})
    outside = client.get(segment(book_id, token), environ_base={"REMOTE_ADDR": "10.2.0.1"})
    assert (inside.status_code, outside.status_code) == (200, 403)


def test_drafts_play_only_for_staff_and_a_readers_token_is_not_anyone_elses(app, client, make_book, people):
    draft = make_book("public", published=False)
    assert client.get(segment(draft, media_token(app, draft, None))).status_code == 404  # like a missing id (14.11)
    login(client, "thuthu")
    assert client.get(segment(draft, media_token(app, draft, people["thuthu"]))).status_code == 200
    # the librarian's token, used by someone else's session (or anonymously after logout)
    members = make_book("members")
    token = media_token(app, members, people["bandoc"])
    assert client.get(segment(members, token)).status_code == 403  # logged in as thuthu


def test_policy_change_applies_to_tokens_already_handed_out(app, client, make_book):
    from catalog.models import Book
    book_id = make_book("public")
    token = media_token(app, book_id, None)
    assert client.get(segment(book_id, token)).status_code == 200
    with app.extensions["sachnoi"].sessions.begin() as s:
        s.get(Book, book_id).access_policy = "members"
    assert client.get(segment(book_id, token)).status_code == 401


def test_headers_ranges_conditional_and_gzip(app, client, make_book):
    book_id = make_book("public")
    token = media_token(app, book_id, None)
    seg = client.get(segment(book_id, token))
    assert seg.headers["Cache-Control"] == "private, max-age=86400, immutable" and seg.headers.get("ETag")
    assert seg.headers.get("Accept-Ranges") == "bytes"
    part = client.get(segment(book_id, token), headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.data == seg.data[10:20]
    assert part.headers["Content-Range"].startswith("bytes 10-19/")
    again = client.get(segment(book_id, token), headers={"If-None-Match": seg.headers["ETag"]})
    assert again.status_code == 304
    plain = client.get(f"/books/{book_id}/hls/aac-32k/index.m3u8?t={token}")
    packed = client.get(f"/books/{book_id}/hls/aac-32k/index.m3u8?t={token}", headers={"Accept-Encoding": "gzip"})
    assert packed.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in packed.headers["Vary"]
    assert gzip.decompress(packed.data) == plain.data and len(packed.data) < len(plain.data)
    assert plain.headers["Cache-Control"].startswith("private")
    assert plain.headers.get("Content-Encoding") is None
    init = client.get(f"/books/{book_id}/hls/aac-32k/init.mp4?t={token}")
    assert init.mimetype == "audio/mp4"


def test_unsafe_names_and_missing_files_are_404(app, client, make_book):
    book_id = make_book("public")
    token = media_token(app, book_id, None)
    for path in ("aac-32k/..%2fmaster.m3u8", "..%2f..%2fsecret/x.m4s", "aac-32k/seg_999.m4s", "AAC/seg_001.m4s"):
        assert client.get(f"/books/{book_id}/hls/{path}?t={token}").status_code == 404, path
    assert client.get(f"/books/9999/hls/master.m3u8?t={media_token(app, 9999, None)}").status_code == 404


def test_x_accel_mode_hands_the_file_to_nginx(settings, make_book, hls_tree):
    from web.app import create_app
    book_id = make_book("public")
    app = create_app({**settings, "MEDIA_SERVE_MODE": "x-accel", "X_ACCEL_PREFIX": "/_media/"})
    client = app.test_client()
    token = media_token(app, book_id, None)
    seg = client.get(segment(book_id, token))
    assert seg.status_code == 200 and seg.data == b""
    assert re.match(r"^/_media/derived/books/[0-9a-f-]{36}/hls/aac-32k/seg_001\.m4s$", seg.headers["X-Accel-Redirect"])
    assert seg.mimetype == "audio/mp4" and "immutable" in seg.headers["Cache-Control"]
    # playlists are still made by the app: they carry tokens
    playlist = client.get(f"/books/{book_id}/hls/aac-32k/index.m3u8?t={token}")
    assert "X-Accel-Redirect" not in playlist.headers and b"?t=" in playlist.data
    assert client.get(segment(book_id, "")).status_code == 401
    app.extensions["sachnoi"].engine.dispose()


def test_manifest_from_opds_without_token_gets_tokens_on_its_media_links(app, client, make_book):
    pytest.importorskip("catalog.readium")
    public, members = make_book("public"), make_book("members")
    response = client.get(f"/books/{public}/manifest.json")
    assert response.status_code == 200 and response.mimetype == "application/audiobook+json"
    hrefs = [link["href"] for link in response.get_json().get("readingOrder", [])]
    assert hrefs and all("?t=" in h for h in hrefs)
    assert client.get(f"/books/{members}/manifest.json").status_code == 401
    assert client.get(f"/books/{public}/manifest.json?t=garbage").status_code == 403


def test_cover_and_renamed_downloads_revalidate(app, client, make_book):
    """The manifest's cover link is served; chapter MP3s keep their names when re-encoded, so they
    are revalidated (ETag) rather than cached as immutable like the hash-named HLS segments."""
    book_id = make_book("public")
    store = app.extensions["sachnoi"].store
    with app.extensions["sachnoi"].sessions() as s:
        from catalog.models import Book
        uuid = s.get(Book, book_id).uuid
    store.write_bytes(f"derived/books/{uuid}/mp3/01.mp3", b"ID3" + bytes(600))
    store.write_bytes(f"derived/books/{uuid}/cover.jpg", b"\xff\xd8\xff" + bytes(100))
    token = media_token(app, book_id, None)
    mp3 = client.get(f"/books/{book_id}/mp3/01.mp3?t={token}")
    assert mp3.status_code == 200 and "immutable" not in mp3.headers["Cache-Control"] and mp3.headers["ETag"]
    again = client.get(f"/books/{book_id}/mp3/01.mp3?t={token}", headers={"If-None-Match": mp3.headers["ETag"]})
    assert again.status_code == 304
    assert "immutable" in client.get(segment(book_id, token)).headers["Cache-Control"]
    cover = client.get(f"/books/{book_id}/cover.jpg")
    assert cover.status_code == 200 and cover.mimetype == "image/jpeg"
    assert client.get("/books/999999/cover.jpg").status_code == 404
