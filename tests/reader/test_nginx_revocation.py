"""Issue 14.1 behind a real nginx: logging out stops a reader's stream after the serve mode's
documented revocation delay and no later (docs/security.md, "Revocation delay per serve mode").

auth-request: nginx reuses the app's "yes" for a token and cookie for at most MEDIA_AUTHZ_CACHE_S.
signed-url: segment links signed for a playlist work until the token's expiry (at most
MEDIA_TOKEN_TTL_S), while playlists are refused at once.
"""
from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

from reader_helpers import csrf_from, login
from test_nginx_authz import USER_AGENT, front, seg  # noqa: F401  (front is a fixture)


def reader_session(app):
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = USER_AGENT
    login(client, "bandoc")
    return client


def logout(client) -> None:
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/").get_data(as_text=True))})


def test_auth_request_stops_a_logged_out_readers_segments_within_the_cache_time(app, make_book, front):
    """Attack: after logout a reader's token kept streaming segments through nginx for good."""
    book = make_book("members")
    cache_s = 2
    f = front(cache_s=cache_s)
    reader = reader_session(app)
    cookie = {"Cookie": f"session={reader.get_cookie('session').value}"}
    token = reader.get(f"/api/books/{book}/token").get_json()["token"]
    assert f.get(seg(book, token), cookie)[0] == 200
    allowed_at = time.monotonic()
    logout(reader)
    assert f.get(f"/books/{book}/hls/aac-32k/index.m3u8?t={token}", cookie)[0] == 401  # playlists: at once
    while f.get(seg(book, token, "seg_002.m4s"), cookie)[0] == 200:
        assert time.monotonic() - allowed_at < cache_s + 1.5, "a segment outlived MEDIA_AUTHZ_CACHE_S after logout"
        time.sleep(0.2)
    assert f.get(seg(book, token, "seg_003.m4s"), cookie)[0] == 401
    assert f.get(seg(book, token, "seg_003.m4s"))[0] == 401  # and never without the cookie


def test_signed_url_links_expire_with_the_token_and_playlists_stop_at_once(app, make_book, front):
    """Signed segment links carry the token's expiry (never later), and a logged-out reader's
    playlist is refused at once, so no new segment links are handed out."""
    from streaming import tokens
    book = make_book("members")
    f = front(mode="signed-url")
    reader = reader_session(app)
    cookie = {"Cookie": f"session={reader.get_cookie('session').value}"}
    token = reader.get(f"/api/books/{book}/token").get_json()["token"]
    claims = tokens.verify(app.config["SECRET_KEY"], token, book_id=book)
    status, _headers, body = f.get(f"/books/{book}/hls/aac-32k/index.m3u8?t={token}", cookie)
    assert status == 200
    links = re.findall(r"^(/_hls/\S+)$", body.decode(), re.M)
    assert links
    expiries = {int(parse_qs(urlsplit(link).query)["e"][0]) for link in links}
    assert expiries == {claims.expires}
    assert claims.expires <= time.time() + int(app.config.get("MEDIA_TOKEN_TTL_S", 6 * 3600)) + 1
    assert f.get(links[0])[0] == 200
    logout(reader)
    assert f.get(f"/books/{book}/hls/aac-32k/index.m3u8?t={token}", cookie)[0] == 401
    assert f.get(f"/books/{book}/hls/aac-32k/index.m3u8?t={token}")[0] == 401
