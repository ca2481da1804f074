"""Media on the S3 store (Ceph RGW, recordings.s3store) served at scale: hls.js plays a book through
nginx, which checks the path token and fetches segments from the store through its cache; the web
process makes playlists from the store and answers downloads with a 302 to a presigned URL, and
never opens a media file on local disk (its store's `path()`, the local cache, is forbidden here).
"""
from __future__ import annotations

import datetime as dt
import re
import urllib.error
import urllib.request
import uuid

import pytest

from catalog.models import Rendition, utcnow
from recordings.store import served_prefix
from studio import media_versions
from test_media_versions import book_row, hls_tree_b, publish, reencode  # noqa: F401  (hls_tree_b: a fixture)
from test_nginx_path_token import (app_got_segments, play_through_nginx, pt_front,  # noqa: F401
                                   s3_client, serving_policy)
from test_shared_segments import named_a, place  # noqa: F401  (named_a: a fixture)

pytest.importorskip("recordings.s3store")


@pytest.fixture
def settings(home, s3_settings):
    """The reader tests' settings with media on a fresh RGW bucket (MEDIA_URL = s3://...)."""
    return {"HOME": str(home), "SECRET_KEY": "test-" + uuid.uuid4().hex, "WTF_CSRF_ENABLED": True,
            "TESTING": True, **s3_settings}


def fetch(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {}, exc.read()


def no_local_files(front) -> None:
    """Make the web process's store refuse to hand out a local path (the object store's cache)."""
    def refuse(key):
        raise AssertionError(f"the web process opened a local media file: {key}")
    front.app.extensions["sachnoi"].store.path = refuse


@pytest.fixture
def s3_front(app, rgw, s3_settings, pt_front):
    assert app.extensions["sachnoi"].store.is_remote
    bucket = s3_settings["MEDIA_URL"].removeprefix("s3://")
    s3_client(rgw).put_bucket_policy(Bucket=bucket, Policy=serving_policy(bucket))
    front = pt_front(store="s3", store_address=rgw.endpoint.removeprefix("http://"), bucket=bucket)
    no_local_files(front)
    return front


@pytest.mark.browser
def test_hls_js_plays_a_book_from_the_store_through_nginx(browser, app, make_book, hls_tree, s3_front):
    book_id = make_book("public")
    version = publish(app, book_id).version
    f = s3_front
    segments = play_through_nginx(browser, f, book_id)
    assert segments and all(status == 200 for _url, status in segments)
    assert all(f"/{version}/hls/" in url for url, _s in segments)
    assert app_got_segments(f) == []
    url = next(u for u, _s in segments).split(str(f.nginx.port), 1)[1]
    status, headers, body = f.get(url)
    assert (status, headers["x-cache-status"]) == (200, "HIT")  # the store was asked once per segment


@pytest.mark.browser
def test_hls_js_plays_shared_segments_of_a_version_from_the_store_through_nginx(browser, app, make_book,
                                                                                named_a, s3_front):
    """Segments named by their content (as the package stage names them) are not copied into the
    version: hls.js asks for them under the version's path and nginx fetches the book's one copy."""
    book_id = make_book("public")
    place(app, book_id, named_a)
    version = publish(app, book_id).version
    store = app.extensions["sachnoi"].store
    assert not [key for key, _size in store.list(served_prefix(book_row(app, book_id).uuid, version))
                if not key.endswith(".m3u8")]
    segments = play_through_nginx(browser, s3_front, book_id)
    assert segments and all(status == 200 for _url, status in segments)
    assert all(f"/{version}/hls/" in url and re.search(r"/c001-[0-9a-f]{8}-\d{3}\.m4s$", url) for url, _s in segments)
    assert app_got_segments(s3_front) == []


def test_a_reencode_on_the_store_gets_new_paths_and_old_cache_entries_stay_with_the_old_version(
        app, make_book, hls_tree, hls_tree_b, s3_front):
    book_id = make_book("public")
    first = publish(app, book_id).version
    f = s3_front
    html = f.get(f"/books/{book_id}")[2].decode()
    base = re.search(r'data-src="([^"]+)"', html).group(1).rsplit("/", 1)[0]
    assert f.get(f"{base}/aac-32k/seg_001.m4s")[2] == (hls_tree / "aac-32k/seg_001.m4s").read_bytes()
    reencode(app, book_id, hls_tree_b)
    second = publish(app, book_id).version
    html = f.get(f"/books/{book_id}")[2].decode()
    new_base = re.search(r'data-src="([^"]+)"', html).group(1).rsplit("/", 1)[0]
    assert f"/{second}/hls" in new_base and second != first
    status, _h, index = f.get(f"{new_base}/aac-32k/index.m3u8")
    assert status == 200 and index == (hls_tree_b / "aac-32k/index.m3u8").read_bytes()
    status, headers, body = f.get(f"{new_base}/aac-32k/seg_001.m4s")
    assert (status, headers["x-cache-status"]) == (200, "MISS")
    assert body == (hls_tree_b / "aac-32k/seg_001.m4s").read_bytes()
    store = app.extensions["sachnoi"].store
    media_versions.collect(app.extensions["sachnoi"].sessions, store, grace_s=0,
                           now=utcnow() + dt.timedelta(seconds=1))
    assert not store.exists(served_prefix(book_row(app, book_id).uuid, first))   # gone from the store
    assert f.get(f"{base}/aac-32k/index.m3u8")[0] == 404                         # and its playlists
    assert app_got_segments(f) == []


def test_downloads_answer_302_to_a_presigned_url_that_rgw_checks(app, make_book, s3_front):
    from reader_helpers import media_token
    book_id = make_book("public")
    uuid_ = book_row(app, book_id).uuid
    store = app.extensions["sachnoi"].store
    store.write_bytes(f"derived/books/{uuid_}/book.m4b", b"\x00\x00\x00\x20ftypM4B " + b"m" * 64)
    with app.extensions["sachnoi"].sessions.begin() as s:
        s.add(Rendition(book_id=book_id, kind="m4b", name="m4b", key=f"derived/books/{uuid_}/book.m4b",
                        sha256="ab" * 32))
    version = publish(app, book_id).version
    client = s3_front.app.test_client()
    answer = client.get(f"/books/{book_id}/book.m4b?t={media_token(app, book_id, None, use='d')}")
    assert answer.status_code == 302 and answer.headers["Cache-Control"] == "no-store"
    location = answer.headers["Location"]
    assert f"/{served_prefix(uuid_, version)}/book.m4b?" in location
    status, headers, body = fetch(location)
    assert status == 200 and body.endswith(b"m" * 64)
    assert f'book-{book_id}.m4b' in headers["content-disposition"]
    tampered = re.sub(r"(Signature=)(.)", lambda m: m.group(1) + ("0" if m.group(2) != "0" else "1"), location)
    assert tampered != location and fetch(tampered)[0] == 403
    assert fetch(location.replace(f"book-{book_id}.m4b", "other.m4b"))[0] == 403   # the name is signed too
    assert client.get(f"/books/{book_id}/book.m4b?t=forged").status_code == 403   # no redirect without a check
