"""MARCXML import of print records from the library system (Koha, iLib, Libol).

A librarian links an audiobook to the print edition already catalogued: the print record is
read (pymarc), its text normalised to NFC (library systems often hand out decomposed Vietnamese),
kept verbatim in `Book.print_record_marcxml`, and its fields fill what the audiobook record lacks
(print ISBN, DDC, subjects, summary, publisher, year, authors, series).

`read_records(data)` parses MARCXML or ISO 2709; `print_fields(record)` maps one record to `create_book` fields;
`link_print_record(session, book, record)` enriches an existing book (`link_print_data` from the
uploaded file, as the librarian page does); `import_marcxml(...)`
creates draft books (or links existing ones with the same print ISBN). Malformed input raises
`MarcImportError` and changes nothing.
"""
from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import pymarc
from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog import books, isbn
from catalog.errors import N_, MarcImportError
from catalog.marc import MARC_NS
from catalog.models import Book, Library
from catalog.text import nfc

_TRAILING_ISBD = re.compile(r"[\s/:;,=.]+$")


def _clean(value: str | None) -> str:
    """NFC, without the ISBD punctuation that closes a MARC subfield ('Tiêu đề /' → 'Tiêu đề')."""
    text = nfc(value)
    cleaned = _TRAILING_ISBD.sub("", text)
    # keep a full stop that ends an initial or abbreviation ("Nxb." stays as typed)
    if text.endswith(".") and re.search(r"\b\w\.$", text):
        return text
    return cleaned


def read_records(data: bytes | str | Path) -> list[pymarc.Record]:
    """Parse print records: MARCXML (a `<collection>` or a single `<record>`) or ISO 2709
    (binary `.mrc`, what Koha and Libol export by default), told apart by the first byte."""
    raw = data.read_bytes() if isinstance(data, Path) else data.encode("utf-8") if isinstance(data, str) else data
    if not raw.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return _read_iso2709(raw)
    try:
        root = etree.fromstring(raw, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        raise MarcImportError(N_("Tệp MARCXML hỏng: %(reason)s"), reason=exc) from None
    local = etree.QName(root).localname
    if etree.QName(root).namespace not in (MARC_NS, None) or local not in ("collection", "record"):
        raise MarcImportError(N_("Không phải MARCXML: cần <collection> hoặc <record>."))
    if local == "record":
        wrapper = etree.Element(f"{{{MARC_NS}}}collection", nsmap={None: MARC_NS})
        wrapper.append(root)
        raw = etree.tostring(wrapper)
    elif etree.QName(root).namespace is None:
        raise MarcImportError(N_("MARCXML thiếu namespace http://www.loc.gov/MARC21/slim."))
    try:
        records = pymarc.parse_xml_to_array(io.BytesIO(raw), normalize_form="NFC")
    except Exception as exc:  # pymarc raises assorted errors on bad structure
        raise MarcImportError(N_("Không đọc được bản ghi MARC: %(reason)s"), reason=exc) from None
    records = [r for r in records if r is not None]
    if not records:
        raise MarcImportError(N_("Tệp không có bản ghi nào."))
    return records


def _read_iso2709(data: bytes) -> list[pymarc.Record]:
    """ISO 2709 records; pymarc decodes MARC-8 or UTF-8 as Leader/09 says. Any bad record refuses all."""
    reader = pymarc.MARCReader(io.BytesIO(data), to_unicode=True, utf8_handling="strict")
    records = []
    try:
        for record in reader:
            if record is None:
                problem = reader.current_exception
                raise MarcImportError(N_("Không đọc được bản ghi ISO 2709: %(reason)s"), reason=
                                      f"{type(problem).__name__} {problem or ''}".strip())
            records.append(record)
    except (pymarc.exceptions.PymarcException, UnicodeDecodeError, ValueError) as exc:
        raise MarcImportError(N_("Không đọc được bản ghi ISO 2709: %(reason)s"), reason=repr(exc)) from None
    if not records:
        raise MarcImportError(N_("Tệp không có bản ghi nào."))
    return records


def link_print_data(session: Session, book: Book | int, data: bytes | str | Path) -> Book:
    """Link the one print record in `data` (MARCXML or ISO 2709) to `book`. All or nothing."""
    result = import_marcxml(session, data, library=books.get_book(session, book).library_id, link_to=book)
    return books.get_book(session, result.linked[0])


def _sub(record: pymarc.Record, tag: str, code: str) -> str:
    for f in record.get_fields(tag):
        value = f.get(code)
        if value:
            return _clean(value)
    return ""


def print_fields(record: pymarc.Record) -> dict:
    """`create_book` fields taken from a print record."""
    title = _sub(record, "245", "a")
    if not title:
        raise MarcImportError(N_("Bản ghi thiếu nhan đề 245 $a."))
    fields: dict = {"title": title, "subtitle": _sub(record, "245", "b")}
    found_isbns = [isbn.from_marc(f.get("a")) for f in record.get_fields("020")]
    fields["isbn_print"] = next((i for i in found_isbns if i), "")  # ISBN-13 digits; a bad one is dropped
    authors = [_clean(f.get("a")) for f in record.get_fields("100", "700")
               if f.get("a") and (f.tag == "100" or (f.get("4") or "aut") == "aut")]
    fields["authors"] = [a for a in authors if a]
    translators = [_clean(f.get("a")) for f in record.get_fields("700") if f.get("4") == "trl"]
    if translators:
        fields["translators"] = translators
        fields["authors"] = [a for a in fields["authors"] if a not in translators]
    fields["publisher"] = _sub(record, "264", "b") or _sub(record, "260", "b")
    year_text = _sub(record, "264", "c") or _sub(record, "260", "c")
    year = re.search(r"\d{4}", year_text)
    fields["year"] = int(year.group()) if year else None
    f008 = record.get("008")
    lang = f008.data[35:38] if f008 is not None and f008.data and len(f008.data) >= 38 else ""
    fields["language"] = lang.strip() if len(lang.strip()) == 3 and lang.strip().isalpha() else "vie"
    fields["summary"] = " ".join(nfc(f.get("a")) for f in record.get_fields("520") if f.get("a"))
    fields["ddc"] = _sub(record, "082", "a").replace("/", "")
    fields["subjects"] = [
        " -- ".join(_clean(sf.value) for sf in f.subfields if sf.code in "axyz" and sf.value)
        for f in record.get_fields("650", "651", "600", "610")]
    fields["subjects"] = [s for s in fields["subjects"] if s]
    series = _sub(record, "490", "a") or _sub(record, "830", "a")
    if series:
        fields["series"] = series
        position = re.search(r"\d+", _sub(record, "490", "v") or _sub(record, "830", "v"))
        if position and len(position.group()) <= 6:  # "v. 12"; a run of digits is not a position
            fields["series_position"] = int(position.group())
    return fields


def _record_xml(record: pymarc.Record) -> str:
    raw = pymarc.record_to_xml(record, namespace=True)
    return unicodedata.normalize("NFC", raw.decode("utf-8"))


def link_print_record(session: Session, book: Book | int, record: pymarc.Record) -> Book:
    """Attach a print record to an audiobook: keep it, and fill the book's empty fields from it."""
    book = books.get_book(session, book)
    found = print_fields(record)
    changes: dict = {"print_record_marcxml": _record_xml(record)}
    for name in ("isbn_print", "ddc", "summary", "publisher", "subtitle"):
        if found.get(name) and not getattr(book, name):
            changes[name] = found[name]
    if found.get("year") and not book.year:
        changes["year"] = found["year"]
    if found.get("subjects") and not book.subjects:
        changes["subjects"] = found["subjects"]
    if found.get("authors") and not any(c.role == "aut" for c in book.credits):
        changes["authors"] = found["authors"]
    if found.get("series") and book.series is None:
        changes["series"] = found["series"]
        changes["series_position"] = found.get("series_position")
    return books.update_book(session, book, **changes)


def _books_by_print_isbn(session: Session) -> dict[str, Book]:
    """Live books by normalised print ISBN-13, so '978-604-…', '604…' (ISBN-10) and digits all meet.
    Rows stored before ISBNs were normalised may hold hyphens or ISBN-10, hence not a SQL equality."""
    found: dict[str, Book] = {}
    rows = session.scalars(select(Book).where(Book.isbn_print != "", Book.deleted_at.is_(None)).order_by(Book.id))
    for book in rows:
        found.setdefault(isbn.normalised_or_empty(book.isbn_print), book)
    found.pop("", None)
    return found


@dataclass
class ImportResult:
    created: list[int] = field(default_factory=list)
    linked: list[int] = field(default_factory=list)


def import_marcxml(session: Session, data: bytes | str | Path, *, library: Library | int | str,
                   link_to: Book | int | None = None, access_policy: str = "public") -> ImportResult:
    """Import print records: link to `link_to` (exactly one record), else link books with the same
    print ISBN, else create draft audiobook records. All or nothing."""
    records = read_records(data)
    result = ImportResult()
    if link_to is not None and len(records) != 1:
        raise MarcImportError(N_("Cần đúng một bản ghi để liên kết, tệp có %(count)s."),
                             count=len(records))
    with session.begin_nested():  # all or nothing
        if link_to is not None:
            result.linked.append(link_print_record(session, link_to, records[0]).id)
            return result
        by_isbn = _books_by_print_isbn(session)
        for record in records:
            found = print_fields(record)
            existing = by_isbn.get(found["isbn_print"]) if found["isbn_print"] else None
            if existing is not None:
                result.linked.append(link_print_record(session, existing, record).id)
            else:
                book = books.create_book(session, library=library, access_policy=access_policy,
                                         print_record_marcxml=_record_xml(record), **found)
                result.created.append(book.id)
    return result
