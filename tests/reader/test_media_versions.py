"""Versioned media (studio.media_versions) and path-token stream URLs (web.media), without nginx.

A book's served media are published under derived/books/<uuid>/v/<version>/ with a content-derived
version and switched to in one update; a re-encode gets a new version and the old one stays until
its grace period is over. Players get /m/<path token>/<uuid>/<version>/hls/master.m3u8 in
path-token mode and with a remote store; the app checks the signature and the media token.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import shutil
import time
from pathlib import Path

import pytest

from catalog.models import Book, MediaVersion, Rendition, utcnow
from reader_helpers import build_hls_tree, csrf_from, login, media_token
from recordings.errors import MissingMediaError
from recordings.store import MediaStore, served_prefix
from streaming import signed_links
from studio import media_versions

KEY = "path-token-key-" + "k" * 16


@pytest.fixture(scope="module")
def hls_tree_b(tmp_path_factory) -> Path:
    """The same book encoded again: the same file names, other bytes."""
    return build_hls_tree(tmp_path_factory.mktemp("hls-b") / "hls", volume=0.35)


def services(app):
    return app.extensions["sachnoi"]


def book_row(app, book_id: int) -> Book:
    with services(app).sessions() as s:
        book = s.get(Book, book_id)
        s.expunge(book)
        return book


def publish(app, book_id: int, **kw):
    return media_versions.publish(services(app).sessions, services(app).store, book_id, **kw)


def reencode(app, book_id: int, tree: Path) -> None:
    """What the package stage leaves after encoding again: new files in the unversioned layout and
    new source hashes on the rows."""
    store, uuid = services(app).store, book_row(app, book_id).uuid
    with store.atomic_dir(f"derived/books/{uuid}/hls") as folder:
        shutil.copytree(tree, folder, dirs_exist_ok=True)
    with services(app).sessions.begin() as s:
        for row in s.query(Rendition).filter_by(book_id=book_id, kind="hls"):
            row.source_sha256 = hashlib.sha256(f"{tree}{row.name}".encode()).hexdigest()


def stored(app, key: str) -> bytes:
    return services(app).store.path(key).read_bytes()


def test_publish_copies_what_is_served_under_a_content_version_and_switches_to_it(app, make_book, hls_tree):
    book_id = make_book("public")
    uuid = book_row(app, book_id).uuid
    assert book_row(app, book_id).media_version is None  # packaged before versions: old layout served
    published = publish(app, book_id)
    version = published.version
    assert re.fullmatch(r"[0-9a-f]{16}", version) and published.changed
    assert book_row(app, book_id).media_version == version
    files = sorted(p.relative_to(hls_tree).as_posix() for p in hls_tree.rglob("*") if p.is_file())
    assert published.files == len(files)
    for rel in files:
        assert stored(app, f"derived/books/{uuid}/v/{version}/hls/{rel}") == (hls_tree / rel).read_bytes()
    again = publish(app, book_id)  # the same package: the same version, nothing done
    assert (again.version, again.changed) == (version, False)
    with services(app).sessions() as s:
        rows = s.query(MediaVersion).filter_by(book_id=book_id).all()
        assert [(r.version, r.retired_at) for r in rows] == [(version, None)]
    # readers are served the version, not the working layout the next package run rewrites
    services(app).store.write_bytes(f"derived/books/{uuid}/hls/master.m3u8", b"#EXTM3U\n# half-written\n")
    client = app.test_client()
    body = client.get(f"/books/{book_id}/hls/master.m3u8?t={media_token(app, book_id, None)}").get_data()
    assert b"half-written" not in body and b"aac-64k/index.m3u8" in body


def test_a_reencode_is_a_new_version_and_the_old_one_stays_for_the_grace_period(app, make_book, hls_tree,
                                                                               hls_tree_b):
    book_id = make_book("public")
    uuid = book_row(app, book_id).uuid
    first = publish(app, book_id).version
    reencode(app, book_id, hls_tree_b)
    second = publish(app, book_id, grace_s=3600).version
    assert second != first and book_row(app, book_id).media_version == second
    seg = "hls/aac-32k/seg_001.m4s"
    assert stored(app, f"{served_prefix(uuid, second)}/{seg}") == (hls_tree_b / "aac-32k/seg_001.m4s").read_bytes()
    assert stored(app, f"{served_prefix(uuid, first)}/{seg}") == (hls_tree / "aac-32k/seg_001.m4s").read_bytes()
    with services(app).sessions() as s:
        retired = {r.version: r.retired_at for r in s.query(MediaVersion).filter_by(book_id=book_id)}
    assert retired[second] is None and retired[first] is not None
    sessions, store = services(app).sessions, services(app).store
    assert media_versions.collect(sessions, store, grace_s=3600) == []  # within the grace period: kept
    later = utcnow() + dt.timedelta(seconds=3601)
    assert media_versions.collect(sessions, store, grace_s=3600, now=later) == [(book_id, first)]
    assert not store.exists(served_prefix(uuid, first))
    assert store.exists(f"{served_prefix(uuid, second)}/{seg}")  # the current version is never collected
    assert media_versions.collect(sessions, store, grace_s=0, now=later + dt.timedelta(days=9)) == []
    # publishing the first encode again revives its version (same content, same version)
    reencode(app, book_id, hls_tree)
    with services(app).sessions.begin() as s:  # the rows as they were for the first encode
        for row in s.query(Rendition).filter_by(book_id=book_id, kind="hls"):
            row.source_sha256 = ""
    assert publish(app, book_id).version == first
    assert stored(app, f"{served_prefix(uuid, first)}/{seg}") == (hls_tree / "aac-32k/seg_001.m4s").read_bytes()


def test_a_book_whose_playlist_is_missing_is_refused_and_nothing_switched(app, make_book):
    book_id = make_book("public")
    uuid = book_row(app, book_id).uuid
    services(app).store.path(f"derived/books/{uuid}/hls/aac-32k/index.m3u8").unlink()
    with pytest.raises(media_versions.PublishError):
        publish(app, book_id)
    assert book_row(app, book_id).media_version is None  # nothing switched
    with services(app).sessions() as s:
        assert s.query(MediaVersion).filter_by(book_id=book_id).count() == 0


# -- path tokens --------------------------------------------------------------------------------------
@pytest.fixture
def pt_app(settings, app):
    """The app in path-token mode over the same database and media folder as `app`."""
    from web.app import create_app
    made = create_app({**settings, "MEDIA_SERVE_MODE": "path-token", "MEDIA_AUTHZ_KEY": KEY})
    yield made
    made.extensions["sachnoi"].engine.dispose()


def stream_url_of(client, book_id: int) -> str:
    html = client.get(f"/books/{book_id}").get_data(as_text=True)
    return re.search(r'data-src="([^"]+)"', html).group(1).replace("&amp;", "&")


def test_path_token_urls_carry_token_and_version_and_relative_uris_inherit_them(pt_app, app, make_book, hls_tree):
    book_id = make_book("public")
    version = publish(app, book_id).version
    uuid = book_row(app, book_id).uuid
    client = pt_app.test_client()
    url = stream_url_of(client, book_id)
    found = re.fullmatch(rf"/m/([^/]+)/{uuid}/{version}/hls/master\.m3u8", url)
    assert found, url
    token, signed = signed_links.split_path_token(found.group(1))
    assert signed is not None and signed_links.path_token_valid(found.group(1), uuid, version, key=KEY)
    master = client.get(url)
    assert master.status_code == 200 and master.get_data() == (hls_tree / "master.m3u8").read_bytes()
    base = url.rsplit("/", 1)[0]
    index = client.get(f"{base}/aac-32k/index.m3u8")
    assert index.status_code == 200 and index.get_data() == (hls_tree / "aac-32k/index.m3u8").read_bytes()
    assert "t=" not in index.get_data(as_text=True)  # nothing rewritten: the path carries the token
    segment = client.get(f"{base}/aac-32k/seg_001.m4s")  # no nginx in front: the app hands it to nginx's
    assert segment.status_code == 200                   # internal location (x-accel), from the version
    assert segment.headers["X-Accel-Redirect"] == f"/_media/derived/books/{uuid}/v/{version}/hls/aac-32k/seg_001.m4s"
    # the token refresh hands out the same kind of URL
    assert client.get(f"/api/books/{book_id}/token").get_json()["stream_url"].endswith(
        f"/{uuid}/{version}/hls/master.m3u8")


def test_tampered_expired_foreign_and_revoked_path_tokens_are_refused(pt_app, app, make_book, people):
    book_id = make_book("members")
    other = make_book("members", title="Sách khác")
    version = publish(app, book_id).version
    publish(app, other)
    uuid = book_row(app, book_id).uuid
    client = pt_app.test_client()
    login(client, "bandoc")
    url = stream_url_of(client, book_id)
    path_token = url.split("/")[2]
    assert client.get(url).status_code == 200

    def at(pt: str, rest: str = "hls/master.m3u8") -> int:
        return client.get(f"/m/{pt}/{uuid}/{version}/{rest}").status_code

    token, (expires, sig) = signed_links.split_path_token(path_token)
    forged = sig[:-2] + ("AA" if not sig.endswith("AA") else "BB")
    assert at(f"{token}~{expires}~{forged}") == 403                    # tampered signature
    assert at(f"{token}~{expires + 60}~{sig}") == 403                  # tampered expiry
    stale = signed_links.path_token(token, uuid, version, expires=int(time.time()) - 5, key=KEY)
    assert at(stale) == 403                                            # expired (as nginx answers)
    foreign = media_token(app, other, people["bandoc"])
    assert at(signed_links.path_token(foreign, uuid, version, expires=int(time.time()) + 60, key=KEY)) == 403
    assert at("not-a-token") == 403
    assert at(path_token, "hls/aac-32k/../../x") == 404
    assert client.get(f"/m/{path_token}/{uuid}/{'f' * 16}/hls/master.m3u8").status_code == 403  # signed for another
    unknown = signed_links.path_token(token, uuid, "f" * 16, expires=expires, key=KEY)
    assert client.get(f"/m/{unknown}/{uuid}/{'f' * 16}/hls/master.m3u8").status_code == 404  # no such version
    assert at(path_token, "hls/aac-32k/seg_999.m4s") == 404
    anonymous = pt_app.test_client()                                   # a reader's token without the login
    assert anonymous.get(url).status_code == 401
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/").get_data(as_text=True))})
    assert client.get(url).status_code == 401                          # revoked at logout, at once


def test_an_old_version_is_served_within_its_grace_period_then_gone(pt_app, app, make_book, hls_tree, hls_tree_b):
    book_id = make_book("public")
    client = pt_app.test_client()
    publish(app, book_id)
    old_url = stream_url_of(client, book_id)
    reencode(app, book_id, hls_tree_b)
    publish(app, book_id)
    new_url = stream_url_of(client, book_id)
    assert new_url != old_url and new_url.split("/")[4] != old_url.split("/")[4]
    old_index = old_url.rsplit("/", 1)[0] + "/aac-32k/index.m3u8"
    assert client.get(old_index).status_code == 200   # a player holding the old playlist keeps going
    media_versions.collect(services(app).sessions, services(app).store, grace_s=0,
                           now=utcnow() + dt.timedelta(seconds=1))
    assert client.get(old_index).status_code == 404
    assert client.get(new_url).status_code == 200


def test_unsigned_path_tokens_for_titles_heard_only_on_site(pt_app, app, make_book):
    """nginx cannot check the reader's address: on-site titles get path tokens without a signature,
    which nginx passes to the app, whose check includes the address."""
    book_id = make_book("on-site", onsite="127.0.0.0/8")
    publish(app, book_id)
    client = pt_app.test_client()
    url = stream_url_of(client, book_id)
    assert "~" not in url.split("/")[2]
    assert client.get(url).status_code == 200
    elsewhere = pt_app.test_client()
    assert elsewhere.get(url, environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 403


# -- a remote store: the web process never opens a local file ----------------------------------------
class RemoteView(MediaStore):
    """The media folder seen as an object store: `path()` (a local file) is refused, and downloads
    get presigned URLs; what the web layer may use of a remote store (recordings.s3store)."""

    is_remote = True

    def path(self, key):
        raise AssertionError(f"the web process opened a local media file: {key}")

    def _local(self, key):
        return MediaStore.path(self, key)

    def exists(self, key):
        return self._local(key).exists()

    def open(self, key):
        local = self._local(key)
        if not local.is_file():
            raise MissingMediaError(key)
        return open(local, "rb")

    def presigned_url(self, key, expires_s, *, filename=None):
        return f"http://store.example/bucket/{key}?X-Amz-Expires={expires_s}&filename={filename or ''}"


def test_with_a_remote_store_playlists_come_from_the_store_and_downloads_redirect(settings, app, make_book,
                                                                                   hls_tree):
    from web.app import create_app
    book_id = make_book("public")
    version = publish(app, book_id).version
    uuid = book_row(app, book_id).uuid
    s3_like = create_app({**settings, "MEDIA_PRESIGN_TTL_S": 120})
    root = services(app).store.root
    s3_like.extensions["sachnoi"].store = RemoteView(root)
    client = s3_like.test_client()
    url = stream_url_of(client, book_id)  # direct mode, remote store: path-token URLs, unsigned (no key)
    assert re.fullmatch(rf"/m/[^/~]+/{uuid}/{version}/hls/master\.m3u8", url), url
    assert client.get(url).get_data() == (hls_tree / "master.m3u8").read_bytes()
    segment = client.get(url.rsplit("/", 1)[0] + "/aac-32k/seg_001.m4s")  # no nginx: streamed from the store
    assert segment.status_code == 200 and segment.get_data() == (hls_tree / "aac-32k/seg_001.m4s").read_bytes()
    store = services(app).store
    store.write_bytes(f"{served_prefix(uuid, version)}/book.m4b", b"m4b bytes")
    with services(app).sessions.begin() as s:
        s.add(Rendition(book_id=book_id, kind="m4b", name="m4b", key=f"derived/books/{uuid}/book.m4b"))
    download = media_token(app, book_id, None, use="d")
    answer = client.get(f"/books/{book_id}/book.m4b?t={download}")
    assert answer.status_code == 302 and answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["Location"] == (f"http://store.example/bucket/{served_prefix(uuid, version)}/book.m4b"
                                          f"?X-Amz-Expires=120&filename=book-{book_id}.m4b")
    assert client.get(f"/books/{book_id}/book.audiobook?t={download}").status_code == 404  # none stored
    legacy = client.get(f"/books/{book_id}/hls/aac-32k/index.m3u8?t={media_token(app, book_id, None)}")
    assert legacy.status_code == 200 and b"seg_001.m4s?t=" in legacy.get_data()


def test_cli_publishes_books_packaged_before_versions_and_collects_old_ones(app, settings, make_book, hls_tree_b,
                                                                           monkeypatch):
    from click.testing import CliRunner

    from web.cli import main
    monkeypatch.setenv("SACHNOI_HOME", settings["HOME"])
    monkeypatch.setenv("SACHNOI_SECRET_KEY", settings["SECRET_KEY"])
    first, second = make_book("public"), make_book("public", title="Sách hai")

    def run(*args):
        result = CliRunner().invoke(main, ["media", *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    out = run("publish")
    assert "2 phiên bản mới / 2 sách" in out
    old = book_row(app, first).media_version
    assert old and book_row(app, second).media_version
    assert "0 phiên bản mới / 1 sách" in run("publish", "--book", str(first))
    reencode(app, first, hls_tree_b)
    assert "1 phiên bản mới / 1 sách" in run("publish", "--book", str(first))
    uuid = book_row(app, first).uuid
    assert services(app).store.exists(served_prefix(uuid, old))
    assert "Đã xoá 0 phiên bản" in run("collect")          # within MEDIA_VERSION_GRACE_S
    time.sleep(1.1)
    assert f"đã xoá phiên bản {old}" in run("collect", "--grace-s", "1")
    assert not services(app).store.exists(served_prefix(uuid, old))
    assert services(app).store.exists(served_prefix(uuid, book_row(app, first).media_version))
