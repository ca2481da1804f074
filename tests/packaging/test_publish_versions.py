"""Publication of a really packaged book (studio.media_versions): every served output of the package
stage (HLS ladder, chapter MP3s, M4B, .audiobook, cover) under one content-derived version, and a
metadata change (re-tag, no re-encode) or a changed master is a new version, never new bytes under
an old path."""
from __future__ import annotations

from catalog import tags
from catalog.db import session_scope
from catalog.models import Book
from delivery import hls
from recordings.store import MediaStore, served_prefix, sha256_file
from studio.media_versions import publish
from studio.package import tag_book

from packaging_helpers import package_two_chapters


def test_a_packaged_book_is_published_whole_and_a_retag_is_a_new_version(tmp_path):
    factory, store, book_id = package_two_chapters(tmp_path)
    first = publish(factory, store, book_id)
    with session_scope(factory) as s:
        book = s.get(Book, book_id)
        uuid = book.uuid
        assert book.media_version == first.version
    work, served = MediaStore.book_prefix(uuid), served_prefix(uuid, first.version)
    names = {"mp3/01.mp3", "mp3/02.mp3", "book.m4b", "book.audiobook", "cover.jpg", "hls/master.m3u8"}
    for rel in names:
        assert sha256_file(store.path(f"{served}/{rel}")) == sha256_file(store.path(f"{work}/{rel}"))
    for _attrs, uri in hls.parse_master_playlist(store.path(f"{served}/hls/master.m3u8").read_text()):
        playlist = hls.parse_media_playlist(store.path(f"{served}/hls/{uri}").read_text())
        folder = store.path(f"{served}/hls/{uri}").parent
        assert (folder / playlist.init_uri).is_file()
        assert all((folder / seg.uri).is_file() for seg in playlist.segments)
    old_mp3 = store.path(f"{served}/mp3/01.mp3").read_bytes()
    # hard links on a local folder: the working copy is replaced, never rewritten, so the version keeps its bytes

    with session_scope(factory) as s:
        s.get(Book, book_id).title = "Tắt đèn (bản mới)"
    tag_book(factory, store, book_id)          # new tags: new MP3/M4B bytes, the same HLS
    second = publish(factory, store, book_id)
    assert second.changed and second.version != first.version
    assert store.path(f"{served}/mp3/01.mp3").read_bytes() == old_mp3          # the old version untouched
    new_key = f"{served_prefix(uuid, second.version)}/mp3/01.mp3"
    assert tags.read_mp3(store.path(new_key)).album == "Tắt đèn (bản mới)"
    assert tags.read_mp3(store.path(f"{served}/mp3/01.mp3")).album != "Tắt đèn (bản mới)"
    assert publish(factory, store, book_id).changed is False
