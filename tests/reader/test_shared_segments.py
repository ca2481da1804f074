"""HLS segments named by their content are published once per book, not copied into each version
(studio.media_versions, recordings.store.hls_key): every serving mode hands a version's player
the segment from where the encode placed it, and a segment stays until no version names it."""
from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest

from catalog.models import Rendition, utcnow
from reader_helpers import content_named, media_token
from recordings.store import served_prefix
from streaming import signed_links
from studio import media_versions
from test_media_versions import KEY, book_row, hls_tree_b, pt_app, publish, services, stream_url_of  # noqa: F401


@pytest.fixture(scope="module")
def named_a(hls_tree, tmp_path_factory) -> Path:
    return content_named(hls_tree, tmp_path_factory.mktemp("named-a") / "hls")


@pytest.fixture(scope="module")
def named_b(hls_tree_b, tmp_path_factory) -> Path:  # noqa: F811 (a fixture)
    return content_named(hls_tree_b, tmp_path_factory.mktemp("named-b") / "hls")


def place(app, book_id: int, tree: Path) -> None:
    """What an encode leaves: its files added to the book's hls/ folder (nothing removed) and new
    source hashes on the rows."""
    store, uuid = services(app).store, book_row(app, book_id).uuid
    for path in sorted(p for p in tree.rglob("*") if p.is_file()):
        store.write_bytes(f"derived/books/{uuid}/hls/{path.relative_to(tree).as_posix()}", path.read_bytes())
    with services(app).sessions.begin() as s:
        for row in s.query(Rendition).filter_by(book_id=book_id, kind="hls"):
            row.source_sha256 = hashlib.sha256(f"{tree}{row.name}".encode()).hexdigest()


def first_segment(tree: Path, rung: str = "aac-32k") -> str:
    return sorted(p.name for p in (tree / rung).glob("c001-*.m4s"))[0]


def test_shared_segments_are_not_copied_and_every_mode_serves_them_to_each_version(app, pt_app, make_book,  # noqa: F811
                                                                                  named_a, named_b):
    book_id = make_book("public")
    uuid = book_row(app, book_id).uuid
    place(app, book_id, named_a)
    first = publish(app, book_id)
    store = services(app).store
    in_version = sorted(key.rsplit("/", 1)[1] for key, _size in store.list(served_prefix(uuid, first.version)))
    assert in_version == ["index.m3u8", "index.m3u8", "master.m3u8"] and first.copied == 3
    assert first.files == sum(1 for p in named_a.rglob("*") if p.is_file())
    seg, init = first_segment(named_a), next((named_a / "aac-32k").glob("init-*.mp4")).name
    pool = f"derived/books/{uuid}/hls/aac-32k"

    client = app.test_client()                         # direct mode: the app sends the bytes
    token = media_token(app, book_id, None)
    got = client.get(f"/books/{book_id}/hls/aac-32k/{seg}?t={token}")
    assert got.status_code == 200 and got.get_data() == (named_a / "aac-32k" / seg).read_bytes()

    pclient = pt_app.test_client()                     # path-token mode without nginx: x-accel
    old_base = stream_url_of(pclient, book_id).rsplit("/", 1)[0]
    answer = pclient.get(f"{old_base}/aac-32k/{seg}")
    assert answer.status_code == 200 and answer.headers["X-Accel-Redirect"] == f"/_media/{pool}/{seg}"
    link = signed_links.segment_url(uuid, "aac-32k", seg, expires=9999999999, key=KEY)
    assert link.startswith(f"/_hls/{uuid}/aac-32k/{seg}?")   # signed-url mode names no version

    place(app, book_id, named_b)                      # a re-encode, published as a new version
    second = publish(app, book_id, grace_s=3600)
    assert second.version != first.version and second.copied == 3
    seg_b = first_segment(named_b)
    new_base = stream_url_of(pclient, book_id).rsplit("/", 1)[0]
    assert pclient.get(f"{new_base}/aac-32k/{seg_b}").headers["X-Accel-Redirect"] == f"/_media/{pool}/{seg_b}"
    assert pclient.get(f"{old_base}/aac-32k/index.m3u8").get_data() == (named_a / "aac-32k/index.m3u8").read_bytes()
    assert pclient.get(f"{old_base}/aac-32k/{seg}").status_code == 200   # the old player carries on
    assert client.get(f"/books/{book_id}/hls/aac-32k/{seg_b}?t={token}").get_data() == \
        (named_b / "aac-32k" / seg_b).read_bytes()

    later = utcnow() + dt.timedelta(seconds=3601)
    sessions = services(app).sessions
    assert media_versions.collect(sessions, store, grace_s=3600, now=later) == [(book_id, first.version)]
    assert not store.exists(f"{pool}/{seg}")           # named by no version any more
    assert store.exists(f"{pool}/{seg_b}")
    assert store.exists(f"{pool}/{init}") == ((named_b / "aac-32k" / init).is_file())  # an init both name stays
    assert pclient.get(f"{old_base}/aac-32k/index.m3u8").status_code == 404


def test_a_playlist_naming_a_missing_shared_segment_is_refused_and_nothing_switched(app, make_book, named_a):
    book_id = make_book("public")
    uuid = book_row(app, book_id).uuid
    place(app, book_id, named_a)
    services(app).store.delete(f"derived/books/{uuid}/hls/aac-64k/{first_segment(named_a, 'aac-64k')}")
    with pytest.raises(media_versions.PublishError):
        publish(app, book_id)
    assert book_row(app, book_id).media_version is None
