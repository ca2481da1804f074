"""path-token mode behind a real nginx (docs/nginx.conf as written): nginx checks the path token's
signature and expiry itself and sends segments of the published version, from the media folder
or from the S3 store (Ceph RGW) through its proxy_cache; the app makes only the playlists.

hls.js in Debian's Chromium plays a book through nginx, and the app's own request log shows that
no segment reached it. A tampered or expired path token is a 403 from nginx; after a re-encode the
playlist names new paths, and what nginx cached for the old version is never served for the new.
"""
from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

import pytest
from flask import request

from nginx_sample import NginxProcess, free_port, render_site
from reader_helpers import media_token
from recordings.store import served_prefix
from streaming import signed_links
from test_media_versions import book_row, hls_tree_b, publish, reencode  # noqa: F401  (hls_tree_b: a fixture)
from test_shared_segments import first_segment, named_a, named_b, place  # noqa: F401  (named_*: fixtures)
from test_nginx_authz import Front, front, need_nginx  # noqa: F401  (front: a fixture)


@pytest.fixture
def pt_front(settings, app, start_server, tmp_path):
    """pt_front(store="local" | "s3", store_address=..., bucket=...) -> Front in path-token mode."""
    need_nginx()
    from web.app import create_app
    started = []

    def start(store: str = "local", store_address: str = "", bucket: str = "") -> Front:
        key = "k-" + uuid.uuid4().hex
        made = create_app({**settings, "MEDIA_SERVE_MODE": "path-token", "MEDIA_AUTHZ_KEY": key, "TRUST_PROXY": 1})
        seen: list[str] = []

        @made.before_request
        def log_path():  # the app's request log
            seen.append(request.path)

        server = start_server(made)
        port = free_port()
        folder = tmp_path / f"nginx-{len(started)}"
        folder.mkdir()
        site = render_site(mode="path-token", media_root=made.config["MEDIA_ROOT"],
                           app_address=server.url[len("http://"):], port=port, tmp=folder, key=key,
                           store=store, store_address=store_address, bucket_path=bucket)
        nginx = NginxProcess(folder, site, port=port).__enter__()
        started.append((made, nginx))
        front = Front(made, nginx, [], seen)
        front.key = key
        return front

    yield start
    for made, nginx in started:
        nginx.stop()
        made.extensions["sachnoi"].engine.dispose()


def stream_url(f: Front, book_id: int) -> str:
    status, _headers, body = f.get(f"/books/{book_id}")
    assert status == 200
    return re.search(r'data-src="([^"]+)"', body.decode()).group(1)


def app_got_segments(f: Front) -> list[str]:
    return [p for p in f.seen if p.endswith((".m4s", ".mp4"))]


def test_nginx_sends_segments_of_the_version_and_refuses_tampered_or_expired_tokens(app, make_book, hls_tree,
                                                                                    hls_tree_b, pt_front):
    book_id = make_book("public")
    first = publish(app, book_id).version
    uuid_ = book_row(app, book_id).uuid
    f = pt_front()
    url = stream_url(f, book_id)
    base = url.rsplit("/", 1)[0]
    assert f"/{uuid_}/{first}/hls/master.m3u8" in url
    status, _h, body = f.get(url)
    assert status == 200 and body == (hls_tree / "master.m3u8").read_bytes()
    assert f.get(f"{base}/aac-32k/index.m3u8")[0] == 200
    status, headers, body = f.get(f"{base}/aac-32k/seg_001.m4s")
    assert status == 200 and body == (hls_tree / "aac-32k/seg_001.m4s").read_bytes()
    assert headers["content-type"] == "audio/mp4" and "immutable" in headers["cache-control"]
    status, headers, body = f.get(f"{base}/aac-64k/init.mp4", {"Range": "bytes=0-9"})
    assert status == 206 and body == (hls_tree / "aac-64k/init.mp4").read_bytes()[:10]
    assert app_got_segments(f) == []  # nginx sent them: the app made only the page and the playlists

    path_token = url.split("/")[2]
    token, (expires, sig) = signed_links.split_path_token(path_token)
    forged = ("A" if sig[0] != "A" else "B") + sig[1:]
    for bad in (f"{token}~{expires}~{forged}",                                     # tampered signature
                f"{token}~{expires + 3600}~{sig}",                                 # a longer life
                signed_links.path_token(token, uuid_, first, expires=int(time.time()) - 1, key=f.key),  # expired
                signed_links.path_token(token, uuid_, first, expires=expires, key="another-key-0123456789")):
        assert f.get(f"/m/{bad}/{uuid_}/{first}/hls/aac-32k/seg_001.m4s")[0] == 403
        assert f.get(f"/m/{bad}/{uuid_}/{first}/hls/master.m3u8")[0] == 403  # the app answers playlists alike
    other = make_book("public", title="Sách khác")
    other_token = media_token(app, other, None)  # a valid signature is bound to its own token too
    assert f.get(f"/m/{other_token}~{expires}~{sig}/{uuid_}/{first}/hls/aac-32k/seg_001.m4s")[0] == 403
    assert f.get(f"{base}/aac-32k/..%2f..%2fmaster.m3u8")[0] in (400, 403, 404)
    assert app_got_segments(f) == []

    # a re-encode: same file names, other bytes, published as a new version
    reencode(app, book_id, hls_tree_b)
    second = publish(app, book_id).version
    new_url = stream_url(f, book_id)
    assert f"/{second}/hls/" in new_url and second != first
    new_base = new_url.rsplit("/", 1)[0]
    status, _h, body = f.get(f"{new_base}/aac-32k/seg_001.m4s")
    assert status == 200 and body == (hls_tree_b / "aac-32k/seg_001.m4s").read_bytes()
    status, _h, body = f.get(f"{base}/aac-32k/seg_001.m4s")  # a player on the old playlist carries on
    assert status == 200 and body == (hls_tree / "aac-32k/seg_001.m4s").read_bytes()


def play_through_nginx(browser, f: Front, book_id: int) -> list[tuple[str, int]]:
    """Open the book's page through nginx, press play, wait for 2.5 s of playback: (url, status)
    of every segment the browser fetched."""
    page = browser.new_page()
    segments: list[tuple[str, int]] = []
    page.on("response", lambda r: segments.append((r.url, r.status)) if r.url.endswith(".m4s") else None)
    page.goto(f"http://127.0.0.1:{f.nginx.port}/books/{book_id}")
    page.click("#play")
    page.wait_for_function("() => document.getElementById('audio').currentTime > 2.5 && "
                           "!document.getElementById('audio').paused", timeout=20000)
    page.close()
    return segments


@pytest.mark.browser
def test_hls_js_plays_a_book_through_nginx_and_no_segment_reaches_the_app(browser, app, make_book, pt_front):
    book_id = make_book("public")
    version = publish(app, book_id).version
    f = pt_front()
    segments = play_through_nginx(browser, f, book_id)
    assert segments and all(status == 200 for _url, status in segments)
    assert all(f"/{version}/hls/" in url and "/m/" in url for url, _s in segments)
    assert app_got_segments(f) == []
    assert any(p.endswith("master.m3u8") for p in f.seen)  # the playlists did come from the app
    log = (f.nginx.tmp / "access.log").read_text()
    assert re.search(rf"GET /m/\S+/{version}/hls/aac-[0-9]+k/seg_\d+\.m4s HTTP/1\.1\" 200", log)


# -- segments from the S3 store (Ceph RGW) through nginx's cache -------------------------------------
def s3_client(rgw):
    import boto3
    return boto3.client("s3", endpoint_url=rgw.endpoint, aws_access_key_id=rgw.access_key,
                        aws_secret_access_key=rgw.secret_key, region_name="us-east-1")


def serving_policy(bucket: str) -> str:
    """docs/nginx.conf's bucket policy: nginx (here on loopback) may read the versions' HLS files."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": [f"arn:aws:s3:::{bucket}/derived/books/*/hls/*", f"arn:aws:s3:::{bucket}/derived/books/*/v/*/hls/*"],
        "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.1/32"}}}]})


def mirror(app, s3, bucket: str, book_id: int, version: str) -> None:
    """The version's files, as the object store holds them."""
    root = Path(app.config["MEDIA_ROOT"])
    prefix = served_prefix(book_row(app, book_id).uuid, version)
    for path in sorted((root / prefix).rglob("*")):
        if path.is_file():
            s3.put_object(Bucket=bucket, Key=path.relative_to(root).as_posix(), Body=path.read_bytes())


def test_segments_come_from_the_store_through_nginx_cache_and_a_new_version_never_meets_old_entries(
        app, make_book, hls_tree, hls_tree_b, pt_front, rgw, s3_settings):
    bucket = s3_settings["MEDIA_URL"].removeprefix("s3://")
    s3 = s3_client(rgw)
    s3.put_bucket_policy(Bucket=bucket, Policy=serving_policy(bucket))
    book_id = make_book("public")
    first = publish(app, book_id).version
    mirror(app, s3, bucket, book_id, first)
    uuid_ = book_row(app, book_id).uuid
    # what nginx sends comes from the store: the local copy of the segments is gone
    local = Path(app.config["MEDIA_ROOT"]) / served_prefix(uuid_, first) / "hls/aac-32k/seg_001.m4s"
    local.unlink()
    f = pt_front(store="s3", store_address=rgw.endpoint.removeprefix("http://"), bucket=bucket)
    base = stream_url(f, book_id).rsplit("/", 1)[0]
    status, headers, body = f.get(f"{base}/aac-32k/seg_001.m4s")
    assert status == 200, body[:300]
    assert body == (hls_tree / "aac-32k/seg_001.m4s").read_bytes()
    assert headers["x-cache-status"] == "MISS" and headers["content-type"] == "audio/mp4"
    assert not {"x-amz-request-id", "set-cookie"} & set(headers)
    status, headers, body = f.get(f"{base}/aac-32k/seg_001.m4s", {"Range": "bytes=4-11"})
    assert (status, headers["x-cache-status"]) == (206, "HIT")
    assert body == (hls_tree / "aac-32k/seg_001.m4s").read_bytes()[4:12]
    assert f.get(f"{base}/aac-32k/seg_999.m4s")[0] in (403, 404)  # no such object
    forged_base = base.replace("~", "~9", 1)
    assert f.get(f"{forged_base}/aac-32k/seg_001.m4s")[0] == 403
    assert app_got_segments(f) == []
    # the store itself refuses a reader who skips nginx's check: nothing but the versions' HLS is readable
    import urllib.error
    import urllib.request
    m4b = f"{served_prefix(uuid_, first)}/book.m4b"
    s3.put_object(Bucket=bucket, Key=m4b, Body=b"a download")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{rgw.endpoint}/{bucket}/{m4b}", timeout=10)
    assert refused.value.code == 403

    reencode(app, book_id, hls_tree_b)  # same names, other bytes
    second = publish(app, book_id).version
    mirror(app, s3, bucket, book_id, second)
    new_base = stream_url(f, book_id).rsplit("/", 1)[0]
    status, headers, body = f.get(f"{new_base}/aac-32k/seg_001.m4s")
    assert status == 200 and headers["x-cache-status"] == "MISS"
    assert body == (hls_tree_b / "aac-32k/seg_001.m4s").read_bytes()  # never the cached old bytes
    status, headers, body = f.get(f"{base}/aac-32k/seg_001.m4s")
    assert (status, headers["x-cache-status"]) == (200, "HIT")
    assert body == (hls_tree / "aac-32k/seg_001.m4s").read_bytes()


def test_signed_url_mode_links_name_the_published_version(app, make_book, hls_tree, hls_tree_b, front):
    """signed-url mode (docs/nginx.conf): segment links of a playlist are in that playlist's version,
    so a re-encode published meanwhile never swaps the bytes under a player."""
    book_id = make_book("public")
    first = publish(app, book_id).version
    f = front(mode="signed-url")
    token = media_token(app, book_id, None)
    body = f.get(f"/books/{book_id}/hls/aac-32k/index.m3u8?t={token}")[2].decode()
    links = re.findall(r"^(/_hls/\S+)$", body, re.M)
    assert links and all(f"/v/{first}/aac-32k/" in link for link in links)
    reencode(app, book_id, hls_tree_b)
    publish(app, book_id)
    status, _h, data = f.get(links[1])   # the old playlist's link: the old version's bytes
    assert status == 200 and data == (hls_tree / "aac-32k/seg_001.m4s").read_bytes()
    body = f.get(f"/books/{book_id}/hls/aac-32k/index.m3u8?t={token}")[2].decode()
    new_links = re.findall(r"^(/_hls/\S+)$", body, re.M)
    assert f.get(new_links[1])[2] == (hls_tree_b / "aac-32k/seg_001.m4s").read_bytes()
    legacy = make_book("public", title="Chưa có phiên bản")    # no version yet: the old layout
    body = f.get(f"/books/{legacy}/hls/aac-32k/index.m3u8?t={media_token(app, legacy, None)}")[2].decode()
    link = re.findall(r"^(/_hls/\S+)$", body, re.M)[1]
    assert "/v/" not in link and f.get(link)[2] == (hls_tree / "aac-32k/seg_001.m4s").read_bytes()


def mirror_book(app, s3, bucket: str, book_id: int) -> None:
    """Every file of the book (its versions and the shared segments), as the object store holds them."""
    root = Path(app.config["MEDIA_ROOT"])
    for path in sorted((root / f"derived/books/{book_row(app, book_id).uuid}").rglob("*")):
        if path.is_file():
            s3.put_object(Bucket=bucket, Key=path.relative_to(root).as_posix(), Body=path.read_bytes())


def test_nginx_sends_shared_segments_to_every_version_from_the_folder_and_the_store(
        app, make_book, named_a, named_b, pt_front, rgw, s3_settings):
    """Content-named segments (as the package stage names them) are stored once per book: nginx
    sends them to a player of any version that names them, from the media folder or from the store
    with one cache entry for all versions; signed-url links to them name no version."""
    book_id = make_book("public")
    place(app, book_id, named_a)
    first = publish(app, book_id).version
    place(app, book_id, named_b)
    second = publish(app, book_id).version
    assert second != first
    seg_a, seg_b = first_segment(named_a), first_segment(named_b)
    init = next((named_b / "aac-32k").glob("init-*.mp4")).name
    bucket = s3_settings["MEDIA_URL"].removeprefix("s3://")
    s3 = s3_client(rgw)
    s3.put_bucket_policy(Bucket=bucket, Policy=serving_policy(bucket))
    mirror_book(app, s3, bucket, book_id)
    uuid_ = book_row(app, book_id).uuid
    for store in ("local", "s3"):
        f = pt_front() if store == "local" else \
            pt_front(store="s3", store_address=rgw.endpoint.removeprefix("http://"), bucket=bucket)
        new_base = stream_url(f, book_id).rsplit("/", 1)[0]
        token, (expires, _sig) = signed_links.split_path_token(new_base.split("/")[2])
        old_token = signed_links.path_token(token, uuid_, first, expires=expires, key=f.key)  # a player of before
        old_base = f"/m/{old_token}/{uuid_}/{first}/hls"
        for base, seg, tree in ((old_base, seg_a, named_a), (new_base, seg_b, named_b)):
            status, _h, body = f.get(f"{base}/aac-32k/{seg}")
            assert status == 200 and body == (tree / "aac-32k" / seg).read_bytes(), (store, base, body[:200])
        if store == "s3":   # one cache entry per shared file, whichever version's URL asked first
            if (named_a / "aac-32k" / init).is_file():
                assert f.get(f"{old_base}/aac-32k/{init}")[1]["x-cache-status"] == "MISS"
                assert f.get(f"{new_base}/aac-32k/{init}")[1]["x-cache-status"] == "HIT"
        assert f.get(f"{new_base}/aac-32k/c001-00000000-000.m4s")[0] in (403, 404)
        assert app_got_segments(f) == []


def test_signed_url_links_to_shared_segments_name_no_version(app, make_book, named_a, front):
    book_id = make_book("public")
    place(app, book_id, named_a)
    publish(app, book_id)
    uuid_ = book_row(app, book_id).uuid
    signed = front(mode="signed-url")
    body = signed.get(f"/books/{book_id}/hls/aac-32k/index.m3u8?t={media_token(app, book_id, None)}")[2].decode()
    links = re.findall(r"^(/_hls/\S+)$", body, re.M)
    assert links and all(link.startswith(f"/_hls/{uuid_}/aac-32k/") for link in links)
    status, _h, data = signed.get(links[1])
    assert status == 200 and data == (named_a / "aac-32k" / links[1].split("?")[0].rsplit("/", 1)[1]).read_bytes()
