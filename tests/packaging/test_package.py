"""The package stage end to end on a tiny generated book: playlists, ffprobe checks, chapters,
rows, resumability and invalidation by content hash."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import soundfile as sf
from sqlalchemy import select

from catalog.db import make_engine, make_sessionmaker, session_scope
from catalog.migrate import upgrade
from catalog.models import Book, Chapter, Rendition
from delivery import hls
from delivery.ffmpeg import probe
from recordings.store import MediaStore, sha256_file
from studio.package import PackageError, package_book

from packaging_helpers import DURATIONS, RATE, TITLES, make_book, package_two_chapters, tone_chapter

TOTAL = sum(DURATIONS)
STARTS = np.concatenate([[0.0], np.cumsum(DURATIONS)[:-1]])


def test_progress_reaches_one_and_rises(packaged):
    *_, seen = packaged
    assert seen and seen[-1] == pytest.approx(1.0)
    assert all(b >= a for a, b in zip(seen, seen[1:]))


def test_master_playlist_has_ladder_with_codecs_and_bandwidths(packaged):
    _, _, _, _, folder, _ = packaged
    variants = hls.parse_master_playlist((folder / "hls/master.m3u8").read_text())
    names = [uri.split("/")[0] for _, uri in variants]
    assert sorted(names) == ["aac-128k", "aac-32k-mono", "aac-64k-mono"]   # mono source: no stereo rung
    for attrs, uri in variants:
        assert not uri.startswith("/") and "://" not in uri
        assert attrs["CODECS"] == "mp4a.40.2"
        bw, avg = int(attrs["BANDWIDTH"]), int(attrs["AVERAGE-BANDWIDTH"])
        nominal = {"aac-32k-mono": 32_000, "aac-64k-mono": 64_000, "aac-128k": 128_000}[uri.split("/")[0]]
        assert nominal * 0.8 < avg <= bw < nominal * 1.35


@pytest.mark.parametrize("rung", ["aac-32k-mono", "aac-64k-mono", "aac-128k"])
def test_media_playlist_segments_obey_target_and_chapters_start_on_boundaries(packaged, rung):
    _, _, _, _, folder, _ = packaged
    text = (folder / "hls" / rung / "index.m3u8").read_text()
    pl = hls.parse_media_playlist(text)
    assert pl.ended and pl.playlist_type == "VOD" and pl.target_duration <= 6
    durations = [s.duration_s for s in pl.segments]
    assert max(durations) <= 6.5
    assert all(round(d) <= pl.target_duration for d in durations)
    assert min(durations) > 1.0                              # no slivers
    assert pl.duration_s == pytest.approx(TOTAL, abs=0.01)
    starts = pl.starts()
    for chapter_start in STARTS:                             # every chapter begins a segment
        assert min(abs(s - chapter_start) for s in starts) < 0.001
    for seg in pl.segments:
        assert "/" not in seg.uri and (folder / "hls" / rung / seg.uri).is_file()
    assert (folder / "hls" / rung / pl.init_uri).is_file()


@pytest.mark.parametrize("rung,bitrate", [("aac-32k-mono", 32_000), ("aac-64k-mono", 64_000),
                                          ("aac-128k", 128_000)])
def test_ffprobe_reads_each_rendition(packaged, rung, bitrate):
    _, _, _, _, folder, _ = packaged
    info = probe(folder / "hls" / rung / "index.m3u8")
    stream = info["streams"][0]
    assert stream["codec_name"] == "aac" and stream["profile"] == "LC"
    assert int(stream["channels"]) == 1 and int(stream["sample_rate"]) == RATE
    assert float(info["format"]["duration"]) == pytest.approx(TOTAL, abs=0.1)
    assert int(stream["bit_rate"]) == pytest.approx(bitrate, rel=0.2)


def test_segments_carry_book_timeline(packaged):
    """Chapter 3's first segment starts at 20.4 s of media time, not at 0 (continuous timeline)."""
    _, _, _, _, folder, _ = packaged
    pl = hls.parse_media_playlist((folder / "hls/aac-64k-mono/index.m3u8").read_text())
    init = (folder / "hls/aac-64k-mono" / pl.init_uri).read_bytes()
    scale = hls.fmp4_timescale(init)
    first_c3 = next(s for s in pl.segments if s.uri.startswith("c003-"))
    start = hls.fmp4_decode_time((folder / "hls/aac-64k-mono" / first_c3.uri).read_bytes()) / scale
    assert start == pytest.approx(STARTS[2], abs=1e-4)
    assert first_c3.title == TITLES[2]


def test_chapter_mp3s(packaged):
    _, _, _, _, folder, _ = packaged
    for pos, dur in enumerate(DURATIONS, 1):
        info = probe(folder / "mp3" / f"{pos:02d}.mp3")
        stream = info["streams"][0]
        assert stream["codec_name"] == "mp3"
        assert int(stream["bit_rate"]) == 64_000 and int(stream["sample_rate"]) == 44100
        assert float(info["format"]["duration"]) == pytest.approx(dur, abs=0.1)
        assert info["format"]["tags"]["title"] == TITLES[pos - 1]


def test_m4b_chapters_match_catalogue(packaged):
    _, _, _, _, folder, _ = packaged
    info = probe(folder / "book.m4b")
    assert info["streams"][0]["codec_name"] == "aac"
    assert info["streams"][0]["tags"]["language"] == "vie"
    assert float(info["format"]["duration"]) == pytest.approx(TOTAL, abs=0.1)
    chapters = info["chapters"]
    assert [c["tags"]["title"] for c in chapters] == list(TITLES)
    for c, start, dur in zip(chapters, STARTS, DURATIONS):
        assert float(c["start_time"]) == pytest.approx(start, abs=0.01)
        assert float(c["end_time"]) == pytest.approx(start + dur, abs=0.01)
    assert info["format"]["tags"]["album"] == "Tắt đèn"


def test_manifest_and_audiobook_zip(packaged):
    _, _, _, _, folder, _ = packaged
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    assert [link["href"] for link in manifest["readingOrder"]] == [f"mp3/{i:02d}.mp3" for i in range(1, 5)]
    assert manifest["readingOrder"][0]["bitrate"] == 64
    with zipfile.ZipFile(folder / "book.audiobook") as zf:
        infos = zf.infolist()
        assert infos[0].filename == "manifest.json"
        assert json.loads(zf.read("manifest.json")) == manifest
        audio = [i for i in infos if i.filename.endswith(".mp3")]
        assert len(audio) == 4 and all(i.compress_type == zipfile.ZIP_STORED for i in audio)
        assert zf.read("mp3/02.mp3") == (folder / "mp3/02.mp3").read_bytes()
        assert manifest["resources"][0]["href"] in zf.namelist()


def test_rendition_rows(packaged):
    factory, store, book_id, *_ = packaged
    with session_scope(factory) as session:
        rows = session.execute(select(Rendition).where(Rendition.book_id == book_id)).scalars().all()
        kinds = sorted(r.kind for r in rows)
        assert kinds.count("hls") == 3 and kinds.count("mp3") == 4
        assert kinds.count("m4b") == 1 and kinds.count("audiobook") == 1
        for r in rows:
            assert store.exists(r.key) and len(r.source_sha256) == 64
            if r.kind in ("mp3", "m4b", "audiobook"):
                assert r.sha256 == sha256_file(store.path(r.key))
                assert r.size_bytes == store.path(r.key).stat().st_size


def test_rerun_is_a_no_op_and_changed_master_redoes_only_its_chapter(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    store = MediaStore(tmp_path / "media")
    book_id = make_book(url, store, durations=(3.0, 4.0), titles=("Một", "Hai"))
    factory = make_sessionmaker(make_engine(url))
    first = package_book(factory, store, book_id, workers=2)
    assert len(first.encoded) == 1 + 2 * 4
    with session_scope(factory) as session:
        book = session.get(Book, book_id)
        prefix = MediaStore.book_prefix(book.uuid)
        mp3_1 = session.execute(select(Rendition).where(
            Rendition.kind == "mp3", Rendition.key.endswith("01.mp3"))).scalar_one().sha256

    again = package_book(factory, store, book_id, workers=2)
    assert again.encoded == [] and not [w for w in again.written if "/hls/" in w or w.endswith(".mp3")]

    # A crash that lost one encoded chapter: only that job runs again.
    store.delete_tree(f"{prefix}/work/hls/aac-32k-mono/002")
    resumed = package_book(factory, store, book_id, workers=2)
    assert resumed.encoded == ["hls aac-32k-mono ch02"]

    # Chapter 2's master changes: its encodes (3 rungs + MP3 + the whole-book M4B) are redone;
    # chapter 1's MP3 is not rewritten.
    with session_scope(factory) as session:
        ch2 = session.execute(select(Chapter).where(Chapter.book_id == book_id, Chapter.position == 2)).scalar_one()
        with store.atomic_path(ch2.master_key) as tmp:
            sf.write(str(tmp), tone_chapter(4.0, 500.0, 99), RATE, format="FLAC", subtype="PCM_24")
        ch2.master_sha256 = sha256_file(store.path(ch2.master_key))
    changed = package_book(factory, store, book_id, workers=2)
    assert sorted(changed.encoded) == sorted(["m4b", "mp3 ch02", "hls aac-32k-mono ch02",
                                              "hls aac-64k-mono ch02", "hls aac-128k ch02"])
    with session_scope(factory) as session:
        assert session.execute(select(Rendition).where(
            Rendition.kind == "mp3", Rendition.key.endswith("01.mp3"))).scalar_one().sha256 == mp3_1
    pl = hls.parse_media_playlist(store.path(f"{prefix}/hls/aac-64k-mono/index.m3u8").read_text())
    assert all(store.path(f"{prefix}/hls/aac-64k-mono/{s.uri}").is_file() for s in pl.segments)


def test_assembly_keeps_where_the_encodes_placed_segments_and_moves_a_chapter_whose_start_moved(tmp_path):
    factory, store, book_id = package_two_chapters(tmp_path)   # chapters of 2.0 and 2.5 s
    with session_scope(factory) as session:
        prefix = MediaStore.book_prefix(session.get(Book, book_id).uuid)
    rung = store.path(f"{prefix}/hls/aac-64k-mono")

    def named_by_playlist() -> tuple[list[str], set[str]]:
        pl = hls.parse_media_playlist((rung / "index.m3u8").read_text())
        return [s.uri for s in pl.segments], {pl.init_uri, "index.m3u8", *[s.uri for s in pl.segments]}

    def start_s(uri: str) -> float:
        pl = hls.parse_media_playlist((rung / "index.m3u8").read_text())
        return hls.fmp4_decode_time((rung / uri).read_bytes()) / hls.fmp4_timescale((rung / pl.init_uri).read_bytes())

    uris, named = named_by_playlist()
    assert {p.name for p in rung.iterdir()} == named   # nothing else in the rung's folder
    # the segments are stored once: the encode's own folder keeps only its record
    assert {p.name for p in store.path(f"{prefix}/work/hls/aac-64k-mono/002").iterdir()} == {"job.json"}
    reads: list[str] = []
    read_many = store.read_many
    store.read_many = lambda keys: (reads.extend(keys), read_many(keys))[1]
    package_book(factory, store, book_id, workers=2)
    assert reads == []   # the encodes' placements were kept: no segment read again
    # Chapter 1 is mastered again one second longer: chapter 2 is not encoded again, but moved to 3 s.
    with session_scope(factory) as session:
        ch1, ch2 = session.execute(select(Chapter).where(Chapter.book_id == book_id).order_by(Chapter.position)).scalars()
        with store.atomic_path(ch1.master_key) as tmp:
            sf.write(str(tmp), tone_chapter(3.0, 300.0, 7), RATE, format="FLAC", subtype="PCM_24")
        ch1.master_sha256, ch1.duration_s, ch2.start_s = sha256_file(store.path(ch1.master_key)), 3.0, 3.0
    before = uris
    moved = package_book(factory, store, book_id, workers=2)
    assert "hls aac-64k-mono ch02" not in moved.encoded and "hls aac-64k-mono ch01" in moved.encoded
    assert reads and all("/hls/" in key and "/c002-" in key for key in reads)   # its placed segments, moved
    uris, named = named_by_playlist()
    assert not set(uris) & set(before)   # moved segments get new names: a cached old one is never served
    assert {p.name for p in rung.iterdir()} == named   # the first encode's chapter 1 is gone
    assert start_s(next(u for u in uris if u.startswith("c002-"))) == pytest.approx(3.0, abs=1e-4)
    assert start_s(next(u for u in uris if u.startswith("c001-"))) == pytest.approx(0.0, abs=1e-4)
    again = package_book(factory, store, book_id, workers=2)   # the move was recorded: nothing to do
    assert again.encoded == [] and named_by_playlist()[0] == uris
    # a placed segment lost from the store: that chapter's encode runs again, the book plays whole
    (rung / next(u for u in uris if u.startswith("c002-"))).unlink()
    lost = package_book(factory, store, book_id, workers=2)
    assert lost.encoded == ["hls aac-64k-mono ch02"]
    assert all((rung / uri).is_file() for uri in named_by_playlist()[0])


def test_stereo_master_gets_stereo_top_rung_and_acx_mp3(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    store = MediaStore(tmp_path / "media")
    book_id = make_book(url, store, durations=(2.5,), titles=("Một",), channels=2, profile="acx")
    factory = make_sessionmaker(make_engine(url))
    package_book(factory, store, book_id, workers=2)
    with session_scope(factory) as session:
        prefix = MediaStore.book_prefix(session.get(Book, book_id).uuid)
    master = hls.parse_master_playlist(store.path(f"{prefix}/hls/master.m3u8").read_text())
    assert "aac-128k-stereo/index.m3u8" in [uri for _, uri in master]
    info = probe(store.path(f"{prefix}/hls/aac-128k-stereo/index.m3u8"))
    assert int(info["streams"][0]["channels"]) == 2
    mp3 = probe(store.path(f"{prefix}/mp3/01.mp3"))["streams"][0]
    assert int(mp3["bit_rate"]) == 192_000 and int(mp3["sample_rate"]) == 44100   # ACX delivery


@pytest.mark.parametrize("record_format", [False, True], ids=["read-from-files", "planned-from-rows"])
def test_bad_input_is_refused_and_changes_nothing(tmp_path, record_format):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    store = MediaStore(tmp_path / "media")
    book_id = make_book(url, store, durations=(2.0, 2.0), titles=("Một", "Hai"), record_format=record_format)
    factory = make_sessionmaker(make_engine(url))
    with pytest.raises(PackageError, match="no book"):
        package_book(factory, store, 9999)
    with session_scope(factory) as session:   # catalogue timeline disagrees with the master
        ch2 = session.execute(select(Chapter).where(Chapter.position == 2)).scalar_one()
        ch2.start_s = 5.0
        prefix = MediaStore.book_prefix(session.get(Book, book_id).uuid)
    with pytest.raises(PackageError, match="timeline"):
        package_book(factory, store, book_id)
    with session_scope(factory) as session:   # a master that is not audio
        ch2 = session.execute(select(Chapter).where(Chapter.position == 2)).scalar_one()
        ch2.start_s = 2.0
        store.write_bytes(ch2.master_key, b"not audio at all")
    with pytest.raises(PackageError, match="unreadable master"):
        package_book(factory, store, book_id)
    assert not store.path(prefix).joinpath("hls").exists()
    with session_scope(factory) as session:
        assert session.execute(select(Rendition)).scalars().all() == []


def test_a_book_planned_from_its_rows_opens_only_the_masters_a_job_reads(tmp_path, monkeypatch):
    """Issue 19: an encode part on a worker fetched every master of the book to plan it. Rows that
    record the master's format plan without the store; a job opens its own master and checks it."""
    from studio.package import plan_package, run_encode
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    store = MediaStore(tmp_path / "media")
    book_id = make_book(url, store, durations=(2.0, 3.0), titles=("Một", "Hai"), record_format=True)
    factory = make_sessionmaker(make_engine(url))
    opened: list[str] = []
    real_path = store.path
    monkeypatch.setattr(store, "path", lambda key: (opened.append(key), real_path(key))[1])

    plan = plan_package(factory, store, book_id)
    masters = [s.master_key for s in plan.specs]
    assert not set(opened) & set(masters)
    assert run_encode(plan, "mp3 ch02")
    assert [k for k in opened if k in masters] == [masters[1]]

    # the same job hashes as when the plan read the files (rows from before the format was recorded),
    # so an upgrade re-encodes nothing
    with session_scope(factory) as session:
        for ch in session.execute(select(Chapter)).scalars():
            ch.sample_rate = ch.channels = None
    legacy = plan_package(factory, store, book_id)
    assert [(j.name, j.source) for j in legacy.jobs] == [(j.name, j.source) for j in plan.jobs]

    # a master that no longer matches its row: the job that opens it says so, naming the chapter
    with session_scope(factory) as session:
        for ch in session.execute(select(Chapter)).scalars():
            ch.sample_rate, ch.channels = RATE, 1
    with store.atomic_path(masters[0]) as tmp:
        sf.write(str(tmp), tone_chapter(2.0, 300.0, 5)[::2], RATE // 2, format="FLAC", subtype="PCM_24")
    with pytest.raises(PackageError, match=r"Chương 1: .*differs from the catalogue"):
        run_encode(plan_package(factory, store, book_id), "hls aac-32k-mono ch01")


def test_metadata_change_retags_without_encoding(tmp_path):
    from catalog import tags
    from studio.package import tag_book
    factory, store, book_id = package_two_chapters(tmp_path)
    with session_scope(factory) as session:
        book = session.get(Book, book_id)
        book.title = "Tắt đèn (bản mới)"
        prefix = MediaStore.book_prefix(book.uuid)
    result = tag_book(factory, store, book_id)
    assert result.encoded == []
    assert sorted(k.rsplit("/", 1)[1] for k in result.written) == [
        "01.mp3", "02.mp3", "book.audiobook", "book.m4b", "cover.jpg"]   # generated cover shows the title
    assert tags.read_mp3(store.path(f"{prefix}/mp3/02.mp3")).album == "Tắt đèn (bản mới)"
    assert tags.read_m4b(store.path(f"{prefix}/book.m4b")).title == "Tắt đèn (bản mới)"
    manifest = json.loads(store.path(f"{prefix}/manifest.json").read_text("utf-8"))
    assert manifest["metadata"]["title"] == "Tắt đèn (bản mới)"
