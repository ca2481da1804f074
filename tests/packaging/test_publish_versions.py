"""Publication of a really packaged book (studio.media_versions): every served output of the package
stage (HLS ladder, chapter MP3s, M4B, .audiobook, cover) under one content-derived version, and a
metadata change (re-tag, no re-encode) or a changed master is a new version, never new bytes under
an old path. HLS segments, named by their content, are not copied into a version: every version
that names one is served it from where the encode placed it, until no version names it."""
from __future__ import annotations

import datetime as dt

from catalog import tags
from catalog.db import session_scope
from catalog.models import Book, Chapter, utcnow
from delivery import hls
from recordings.store import MediaStore, hls_key, served_prefix, sha256_file
from studio.media_versions import collect, publish, shared_keys
from studio.package import package_book, tag_book

from packaging_helpers import RATE, package_two_chapters, tone_chapter


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
        rung = uri.rsplit("/", 1)[0]
        for name in [playlist.init_uri] + [seg.uri for seg in playlist.segments]:
            assert store.path(hls_key(uuid, first.version, rung, name)).is_file()
            assert not store.exists(f"{served}/hls/{rung}/{name}")   # shared, not copied
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


def test_a_new_encode_shares_what_did_not_change_and_the_old_version_keeps_its_segments_until_collected(tmp_path):
    import soundfile as sf
    from sqlalchemy import select
    factory, store, book_id = package_two_chapters(tmp_path)
    first = publish(factory, store, book_id)
    with session_scope(factory) as s:
        uuid = s.get(Book, book_id).uuid
    in_version = [key for key, _size in store.list(f"{served_prefix(uuid, first.version)}/hls")]
    assert len(in_version) == 4 and all(key.endswith(".m3u8") for key in in_version)  # master + 3 rungs
    assert first.copied == first.files - len(shared_keys(store, uuid, first.version))
    old = shared_keys(store, uuid, first.version)
    assert len(old) == 3 * 3   # per rung: an init segment and one segment per chapter

    with session_scope(factory) as s:   # chapter 2 mastered again: same length, other sound
        ch2 = s.execute(select(Chapter).where(Chapter.book_id == book_id, Chapter.position == 2)).scalar_one()
        with store.atomic_path(ch2.master_key) as tmp:
            sf.write(str(tmp), tone_chapter(2.5, 500.0, 99), RATE, format="FLAC", subtype="PCM_24")
        ch2.master_sha256 = sha256_file(store.path(ch2.master_key))
    package_book(factory, store, book_id, workers=2)
    assert all(store.exists(key) for key in old)   # the assembly kept what the published version names
    second = publish(factory, store, book_id, grace_s=3600)
    new = shared_keys(store, uuid, second.version)
    assert second.changed and len(old & new) == 6 and len(old - new) == 3   # chapter 1 and the inits shared
    assert all(store.exists(key) for key in old | new)   # a player on the old playlist carries on

    later = utcnow() + dt.timedelta(seconds=3601)
    assert collect(factory, store, grace_s=3600, now=later) == [(book_id, first.version)]
    assert not any(store.exists(key) for key in old - new)   # named by no version now
    assert all(store.exists(key) for key in new)
    assert not store.exists(served_prefix(uuid, first.version))
