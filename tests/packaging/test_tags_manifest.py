"""Tags round-trip (Vietnamese text) through mutagen, and the Readium manifest against its schemas."""
from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from jsonschema import Draft7Validator
from PIL import Image
from referencing import Registry, Resource

from catalog import readium, tags
from catalog.errors import CatalogError, TagError
from delivery import encoders
from delivery.ffmpeg import probe, run

STANDARDS = Path(__file__).resolve().parents[3] / "shared" / "standards"  # shared/ beside the repo
if not STANDARDS.is_dir():
    STANDARDS = Path("/work/shared/standards")


@pytest.fixture(scope="module")
def encoded(tmp_path_factory):
    d = tmp_path_factory.mktemp("tags")
    src = d / "a.flac"
    t = np.arange(44100 * 3) / 44100
    sf.write(str(src), (0.2 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), 44100, format="FLAC")
    mp3 = d / "a.mp3"
    run(encoders.mp3(src, mp3, bitrate_kbps=64, sample_rate_hz=44100, channels=1), 60)
    (d / "list.txt").write_text(encoders.concat_list([src, src]))
    (d / "meta.txt").write_text(encoders.ffmetadata([("Chương một", 0, 3.0), ("Chương hai", 3.0, 6.0)]))
    m4b = d / "a.m4b"
    run(encoders.m4b(d / "list.txt", d / "meta.txt", m4b, bitrate_bps=64000, channels=1,
                     sample_rate_hz=44100), 60)
    return mp3, m4b


def _cover(fmt="JPEG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 120, 200)).save(out, fmt)
    return out.getvalue()


FULL = tags.AudioTags(
    title="Chương 3: Dòng sông ở Huế", album="Truyện Kiều — bản đọc", author="Nguyễn Du",
    narrator="Đặng Thị Hoà", track=3, track_total=12, language="vie", year=1820,
    publisher="NXB Văn học", description="Bản đọc đầy đủ, có chú giải.", cover=_cover(),
    chapters=(tags.TagChapter("Chương 3: Dòng sông ở Huế", 0.0, 3.0),))


def test_mp3_round_trip(encoded, tmp_path):
    path = tmp_path / "x.mp3"
    shutil.copy(encoded[0], path)
    tags.write_mp3(path, FULL)
    assert tags.read_mp3(path) == FULL
    from mutagen.id3 import ID3
    id3 = ID3(path)
    assert id3.version == (2, 4, 0)
    assert str(id3["TCOM"]) == "Đặng Thị Hoà" and str(id3["TXXX:NARRATOR"]) == "Đặng Thị Hoà"
    assert str(id3["TLAN"]) == "vie" and id3.getall("CTOC")[0].child_element_ids == ["ch1"]
    # ffmpeg still reads the audio after tagging, and sees the title.
    info = probe(path)
    assert info["format"]["tags"]["title"] == FULL.title
    assert float(info["format"]["duration"]) == pytest.approx(3.0, abs=0.1)


def test_mp3_rewrite_replaces_old_tags(encoded, tmp_path):
    path = tmp_path / "x.mp3"
    shutil.copy(encoded[0], path)
    tags.write_mp3(path, FULL)
    smaller = tags.AudioTags(title="Mở đầu", album="Sách khác")
    tags.write_mp3(path, smaller)
    back = tags.read_mp3(path)
    assert back.title == "Mở đầu" and back.narrator == "" and back.cover is None and back.chapters == ()


def test_m4b_round_trip_keeps_chapters(encoded, tmp_path):
    path = tmp_path / "x.m4b"
    shutil.copy(encoded[1], path)
    book = tags.AudioTags(title="Truyện Kiều", album="Truyện Kiều", author="Nguyễn Du",
                          narrator="Đặng Thị Hoà", year=1820, publisher="NXB Văn học",
                          description="Bản đọc đầy đủ.", cover=_cover("PNG"), cover_mime="image/png")
    tags.write_m4b(path, book)
    back = tags.read_m4b(path)
    assert back.media_kind == tags.STIK_AUDIOBOOK
    assert [c.title for c in back.chapters] == ["Chương một", "Chương hai"]
    assert back.chapters[1].start_s == pytest.approx(3.0, abs=0.01)
    from dataclasses import replace
    assert replace(back, chapters=(), media_kind=None) == book
    info = probe(path)   # ffprobe still lists the chapters after mutagen rewrote the atoms
    assert [c["tags"]["title"] for c in info["chapters"]] == ["Chương một", "Chương hai"]


def test_mutagen_errors_become_tag_error(tmp_path):
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(TagError):
        tags.read_mp3(junk)
    with pytest.raises(TagError) as err:
        tags.write_m4b(junk, FULL)
    assert isinstance(err.value, CatalogError) and "junk.mp3" in str(err.value)
    with pytest.raises(TagError):
        tags.write_mp3(tmp_path / "missing" / "x.mp3", FULL)


# -- Readium ----------------------------------------------------------------------------------------
def _load(path: Path) -> dict:
    text = path.read_text("utf-8")
    text = re.sub(r"\(\?<([A-Za-z][A-Za-z0-9]*)>", r"(?P<\1>", text)   # ECMAScript -> Python groups
    return json.loads(text)


@pytest.fixture(scope="module")
def validator():
    resources = []
    for folder in ("readium-webpub", "opds2"):
        for path in sorted((STANDARDS / folder).rglob("*.json")):
            schema = _load(path)
            if "$id" in schema:
                resources.append((schema["$id"], Resource.from_contents(schema)))
    registry = Registry().with_resources(resources)
    root = _load(STANDARDS / "readium-webpub/publication.schema.json")
    return Draft7Validator(root, registry=registry)


def _info(**over) -> readium.AudiobookInfo:
    base = dict(identifier="urn:uuid:5a1c0a3e-1111-4c3b-9a2e-000000000001", title="Tắt đèn",
                authors=("Ngô Tất Tố",), narrators=("Nguyễn Thị Hoà",), language="vie",
                publisher="NXB Văn học", published="1939", description="Tiểu thuyết",
                cover_href="cover.jpg",
                tracks=(readium.Track("mp3/01.mp3", "Chương 1", 61.5, 64.0, 500_000),
                        readium.Track("mp3/02.mp3", "Chương 2", 120.25, 64.0, 980_000)))
    base.update(over)
    return readium.AudiobookInfo(**base)


def test_manifest_validates_and_has_the_audiobook_fields(validator):
    m = readium.manifest_from_info(_info())
    errors = sorted(validator.iter_errors(m), key=str)
    assert not errors, [e.message for e in errors]
    md = m["metadata"]
    assert md["conformsTo"] == readium.AUDIOBOOK_PROFILE and md["@type"] == "http://schema.org/Audiobook"
    assert md["language"] == "vi" and md["duration"] == pytest.approx(181.75)
    assert md["author"][0]["name"] == "Ngô Tất Tố" and md["readBy"][0]["name"] == "Nguyễn Thị Hoà"
    assert [l["href"] for l in m["readingOrder"]] == ["mp3/01.mp3", "mp3/02.mp3"]
    assert m["readingOrder"][0]["bitrate"] == 64.0 and m["readingOrder"][1]["duration"] == 120.25
    assert [t["title"] for t in m["toc"]] == ["Chương 1", "Chương 2"]
    assert m["resources"][0]["rel"] == "cover"


def test_absolute_links_with_base_url(validator):
    m = readium.manifest_from_info(_info(), "https://thuvien.example.vn/books/7/")
    assert not list(validator.iter_errors(m))
    assert m["links"][0] == {"rel": "self", "href": "https://thuvien.example.vn/books/7/manifest.json",
                             "type": readium.MEDIA_TYPE}
    assert m["readingOrder"][0]["href"] == "https://thuvien.example.vn/books/7/mp3/01.mp3"


def test_schema_catches_a_broken_manifest(validator):
    m = readium.manifest_from_info(_info())
    del m["readingOrder"][0]["type"]
    m["metadata"]["language"] = "not a language tag!"
    assert len(list(validator.iter_errors(m))) >= 2


def test_packaged_manifest_validates(packaged, validator):
    _, _, _, _, folder, _ = packaged
    m = json.loads((folder / "manifest.json").read_text("utf-8"))
    assert not [e.message for e in validator.iter_errors(m)]
    assert m["metadata"]["identifier"].startswith("urn:uuid:")
    assert m["metadata"]["duration"] == pytest.approx(35.0, abs=0.01)


def test_build_manifest_from_book_row(packaged, validator):
    from catalog.db import session_scope
    from catalog.models import Book
    factory, _, book_id, *_ = packaged
    with session_scope(factory) as session:
        m = readium.build_manifest(session.get(Book, book_id), "http://127.0.0.1:8000/books/1")
    assert not list(validator.iter_errors(m))
    assert m["readingOrder"][2]["href"] == "http://127.0.0.1:8000/books/1/mp3/03.mp3"
    assert m["resources"][0]["href"] == "http://127.0.0.1:8000/books/1/cover.jpg"
