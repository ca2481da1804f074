"""MARC 21 bibliographic records (MARCXML, UTF-8) for audiobooks, built with pymarc.

What Koha, iLib and Libol expect of an online audiobook (RDA): Leader/06 `i` (nonmusical sound
recording), 007 for the sound recording and for the online resource, 008 with language, 020
audiobook ISBN (the print ISBN goes to 776 $z), 100/700 with relator terms and codes
(`$4 aut`, `$4 nrt`), 245, 264, 300 extent with duration, 306 playing time `hhmmss`,
336/337/338, 344 and 347 (`$b` encoding, `$f` bitrate), 490/830 series, 506 access
restrictions, 511 narrator note, 520 summary, 546 language, 650 subjects, 655 genre,
776 print edition, 856 links: the book page ("Nghe sách nói") and the Readium manifest (`$q`).

Links are absolute or absent: without a base URL no 856 is written (a relative link is useless
in Koha). ISO 2709 limits are kept: the summary is split into repeated 520 fields of at most
`SUMMARY_CHUNK_BYTES` and shortened when the record would pass `MAX_RECORD_BYTES`.

`build_record(book, base_url)` returns a `pymarc.Record`; `record_xml`, `record_iso2709` and
`collection_xml` serialise it; `write_collection` streams many records (MARCXML or ISO 2709) to a
file atomically.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterable, Iterator

import pymarc
from lxml import etree
from pymarc import Field, Indicators, Leader, Record, Subfield
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import selectinload

from catalog import datestamps, isbn, talking_books
from catalog.access import visible
from catalog.models import Book

MARC_NS = "http://www.loc.gov/MARC21/slim"
MARC_SCHEMA_LOCATION = "http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd"

RELATOR_TERMS = {  # code -> (Vietnamese term, English term)
    "aut": ("tác giả", "author"),
    "nrt": ("người đọc", "narrator"),
    "trl": ("người dịch", "translator"),
    "pro": ("nhà sản xuất", "producer"),
    "aue": ("kỹ thuật viên âm thanh", "audio engineer"),
    "edt": ("biên tập", "editor"),
}
LANGUAGE_NAMES = {"vie": "Tiếng Việt", "eng": "Tiếng Anh", "fre": "Tiếng Pháp", "chi": "Tiếng Trung",
                  "rus": "Tiếng Nga", "khm": "Tiếng Khmer", "lao": "Tiếng Lào"}
ACCESS_NOTES = {
    "public": ("Truy cập tự do", "Unrestricted online access"),
    "members": ("Chỉ dành cho bạn đọc có tài khoản thư viện", "Online access with authorization"),
    "print-disabled": ("Chỉ dành cho người khuyết tật không đọc được sách in đã đăng ký "
                       "(Hiệp ước Marrakesh, Luật SHTT điều 25a)", "Online access with authorization"),
    "on-site": ("Chỉ nghe tại thư viện", "Access restricted to the library premises"),
}
# audio encodings only: covers (image/jpeg) and packages (zip) are renditions too, but not audio files
MIME_BY_CODEC = {"mp3": "MP3", "aac": "AAC", "opus": "Opus", "flac": "FLAC"}
MAX_RECORD_BYTES = 99_999    # ISO 2709: five digits of record length in the leader
SUMMARY_CHUNK_BYTES = 9_000  # one 520 $a; a field's length has four digits (9 999 bytes with its codes)
FORMATS = ("xml", "iso2709")
# 008/30-31 literary text of a nonmusical sound recording (blank would mean music), guessed from
# the book's subjects (Vietnamese) and then its DDC class; "z" (other) when nothing says more.
# Checked in order, so the narrower words come first ("truyện cổ" before "truyện", "tự truyện" too).
_LITERARY_BY_SUBJECT = (("truyện cổ", "o"), ("cổ tích", "o"), ("tự truyện", "a"), ("hồi ký", "m"),
                        ("tiểu sử", "b"), ("danh nhân", "b"), ("thơ", "p"), ("kịch", "d"), ("tiểu thuyết", "f"),
                        ("truyện", "f"), ("lịch sử", "h"), ("tùy bút", "e"), ("tuỳ bút", "e"), ("tản văn", "e"))
_LITERARY_BY_DDC = (("92", "b"), ("9", "h"), ("4", "j"), ("808.5", "l"))


def _sf(*pairs: tuple[str, str]) -> list[Subfield]:
    return [Subfield(code, value) for code, value in pairs if value not in (None, "")]


def playing_time(seconds: float) -> str:
    """306 $a: hhmmss (hours capped at 99)."""
    total = int(round(seconds or 0))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{min(hours, 99):02d}{minutes:02d}{secs:02d}"


def extent(seconds: float) -> str:
    """300 $a in Vietnamese: '1 tệp âm thanh trực tuyến (3 giờ 12 phút)'."""
    total = int(round(seconds or 0))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = ([f"{hours} giờ"] if hours else []) + ([f"{minutes} phút"] if minutes else [])
    if not parts:
        parts = [f"{secs} giây"]
    return f"1 tệp âm thanh trực tuyến ({' '.join(parts)})"


def literary_text(book: Book) -> str:
    """008/30-31 for a spoken-word recording: up to two codes, left-justified ('f ', 'bh')."""
    codes: list[str] = []
    terms = " | ".join(bs.subject.term.lower() for bs in book.subjects)
    for word, code in _LITERARY_BY_SUBJECT:
        if word in terms and code not in codes:
            codes.append(code)
            terms = terms.replace(word, " ")  # "truyện cổ tích" is folk tales, not also fiction
    for prefix, code in _LITERARY_BY_DDC:
        if (book.ddc or "").startswith(prefix) and code not in codes:
            codes.append(code)
            break
    return "".join(codes[:2]).ljust(2) if codes else "z "


def split_utf8(text: str, limit: int) -> list[str]:
    """`text` cut into pieces of at most `limit` UTF-8 bytes, at spaces where possible."""
    pieces, rest = [], text.strip()
    while len(rest.encode("utf-8")) > limit:
        head = rest.encode("utf-8")[:limit].decode("utf-8", "ignore")  # never half a character
        cut = head.rfind(" ")
        head = head[:cut] if cut > limit // 2 else head
        pieces.append(head.strip())
        rest = rest[len(head):].strip()
    return pieces + ([rest] if rest else [])


def control_number(book: Book) -> str:
    return f"sn{book.id:09d}"


def _fixed_008(book: Book) -> str:
    entered = (book.created_at.strftime("%y%m%d") if book.created_at else "000000")
    year = f"{book.year:04d}" if book.year else "uuuu"
    date_type = "s" if book.year else "n"
    lang = (book.language or "vie")[:3].ljust(3)
    # 18-19 form of composition nn; 20 n; 21 n; 22 target audience; 23 form of item o (online);
    # 24-29 accompanying matter; 30-31 literary text (blank is music); 33 transposition n; 39 d
    value = (entered + date_type + year + "    " + "vm " + "nn" + "n" + "n" + " " + "o" + "      "
             + literary_text(book) + " " + "n" + " " + lang + " " + "d")
    assert len(value) == 40, value
    return value


def _channels(book: Book) -> str:
    channels = {r.channels for r in book.renditions if r.channels}
    return "stereo" if channels and max(channels) >= 2 else "mono"


def build_record(book: Book, base_url: str = "") -> Record:
    """The MARC 21 record of `book`. `base_url` (no trailing slash) makes 856 an absolute link."""
    base = base_url.rstrip("/")
    record = Record(force_utf8=True, leader="00000nim a2200000 i 4500")
    if book.series is not None and book.series.kind == "periodical":
        record.leader = Leader(str(record.leader)[:7] + "s" + str(record.leader)[8:])  # Leader/07 serial
    record.add_ordered_field(Field(tag="001", data=control_number(book)))
    record.add_ordered_field(Field(tag="003", data=book.library.code if book.library else "sachnoi"))
    changed = datestamps.changed_at(book)
    if changed:
        record.add_ordered_field(Field(tag="005", data=changed.strftime("%Y%m%d%H%M%S.0")))
    record.add_ordered_field(Field(tag="007", data=f"sr n{'s' if _channels(book) == 'stereo' else 'm'}nnnnnnnne"))
    record.add_ordered_field(Field(tag="007", data="cr una---uuuuu"))
    record.add_ordered_field(Field(tag="008", data=_fixed_008(book)))
    isbn_audio = isbn.normalised_or_empty(book.isbn_audio)  # a bad ISBN stored long ago is left out
    if isbn_audio:
        record.add_ordered_field(Field("020", Indicators(" ", " "), _sf(("a", isbn_audio), ("q", "sách nói"))))
    record.add_ordered_field(Field("024", Indicators("7", " "), _sf(("a", f"urn:uuid:{book.uuid}"), ("2", "urn"))))
    code = book.library.code if book.library else "sachnoi"
    record.add_ordered_field(Field("040", Indicators(" ", " "),
                                   _sf(("a", code), ("b", "vie"), ("e", "rda"), ("c", code))))
    if any(c.role == "trl" for c in book.credits):
        record.add_ordered_field(Field("041", Indicators("1", " "), _sf(("a", book.language or "vie"))))
    if book.ddc:
        record.add_ordered_field(Field("082", Indicators("0", "4"), _sf(("a", book.ddc), ("2", "23"))))

    credits = list(book.credits)
    main = next((c for c in credits if c.role == "aut"), None)
    if main is not None:
        term = RELATOR_TERMS["aut"][0]
        record.add_ordered_field(Field("100", Indicators("0", " "),
                                       _sf(("a", main.contributor.name), ("e", term), ("4", "aut"))))
    statement = " ; ".join(
        part for part in (
            ", ".join(c.contributor.name for c in credits if c.role == "aut"),
            ("người đọc: " + ", ".join(c.contributor.name for c in credits if c.role == "nrt"))
            if any(c.role == "nrt" for c in credits) else "",
            ("người dịch: " + ", ".join(c.contributor.name for c in credits if c.role == "trl"))
            if any(c.role == "trl" for c in credits) else "",
        ) if part)
    title_sf = [("a", book.title + (" :" if book.subtitle else (" /" if statement else "")))]
    if book.subtitle:
        title_sf.append(("b", book.subtitle + (" /" if statement else "")))
    if statement:
        title_sf.append(("c", statement))
    if not title_sf[-1][1].rstrip().endswith((".", "?", "!")):  # 245 ends with a full stop (ISBD, LCPS 1.7.1)
        title_sf[-1] = (title_sf[-1][0], title_sf[-1][1] + ".")
    record.add_ordered_field(Field("245", Indicators("1" if main is not None else "0", "0"), _sf(*title_sf)))
    if book.abridged:
        record.add_ordered_field(Field("250", Indicators(" ", " "), _sf(("a", "Bản rút gọn"))))
    publisher = book.publisher or (book.library.name if book.library else "")
    year = str(book.year) if book.year else ""
    record.add_ordered_field(Field("264", Indicators(" ", "1"),
                                   _sf(("a", "[Việt Nam]"), ("b", publisher), ("c", year))))
    record.add_ordered_field(Field("300", Indicators(" ", " "), _sf(("a", extent(book.duration_s)))))
    record.add_ordered_field(Field("306", Indicators(" ", " "), _sf(("a", playing_time(book.duration_s)))))
    record.add_ordered_field(Field("336", Indicators(" ", " "),
                                   _sf(("a", "spoken word"), ("b", "spw"), ("2", "rdacontent"))))
    record.add_ordered_field(Field("337", Indicators(" ", " "), _sf(("a", "computer"), ("b", "c"), ("2", "rdamedia"))))
    record.add_ordered_field(Field("338", Indicators(" ", " "),
                                   _sf(("a", "online resource"), ("b", "cr"), ("2", "rdacarrier"))))
    record.add_ordered_field(Field("344", Indicators(" ", " "), _sf(("a", "digital"), ("2", "rdatr"))))
    record.add_ordered_field(Field("344", Indicators(" ", " "), _sf(("g", _channels(book)), ("2", "rdacpc"))))
    encodings = []
    for r in sorted(book.renditions, key=lambda r: (r.kind, r.bitrate)):
        name = MIME_BY_CODEC.get((r.codec or "").lower())
        if name and (name, r.bitrate) not in encodings:
            encodings.append((name, r.bitrate))
    for name, bitrate in encodings or [("", 0)]:
        record.add_ordered_field(Field("347", Indicators(" ", " "), _sf(
            ("a", "audio file"), ("b", name), ("f", f"{round(bitrate / 1000)} kbps" if bitrate else ""),
            ("2", "rdaft"))))
    if book.series is not None:
        position = str(book.series_position) if book.series_position is not None else ""
        record.add_ordered_field(Field("490", Indicators("1", " "),
                                       _sf(("a", book.series.title + (" ;" if position else "")), ("v", position))))
    note_vi, note_en = ACCESS_NOTES.get(book.access_policy, ACCESS_NOTES["members"])
    if book.access_policy == "public":
        record.add_ordered_field(Field("506", Indicators("0", " "), _sf(("a", note_vi), ("f", note_en), ("2", "star"))))
    else:
        record.add_ordered_field(Field("506", Indicators("1", " "), _sf(
            ("a", note_vi), ("f", note_en), ("2", "star"),
            ("e", "Marrakesh Treaty; Vietnam IP Law art. 25a" if book.access_policy == "print-disabled" else ""))))
    talking = talking_books.listed(book)
    if talking:  # accessible formats: 341 in the schema.org accessibility vocabulary (sapdv), 532 notes
        features = (["synchronizedAudioText"] if talking_books.full_text(book) else []) + \
            ["structuralNavigation", "tableOfContents"]
        record.add_ordered_field(Field("341", Indicators("0", " "), _sf(
            ("3", ", ".join(k.label for k in talking)), ("a", "auditory"), *[("b", f) for f in features],
            ("2", "sapdv"))))
    narrators = [c.contributor.name for c in credits if c.role == "nrt"]
    if narrators:
        record.add_ordered_field(Field("511", Indicators("0", " "), _sf(("a", "Người đọc: " + ", ".join(narrators)))))
    record.add_ordered_field(Field("546", Indicators(" ", " "),
                                   _sf(("a", LANGUAGE_NAMES.get(book.language, book.language)))))
    for bs in book.subjects:
        record.add_ordered_field(Field("650", Indicators(" ", "4"), _sf(("a", bs.subject.term))))
    record.add_ordered_field(Field("655", Indicators(" ", "7"), _sf(("a", "Audiobooks"), ("2", "lcgft"))))
    record.add_ordered_field(Field("655", Indicators(" ", "4"), _sf(("a", "Sách nói"))))
    for c in credits:
        if c is main:
            continue
        term = RELATOR_TERMS.get(c.role, (c.role, c.role))[0]
        record.add_ordered_field(Field("700", Indicators("0", " "),
                                       _sf(("a", c.contributor.name), ("e", term), ("4", c.role))))
    isbn_print = isbn.normalised_or_empty(book.isbn_print)
    if isbn_print:
        record.add_ordered_field(Field("776", Indicators("0", "8"), _sf(
            ("i", "Bản in:"), ("t", book.title), ("z", isbn_print))))
    if book.series is not None:
        record.add_ordered_field(Field("830", Indicators(" ", "0"), _sf(
            ("a", book.series.title + (" ;" if book.series_position is not None else "")),
            ("v", str(book.series_position) if book.series_position is not None else ""))))
    if base:
        record.add_ordered_field(Field("856", Indicators("4", "0"), _sf(
            ("u", f"{base}/books/{book.id}"), ("q", "text/html"), ("y", "Nghe sách nói"))))
        record.add_ordered_field(Field("856", Indicators("4", "1"), _sf(
            ("u", f"{base}/books/{book.id}/manifest.json"), ("q", "application/audiobook+json"),
            ("y", "Tệp kê khai Readium cho ứng dụng nghe"))))
        for kind in talking:
            record.add_ordered_field(Field("856", Indicators("4", "1"), _sf(
                ("3", kind.label), ("u", talking_books.url(base, book.id, kind)), ("q", kind.media_type),
                ("z", "Dành cho người khuyết tật đọc chữ in và thư viện được ủy quyền (Hiệp ước Marrakesh)"))))
    _add_summary(record, book.summary)
    if talking:
        record.add_ordered_field(Field("532", Indicators("1", " "), _sf(("a", (
            "Có bản EPUB 3 với văn bản đồng bộ với giọng đọc theo từng câu (Media Overlays) và bản DAISY 2.02 "
            "toàn văn và âm thanh." if talking_books.full_text(book) else
            "Có bản EPUB 3 và DAISY 2.02 chỉ có âm thanh, điều hướng theo chương.")),)))
        record.add_ordered_field(Field("532", Indicators("0", " "), _sf(
            ("a", "Cần ứng dụng đọc EPUB 3 có Media Overlays hoặc máy/phần mềm đọc DAISY 2.02."),)))
    return record


def _add_summary(record: Record, summary: str) -> None:
    """520 fields for `summary`, as many as fit under MAX_RECORD_BYTES; a cut summary ends with '…'."""
    budget = MAX_RECORD_BYTES - len(record.as_marc())
    for piece in split_utf8(summary or "", SUMMARY_CHUNK_BYTES):
        cost = len(piece.encode("utf-8")) + 5 + 12  # indicators, $a, terminator; directory entry
        if cost > budget:
            room = budget - 5 - 12 - len(" …".encode("utf-8"))
            if room > 0:
                record.add_ordered_field(Field("520", Indicators(" ", " "),
                                               _sf(("a", split_utf8(piece, room)[0] + " …"))))
            return
        record.add_ordered_field(Field("520", Indicators(" ", " "), _sf(("a", piece))))
        budget -= cost


def record_element(book: Book, base_url: str = "") -> etree._Element:
    """`<marc:record>` as an lxml element (namespaced), for embedding in OAI-PMH."""
    raw = pymarc.record_to_xml(build_record(book, base_url), namespace=True)
    return etree.fromstring(raw)


def record_xml(book: Book, base_url: str = "") -> bytes:
    """A standalone MARCXML document: one `<collection>` holding the record (UTF-8)."""
    return collection_xml([book], base_url)


def record_iso2709(book: Book, base_url: str = "") -> bytes:
    """One record in ISO 2709 (`.mrc`, UTF-8, Leader/09 `a`), the exchange format of Koha's importer."""
    return build_record(book, base_url).as_marc()


def _collection_root() -> etree._Element:
    xsi = "http://www.w3.org/2001/XMLSchema-instance"
    root = etree.Element(f"{{{MARC_NS}}}collection", nsmap={None: MARC_NS, "xsi": xsi})
    root.set(f"{{{xsi}}}schemaLocation", f"{MARC_NS} {MARC_SCHEMA_LOCATION}")
    return root


def collection_xml(books: Iterable[Book], base_url: str = "") -> bytes:
    root = _collection_root()
    for book in books:
        root.append(record_element(book, base_url))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def write_collection(books: Iterable[Book], path: str | Path, base_url: str = "", progress=None,
                     fmt: str = "xml") -> int:
    """Stream records to `path` (temp file, then rename) as a MARCXML collection (`fmt="xml"`) or
    ISO 2709 records one after another (`fmt="iso2709"`); returns the record count."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown MARC format {fmt!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    count = 0
    try:
        with os.fdopen(fd, "wb") as out:
            count = _stream(books, out, base_url, progress, fmt)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count


def _stream(books: Iterable[Book], out: IO[bytes], base_url: str, progress, fmt: str) -> int:
    with contextlib.ExitStack() as stack:
        if fmt == "xml":
            xf = stack.enter_context(etree.xmlfile(out, encoding="UTF-8"))
            xf.write_declaration()
            xsi = "http://www.w3.org/2001/XMLSchema-instance"
            stack.enter_context(xf.element(f"{{{MARC_NS}}}collection", nsmap={None: MARC_NS, "xsi": xsi},
                                           attrib={f"{{{xsi}}}schemaLocation": f"{MARC_NS} {MARC_SCHEMA_LOCATION}"}))

            def write(book: Book) -> None:
                xf.write(record_element(book, base_url))
        else:
            def write(book: Book) -> None:
                out.write(record_iso2709(book, base_url))  # records follow one another, no wrapper
        count = 0
        for book in books:
            write(book)
            count += 1
            if progress is not None:
                progress(1)
    return count


def _exportable(library_id: int | None, include_unpublished: bool) -> list:
    where: list[ColumnElement[bool]] = [Book.deleted_at.is_(None)]
    if not include_unpublished:
        where.append(visible())
    if library_id is not None:
        where.append(Book.library_id == library_id)
    return where


def count_exportable_books(session, *, library_id: int | None = None, include_unpublished: bool = False) -> int:
    return session.scalar(select(func.count()).select_from(Book).where(*_exportable(library_id, include_unpublished)))


def exportable_books(session, *, library_id: int | None = None, include_unpublished: bool = False,
                     batch: int = 500) -> Iterator[Book]:
    """The books a bulk export holds, by id, `batch` rows at a time (bounded memory): what readers
    can see (published, its time come, not deleted) unless `include_unpublished`; one library's
    books when `library_id` is given. Rows are expunged after each batch."""
    where = _exportable(library_id, include_unpublished)
    last = 0
    while True:
        rows = session.scalars(
            select(Book).where(*where, Book.id > last).order_by(Book.id).limit(batch).options(
                selectinload(Book.credits), selectinload(Book.subjects), selectinload(Book.renditions),
                selectinload(Book.series), selectinload(Book.library))).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].id
        session.expunge_all()
