"""MARC 21: every field the issue lists, MARC21slim.xsd validity, pymarc round trip."""
from __future__ import annotations

import io

import pymarc
from lxml import etree

from catalog import marc
from helpers import STANDARDS, full_book, library, xsd

SCHEMA = xsd(f"{STANDARDS}/marc21/MARC21slim.xsd")


def _parse(data: bytes) -> list[pymarc.Record]:
    return pymarc.parse_xml_to_array(io.BytesIO(data))


def test_record_fields(session):
    lib = library(session)
    book = full_book(session, lib, access_policy="print-disabled")
    data = marc.record_xml(book, "https://thuvien.example.vn/")
    SCHEMA.assertValid(etree.fromstring(data))
    [rec] = _parse(data)
    assert rec.leader[6] == "i"
    assert rec.leader[9] == "a"  # UCS/Unicode
    f007 = [f.data for f in rec.get_fields("007")]
    assert f007[0].startswith("sr") and len(f007[0]) == 14
    f008 = rec["008"].data
    assert len(f008) == 40 and f008[35:38] == "vie" and f008[7:11] == "2021"
    assert rec["020"]["a"] == "9786049876547"
    assert rec["100"]["a"] == "Nguyễn Văn Khánh" and rec["100"]["4"] == "aut"
    narrator = [f for f in rec.get_fields("700") if f.get("4") == "nrt"]
    assert narrator and narrator[0]["a"] == "Lê Thị Hoà"
    assert rec["245"]["a"].startswith("Trương Định") and rec["245"]["b"].startswith("Tiểu thuyết")
    assert rec["264"]["b"] == "NXB Trẻ" and rec["264"]["c"] == "2021"
    assert "3 giờ 12 phút" in rec["300"]["a"]
    assert rec["306"]["a"] == "031205"
    assert (rec["336"]["b"], rec["337"]["b"], rec["338"]["b"]) == ("spw", "c", "cr")
    assert {f.get("a") or f.get("g") for f in rec.get_fields("344")} == {"digital", "mono"}
    encodings = {(f["b"], f["f"]) for f in rec.get_fields("347")}
    assert encodings == {("MP3", "192 kbps"), ("AAC", "64 kbps")}
    assert rec["506"].indicator1 == "1" and "Marrakesh" in rec["506"]["a"]
    assert rec["511"]["a"] == "Người đọc: Lê Thị Hoà"
    assert rec["520"]["a"] == "Cuộc đời anh hùng Trương Định."
    assert rec["546"]["a"] == "Tiếng Việt"
    assert {f["a"] for f in rec.get_fields("650")} == {"Lịch sử Việt Nam", "Tiểu thuyết"}
    assert "Audiobooks" in {f["a"] for f in rec.get_fields("655")}
    assert rec["776"]["z"] == "9786041234567"
    assert rec["490"]["v"] == "3" and rec["830"]["a"].startswith("Danh nhân đất Việt")
    links = {f["u"]: f for f in rec.get_fields("856")}
    page = links[f"https://thuvien.example.vn/books/{book.id}"]
    assert page["y"] == "Nghe sách nói"
    manifest = links[f"https://thuvien.example.vn/books/{book.id}/manifest.json"]
    assert manifest["q"] == "application/audiobook+json"
    # text stays NFC through the round trip
    import unicodedata
    assert unicodedata.is_normalized("NFC", rec["245"]["a"])


def test_public_book_has_open_access_506(session):
    lib = library(session)
    book = full_book(session, lib, access_policy="public")
    [rec] = _parse(marc.record_xml(book))
    assert rec["506"].indicator1 == "0"


def test_round_trip_through_binary_marc(session):
    lib = library(session)
    book = full_book(session, lib)
    [rec] = _parse(marc.record_xml(book))
    again = pymarc.Record(data=rec.as_marc(), force_utf8=True)
    assert again.title == rec.title
    assert [f.tag for f in again.fields] == [f.tag for f in rec.fields]


def test_bulk_collection_is_valid_and_atomic(session, tmp_path):
    lib = library(session)
    made = [full_book(session, lib, title=f"Sách số {i}") for i in range(5)]
    out = tmp_path / "out" / "export.xml"
    assert marc.write_collection(made, out) == 5
    SCHEMA.assertValid(etree.parse(str(out)))
    assert [r.title for r in _parse(out.read_bytes())][0].startswith("Sách số 0")
    assert list(out.parent.iterdir()) == [out]  # no temp file left behind


def test_literary_text_codes(session):
    """17.6: 008/30-31 of a spoken-word book from its subjects, then its DDC; never blank (music)."""
    lib = library(session)
    cases = {("Truyện cổ tích Việt Nam",): ("", "o "), ("Tự truyện",): ("", "a "), (): ("959.7", "h "),
             ("Thơ",): ("920", "pb"), ("Kinh tế",): ("330", "z ")}
    for i, (subjects, (ddc, codes)) in enumerate(cases.items()):
        book = full_book(session, lib, title=f"Sách {i}", subjects=list(subjects), ddc=ddc)
        assert marc.literary_text(book) == codes, subjects
