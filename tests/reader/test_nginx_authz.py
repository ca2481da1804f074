"""auth-request and signed-url modes: docs/nginx.conf in a real nginx child in front of the app (a thread server).

nginx asks /_authz/media once per token, caches the app's decision for MEDIA_AUTHZ_CACHE_S and
sends HLS files itself. These tests check what reaches the browser (bytes, types, ranges,
refusals, traversal probes), that the decision is cached and for how long, and the endpoint's own
answers and refusals. The x-accel variant of the sample is checked too, and the signed-url
variant, where nginx checks segment links itself (streaming.signed_links) and never asks the app.
"""
from __future__ import annotations

import http.client
import os
import time
import uuid
from pathlib import Path

import pytest
from flask import request

from nginx_sample import NGINX, NginxProcess, free_port, render_site
from reader_helpers import login, media_token

KEY_HEADER = "X-Sachnoi-Authz-Key"
USER_AGENT = "sachnoi-test-player"  # the same for logins and media requests, as in one browser


def need_nginx() -> None:
    if not Path(NGINX).exists():
        reason = f"nginx not found at {NGINX} (`make install` installs it)"
        if os.environ.get("SACHNOI_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason} (required: SACHNOI_REQUIRE_SERVICES=1)")
        pytest.skip(reason)


class Front:
    """The app (mode, key, cache time) behind nginx; `calls` lists the X-Original-URI of every
    /_authz/media request the app received."""

    def __init__(self, app, nginx: NginxProcess, calls: list[str], seen: list[str]):
        self.app, self.nginx, self.calls, self.seen = app, nginx, calls, seen  # seen: every path the app got

    def get(self, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.nginx.port, timeout=10)
        try:
            # sent as written: http.client does not normalise the path
            conn.request("GET", path, headers={"User-Agent": USER_AGENT, **(headers or {})})
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

    def authz_calls(self) -> int:
        return len(self.calls)


@pytest.fixture
def front(settings, start_server, tmp_path):
    """front(mode="auth-request", cache_s=60) -> Front, stopped after the test."""
    need_nginx()
    from web.app import create_app
    started = []

    def start(mode: str = "auth-request", cache_s: int = 60) -> Front:
        key = "k-" + uuid.uuid4().hex
        app = create_app({**settings, "MEDIA_SERVE_MODE": mode, "MEDIA_AUTHZ_KEY": key,
                          "MEDIA_AUTHZ_CACHE_S": cache_s, "TRUST_PROXY": 1})
        calls: list[str] = []
        seen: list[str] = []

        @app.before_request
        def count_authz():  # the test hook: what nginx asked the app
            seen.append(request.path)
            if request.path == "/_authz/media":
                calls.append(request.headers.get("X-Original-URI", ""))

        server = start_server(app)
        port = free_port()
        folder = tmp_path / f"nginx-{len(started)}"
        folder.mkdir()
        site = render_site(mode=mode, media_root=app.config["MEDIA_ROOT"], app_address=server.url[len("http://"):],
                           port=port, tmp=folder, key=key)
        nginx = NginxProcess(folder, site, port=port).__enter__()
        started.append((app, nginx))
        return Front(app, nginx, calls, seen)

    yield start
    for app, nginx in started:
        nginx.stop()
        app.extensions["sachnoi"].engine.dispose()


def seg(book_id: int, token: str, name: str = "seg_001.m4s", rendition: str = "aac-32k") -> str:
    return f"/books/{book_id}/hls/{rendition}/{name}?t={token}"


def book_uuid(app, book_id: int) -> str:
    from catalog.models import Book
    with app.extensions["sachnoi"].sessions() as s:
        return s.get(Book, book_id).uuid


def stored(app, book_id: int, rendition: str, name: str) -> bytes:
    return (Path(app.config["MEDIA_ROOT"]) / "derived/books" / book_uuid(app, book_id) / "hls" / rendition
            / name).read_bytes()


def test_valid_token_gets_the_files_exact_bytes_with_the_apps_headers(app, make_book, front):
    book_id = make_book("public")
    f = front()
    token = media_token(app, book_id, None)
    status, headers, body = f.get(seg(book_id, token))
    assert status == 200 and body == stored(app, book_id, "aac-32k", "seg_001.m4s")
    assert headers["content-type"] == "audio/mp4"
    assert headers["cache-control"] == "private, max-age=86400, immutable"
    assert headers["x-content-type-options"] == "nosniff" and headers.get("etag")
    assert not {"x-media-dir", "x-accel-expires", "x-media-type"} & set(headers)  # nothing of the check leaks
    status, headers, body = f.get(seg(book_id, token, "init.mp4", "aac-64k"))
    assert (status, headers["content-type"]) == (200, "audio/mp4")
    assert body == stored(app, book_id, "aac-64k", "init.mp4")
    # byte ranges and revalidation come from nginx
    full = stored(app, book_id, "aac-32k", "seg_002.m4s")
    status, headers, body = f.get(seg(book_id, token, "seg_002.m4s"), {"Range": "bytes=10-19"})
    assert status == 206 and body == full[10:20]
    assert headers["content-range"] == f"bytes 10-19/{len(full)}"
    etag = f.get(seg(book_id, token, "seg_002.m4s"))[1]["etag"]
    assert f.get(seg(book_id, token, "seg_002.m4s"), {"If-None-Match": etag})[0] == 304
    assert f.get(seg(book_id, token, "seg_999.m4s"))[0] == 404
    # playlists are still made by the app, with the token on every URI
    status, headers, body = f.get(f"/books/{book_id}/hls/aac-32k/index.m3u8?t={token}")
    assert status == 200 and f"seg_001.m4s?t={token}".encode() in body
    assert all("index.m3u8" not in call for call in f.calls)


def test_missing_expired_foreign_and_forged_tokens_are_refused(app, make_book, front):
    first, second = make_book("public"), make_book("public", title="Sách khác")
    f = front()
    assert f.get(f"/books/{first}/hls/aac-32k/seg_001.m4s")[0] == 401
    assert f.get(seg(first, ""))[0] == 401
    assert f.get(seg(first, media_token(app, second, None)))[0] == 403
    assert f.get(seg(first, media_token(app, first, None, ttl_s=60, now=time.time() - 3600)))[0] == 401
    good = media_token(app, first, None)
    assert f.get(seg(first, good[:-2] + ("AA" if not good.endswith("AA") else "BB")))[0] == 403
    assert f.get(seg(first, "garbage"))[0] == 403
    assert f.get(seg(999999, media_token(app, 999999, None)))[0] == 403  # no such book
    for _ in range(2):  # refusals are never kept: every one of these reached the app
        assert f.get(seg(first, media_token(app, second, None)))[0] == 403
    assert f.authz_calls() == 9
    assert f.get(seg(first, good))[0] == 200


def test_traversal_probes_never_return_file_contents(app, make_book, front):
    book_id = make_book("public")
    f = front()
    token = media_token(app, book_id, None)
    uid = book_uuid(app, book_id)
    home = Path(app.config["HOME"])
    (home / "canary.m4s").write_bytes(b"CANARY-OUTSIDE-MEDIA")
    (Path(app.config["MEDIA_ROOT"]) / "derived/books" / uid / "canary.m4s").write_bytes(b"CANARY-IN-BOOK")
    probes = [
        f"/books/{book_id}/hls/aac-32k/../../canary.m4s?t={token}",
        f"/books/{book_id}/hls/aac-32k/..%2f..%2fcanary.m4s?t={token}",
        f"/books/{book_id}/hls/aac-32k/%2e%2e%2f%2e%2e%2fcanary.m4s?t={token}",
        f"/books/{book_id}/hls/aac-32k/%252e%252e%252f%252e%252e%252fcanary.m4s?t={token}",
        f"/books/{book_id}/hls/..%2f..%2f..%2f..%2fcanary.m4s?t={token}",
        f"/books/{book_id}/hls/aac-32k/..%5c..%5ccanary.m4s?t={token}",
        f"/books/{book_id}/hls/aac-32k/..%2f..%2f..%2f..%2f..%2fsachnoi.db?t={token}",
        f"/books/{book_id}/hls/aac-32k/seg_001.m4s%00.m4s?t={token}",
        f"/books/{book_id}/hls/aac-32k/..%2fmaster.m3u8?t={token}",
        f"/books/{book_id}/hls/aac-32k/.hidden.m4s?t={token}",
        f"/books/1%2f..%2f{book_id}/hls/aac-32k/seg_001.m4s?t={token}",
        f"/books/{book_id}/hls/aac-32k/seg_001.m4s/..%2f..%2f..%2fcanary.m4s?t={token}",
        f"/_media/derived/books/{uid}/hls/aac-32k/seg_001.m4s",
        f"/_media/derived/books/{uid}/canary.m4s",
        "/_authz/media",
        "/%5Fauthz/media",
    ]
    for path in probes:
        status, _headers, body = f.get(path, {"X-Original-URI": seg(book_id, token)})
        assert 400 <= status < 500, (path, status)
        assert b"CANARY" not in body and b"SQLite format" not in body and b"#EXTM3U" not in body, path
        assert b"ftyp" not in body and b"moof" not in body, path  # no fMP4 box of any segment


def test_the_decision_is_cached_per_token_file_type_and_login(app, make_book, front, people):
    book_id = make_book("public")
    f = front()
    token = media_token(app, book_id, None)
    for n in range(1, 6):
        assert f.get(seg(book_id, token, f"seg_{n:03d}.m4s"))[0] == 200
    assert f.authz_calls() == 1
    assert f.get(seg(book_id, token, "seg_001.m4s", "aac-64k"))[0] == 200  # other rendition, same decision
    assert f.authz_calls() == 1
    assert f.get(seg(book_id, token, "init.mp4"))[0] == 200  # another type: asked once more
    assert f.get(seg(book_id, media_token(app, book_id, None, ttl_s=900)))[0] == 200  # another token
    assert f.authz_calls() == 3
    # a reader's token is that reader's: another logged-in account meets the app, not the cache
    members = make_book("members", title="Sách cho bạn đọc")
    owner, other = app.test_client(), app.test_client()
    for c in (owner, other):
        c.environ_base["HTTP_USER_AGENT"] = USER_AGENT
    login(owner, "bandoc")
    login(other, "thuthu")
    cookie = {"Cookie": f"session={owner.get_cookie('session').value}"}
    reader_token = media_token(app, members, people["bandoc"])
    assert [f.get(seg(members, reader_token, f"seg_00{n}.m4s"), cookie)[0] for n in (1, 2, 3)] == [200] * 3
    calls = f.authz_calls()
    assert calls == 4
    assert f.get(seg(members, reader_token), {"Cookie": f"session={other.get_cookie('session').value}"})[0] == 403
    assert f.authz_calls() == calls + 1


def test_a_title_made_non_public_stops_streaming_after_the_cache_time(app, make_book, front):
    from catalog.models import Book
    book_id = make_book("public")
    cache_s = 2
    f = front(cache_s=cache_s)
    token = media_token(app, book_id, None)

    def set_policy(policy: str) -> None:
        with app.extensions["sachnoi"].sessions.begin() as s:
            s.get(Book, book_id).access_policy = policy

    for cycle in range(2):  # the second time, nginx replaces an expired cached answer with a new one
        calls = f.authz_calls()
        assert f.get(seg(book_id, token))[0] == 200
        allowed_at = time.monotonic()
        set_policy("members")
        # playlists are checked live: refused at once
        assert f.get(f"/books/{book_id}/hls/aac-32k/index.m3u8?t={token}")[0] == 401
        # segments: the cached "yes" holds (this is the documented revocation delay) ...
        assert f.get(seg(book_id, token, "seg_002.m4s"))[0] == 200 and f.authz_calls() == calls + 1
        # ... until it expires, at most cache_s seconds after the app gave it
        while f.get(seg(book_id, token, "seg_003.m4s"))[0] == 200:
            assert time.monotonic() - allowed_at < cache_s + 1.5, "the cached answer outlived MEDIA_AUTHZ_CACHE_S"
            time.sleep(0.2)
        assert f.get(seg(book_id, token))[0] == 401, cycle
        set_policy("public")


def test_the_cache_never_outlives_the_token(app, make_book, front):
    book_id = make_book("public")
    f = front(cache_s=60)
    token = media_token(app, book_id, None, ttl_s=2)
    assert f.get(seg(book_id, token))[0] == 200
    time.sleep(3.1)
    assert f.get(seg(book_id, token, "seg_002.m4s"))[0] == 401


def test_on_site_titles_are_checked_on_every_request(app, make_book, front):
    from catalog.models import Library
    book_id = make_book("on-site", onsite="10.0.0.0/8")  # nginx talks to the app from 127.0.0.1
    f = front()
    token = media_token(app, book_id, None)
    assert [f.get(seg(book_id, token))[0] for _ in range(2)] == [403, 403]
    with app.extensions["sachnoi"].sessions.begin() as s:
        s.query(Library).update({"onsite_networks": "127.0.0.0/8"})
    assert [f.get(seg(book_id, token, f"seg_00{n}.m4s"))[0] for n in (1, 2, 3)] == [200] * 3
    assert f.authz_calls() == 5  # the address decides, so nginx never keeps the answer


def test_downloads_and_the_x_accel_sample_still_work(app, make_book, front):
    book_id = make_book("public")
    uid = book_uuid(app, book_id)
    mp3 = b"ID3" + bytes(range(256)) * 4
    app.extensions["sachnoi"].store.write_bytes(f"derived/books/{uid}/mp3/01.mp3", mp3)
    token = media_token(app, book_id, None)
    for mode in ("auth-request", "x-accel"):
        f = front(mode=mode)
        status, headers, body = f.get(f"/books/{book_id}/mp3/01.mp3?t={token}")
        assert (status, body, headers["content-type"]) == (200, mp3, "audio/mpeg"), mode
        status, headers, body = f.get(seg(book_id, token))
        assert (status, headers["content-type"]) == (200, "audio/mp4"), mode
        assert body == stored(app, book_id, "aac-32k", "seg_001.m4s")
        assert f.get(seg(book_id, ""))[0] == 401
        assert f.authz_calls() == (2 if mode == "auth-request" else 0)


# -- signed-url mode -----------------------------------------------------------------------------------
def media_playlist(f: Front, book_id: int, token: str, rendition: str = "aac-32k") -> list[str]:
    status, _headers, body = f.get(f"/books/{book_id}/hls/{rendition}/index.m3u8?t={token}",
                                   {"Accept-Encoding": "identity"})
    assert status == 200
    return body.decode().splitlines()


def file_uris(lines: list[str]) -> list[str]:
    """The init file's and the segments' URIs of a media playlist."""
    found = [line for line in lines if line and not line.startswith("#")]
    found += [line.split('URI="', 1)[1].split('"', 1)[0] for line in lines if line.startswith("#EXT-X-MAP")]
    return found


def test_signed_url_segments_come_from_nginx_alone_with_the_files_bytes(app, make_book, front):
    """Peer bug class: media served without any check once a URL is known. Here a segment link
    is only good with the app's signature, for its own file and until the token expires."""
    from streaming import signed_links
    book_id = make_book("public")
    f = front(mode="signed-url")
    token = media_token(app, book_id, None)
    uid = book_uuid(app, book_id)
    uris = file_uris(media_playlist(f, book_id, token))
    assert len(uris) > 3 and all(u.startswith(f"/_hls/{uid}/aac-32k/") for u in uris)
    before = len(f.seen)
    for uri in uris:
        status, headers, body = f.get(uri)
        name = uri.split("?")[0].rsplit("/", 1)[1]
        assert (status, body) == (200, stored(app, book_id, "aac-32k", name)), uri
        assert headers["content-type"] == "audio/mp4" and headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "private, max-age=86400, immutable"
    full = stored(app, book_id, "aac-32k", "seg_002.m4s")
    uri = next(u for u in uris if "seg_002" in u)
    assert f.get(uri, {"Range": "bytes=5-9"})[2] == full[5:10]
    assert f.seen[before:] == []  # not one of these reached the app
    # what does not pass: a changed signature, another file or book with this signature, no
    # signature, an expired link, a link signed with another key
    path, query = uri.split("?")
    expires = int(query.split("e=")[1].split("&")[0])
    key = app.config["MEDIA_AUTHZ_KEY"]
    other = make_book("public", title="Sách khác")
    forged = [
        uri[:-2] + ("AA" if not uri.endswith("AA") else "BB"),
        uri.replace("seg_002", "seg_003"),
        uri.replace("aac-32k", "aac-64k"),
        uri.replace(uid, book_uuid(app, other)),
        path,
        f"{path}?e={expires}",
        f"{path}?e={expires + 3600}&s={query.split('s=')[1]}",
        signed_links.segment_url(uid, "aac-32k", "seg_002.m4s", expires=int(time.time()) - 5, key=key),
        signed_links.segment_url(uid, "aac-32k", "seg_002.m4s", expires=expires, key=key + "x"),
    ]
    for probe in forged:
        status, _headers, body = f.get(probe)
        assert status == 403 and b"ftyp" not in body and b"moof" not in body, probe
    assert f.seen[before:] == []


def test_signed_url_links_name_nothing_outside_the_books_folder(app, make_book, front):
    """Peer bug class: path traversal in media routes (`../`, `%2f`, absolute paths reaching files
    outside the media folder). Even links signed with the real key reach only a plain file name
    inside one book's HLS folder, because nginx routes nothing else to the signed location."""
    from streaming import signed_links
    book_id = make_book("public")
    f = front(mode="signed-url")
    key = app.config["MEDIA_AUTHZ_KEY"]
    uid = book_uuid(app, book_id)
    home = Path(app.config["HOME"])
    (home / "canary.m4s").write_bytes(b"CANARY-OUTSIDE-MEDIA")
    expires = int(time.time()) + 600

    def signed(path: str) -> str:  # as if the key had signed it: only nginx's routing stands in the way
        return f"{path}?e={expires}&s={signed_links.signature(path, expires, key)}"
    probes = [signed(p) for p in (
        f"/_hls/{uid}/aac-32k/../../../../canary.m4s", f"/_hls/{uid}/aac-32k/..%2f..%2fcanary.m4s",
        f"/_hls/{uid}/../../../canary.m4s", f"/_hls/{uid}/aac-32k/%2e%2e%2fcanary.m4s",
        "/_hls/..%2f..%2f..%2f/aac-32k/canary.m4s", f"/_hls/{uid}/aac-32k/index.m3u8",
        f"/_hls/{uid}/aac-32k/.hidden.m4s")]
    for probe in probes:
        status, _headers, body = f.get(probe)
        assert 400 <= status < 500, (probe, status)
        assert b"CANARY" not in body and b"#EXTM3U" not in body, probe
    with pytest.raises(ValueError):
        signed_links.segment_url(uid, "..", "seg_001.m4s", expires=expires, key=key)


def test_signed_url_mode_keeps_app_checked_links_for_on_site_titles(app, make_book, front):
    """Peer bug class: an access rule skipped on a fast path. nginx cannot check a reader's
    address, so an on-site title's playlist keeps token URLs that the app checks on every request."""
    from catalog.models import Library
    book_id = make_book("on-site", onsite="127.0.0.0/8")
    f = front(mode="signed-url")
    token = media_token(app, book_id, None)
    lines = media_playlist(f, book_id, token)
    assert all(u.endswith(f"?t={token}") and not u.startswith("/") for u in file_uris(lines))
    segment = next(line for line in lines if line.startswith("seg_"))
    assert segment.endswith(f"?t={token}")
    status, _headers, body = f.get(f"/books/{book_id}/hls/aac-32k/{segment}")
    assert (status, body) == (200, stored(app, book_id, "aac-32k", segment.split("?")[0]))
    with app.extensions["sachnoi"].sessions.begin() as s:
        s.query(Library).update({"onsite_networks": "10.0.0.0/8"})
    assert f.get(f"/books/{book_id}/hls/aac-32k/{segment}")[0] == 403  # checked live


@pytest.mark.browser
def test_hls_js_plays_through_nginx_with_signed_links(app, make_book, front, browser):
    """The player as readers get it, behind nginx in signed-url mode: hls.js follows the absolute
    /_hls/ links of the playlist, audio plays, and no segment request reaches the app."""
    book_id = make_book("public")
    f = front(mode="signed-url")
    context = browser.new_context()
    page = context.new_page()
    files = []
    page.on("response", lambda r: files.append((r.url, r.status)) if "/_hls/" in r.url else None)
    page.goto(f"http://127.0.0.1:{f.nginx.port}/books/{book_id}")
    page.click("#play")
    page.wait_for_function("() => document.getElementById('audio').currentTime > 1.0 && "
                           "!document.getElementById('audio').paused", timeout=10000)
    assert files and all(status == 200 for _url, status in files)
    assert not [p for p in f.seen if p.endswith((".m4s", ".mp4")) or p.startswith("/_hls/")]
    assert any(p.endswith("/index.m3u8") for p in f.seen)  # the playlist itself was the app's
    context.close()


# -- the endpoint itself, without nginx ------------------------------------------------------------------
@pytest.fixture
def authz_app(settings):
    from web.app import create_app
    key = "k-" + uuid.uuid4().hex
    application = create_app({**settings, "MEDIA_SERVE_MODE": "auth-request", "MEDIA_AUTHZ_KEY": key,
                              "MEDIA_AUTHZ_CACHE_S": 60})
    application.config["TEST_KEY"] = key
    yield application
    application.extensions["sachnoi"].engine.dispose()


def ask(app, uri: str, key: str | None = None, **kw):
    headers = {"X-Original-URI": uri}
    if key is not False:
        headers[KEY_HEADER] = key or app.config["TEST_KEY"]
    return app.test_client().get("/_authz/media", headers=headers, **kw)


def test_endpoint_answers_with_folder_type_and_cache_time(authz_app, app, make_book):
    book_id = make_book("public")
    token = media_token(app, book_id, None)
    response = ask(authz_app, seg(book_id, token))
    assert response.status_code == 204 and response.data == b""
    assert response.headers["X-Media-Dir"] == f"derived/books/{book_uuid(app, book_id)}/hls"
    assert response.headers["X-Media-Type"] == "audio/mp4"
    assert response.headers["X-Media-Cache-Control"] == "private, max-age=86400, immutable"
    assert response.headers["X-Accel-Expires"] == "60" and "Cache-Control" not in response.headers
    # nginx re-reads this answer on every cache hit: no page headers, no Content-Type
    assert not {"Content-Type", "Content-Security-Policy", "X-Frame-Options"} & set(response.headers.keys())
    short = ask(authz_app, seg(book_id, media_token(app, book_id, None, ttl_s=10)))
    assert 8 <= int(short.headers["X-Accel-Expires"]) <= 10  # never past the token's expiry
    refused = ask(authz_app, seg(book_id, "garbage"))
    assert refused.status_code == 403 and refused.headers["X-Accel-Expires"] == "0"
    assert refused.headers["Cache-Control"] == "no-store"
    onsite = make_book("on-site", onsite="127.0.0.0/8")
    inside = ask(authz_app, seg(onsite, media_token(app, onsite, None)), environ_base={"REMOTE_ADDR": "127.0.0.9"})
    assert inside.status_code == 204 and inside.headers["X-Accel-Expires"] == "0"


def test_endpoint_accepts_only_the_exact_uri_shape(authz_app, app, make_book):
    book_id = make_book("public")
    token = media_token(app, book_id, None)
    for uri in (f"/books/{book_id}/hls/aac-32k/index.m3u8?t={token}",        # playlists carry tokens: app only
                f"/books/{book_id}/hls/aac-32k/seg_001.m4s?t={token}&x=1",
                f"/books/{book_id}/hls/aac-32k/seg_001.m4s?x=1&t={token}",
                f"/books/{book_id}/hls/aac-32k/seg_001.m4s?T={token}",
                f"/books/{book_id}/hls/aac-32k/%73eg_001.m4s?t={token}",
                f"/books/{book_id}/hls/aac-32k/../aac-64k/seg_001.m4s?t={token}",
                f"/books/{book_id}/hls/AAC/seg_001.m4s?t={token}",
                f"/books/{book_id}/hls/aac-32k/seg_001.exe?t={token}",
                f"/books/{book_id}/mp3/01.mp3?t={token}", ""):
        response = ask(authz_app, uri)
        assert (response.status_code, response.headers["X-Accel-Expires"]) == (403, "0"), uri


def test_endpoint_is_a_404_without_the_shared_key_or_the_mode(authz_app, app, client, make_book):
    book_id = make_book("public")
    uri = seg(book_id, media_token(app, book_id, None))
    assert ask(authz_app, uri, key=False).status_code == 404
    assert ask(authz_app, uri, key="k-" + uuid.uuid4().hex).status_code == 404
    assert ask(authz_app, uri, key=authz_app.config["TEST_KEY"] + "x").status_code == 404
    assert ask(authz_app, uri).status_code == 204
    # the default app (direct mode) has no such endpoint, whatever the caller sends
    assert client.get("/_authz/media", headers={"X-Original-URI": uri, KEY_HEADER: ""}).status_code == 404


def test_app_refuses_to_start_with_an_unknown_mode_or_a_weak_key(settings):
    from web.app import create_app
    from web.security import InsecureConfigError
    with pytest.raises(ValueError, match="MEDIA_SERVE_MODE"):
        create_app({**settings, "MEDIA_SERVE_MODE": "x_accel"})
    for mode in ("auth-request", "signed-url"):
        for key in ("", "short-key", "REPLACE-WITH-MEDIA_AUTHZ_KEY"):
            with pytest.raises(InsecureConfigError, match="MEDIA_AUTHZ_KEY"):
                create_app({**settings, "MEDIA_SERVE_MODE": mode, "MEDIA_AUTHZ_KEY": key})
