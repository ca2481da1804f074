"""The web MARC import (`/librarian/books/<id>/marc`), through the page a librarian uses (issue 14,
"Reliability found on the way": it called functions catalog.marc_import does not have, and always
failed). Records are written by pymarc, as Koha and Libol export them: MARCXML and ISO 2709."""
from __future__ import annotations

import io
import unicodedata

import pymarc
import pytest

from catalog.books import create_book
from catalog.models import Book, Library
from sqlalchemy import select


def _print_record() -> pymarc.Record:
    """A print record with decomposed Vietnamese (NFD), as some library systems hand it out."""
    record = pymarc.Record(force_utf8=True)
    nfd = lambda text: unicodedata.normalize("NFD", text)  # noqa: E731
    for tag, ind, subfields in (
            ("020", (" ", " "), [("a", "9786041234567 (bìa mềm)")]),
            ("082", ("0", "4"), [("a", "895.9221")]),
            ("100", ("1", " "), [("a", nfd("Nguyễn Du,"))]),
            ("245", ("1", "0"), [("a", nfd("Truyện Kiều /")), ("c", "Nguyễn Du")]),
            ("264", (" ", "1"), [("a", "Hà Nội :"), ("b", nfd("Nxb. Văn học,")), ("c", "2019.")]),
            ("520", (" ", " "), [("a", nfd("Kiệt tác của văn học Việt Nam."))]),
            ("650", (" ", "7"), [("a", nfd("Văn học Việt Nam")), ("x", "Truyện thơ")])):
        record.add_field(pymarc.Field(tag=tag, indicators=pymarc.Indicators(*ind),
                                      subfields=[pymarc.Subfield(c, v) for c, v in subfields]))
    return record


def _formats():
    record = _print_record()
    return {"marcxml": ("print.xml", pymarc.record_to_xml(record, namespace=True)),
            "iso2709": ("print.mrc", record.as_marc())}


@pytest.fixture
def bare_book(app, users):
    with app.extensions["sachnoi"].sessions.begin() as s:
        library = s.scalar(select(Library).where(Library.code == "THV"))
        return create_book(s, library=library, title="Truyện Kiều (sách nói)").id


@pytest.mark.parametrize("fmt", ["marcxml", "iso2709"])
def test_marc_import_page_fills_the_book_from_a_print_record(app, login, bare_book, fmt):
    """Upload through the form: the page says it worked, the empty fields are filled (NFC), the
    record is kept, and the page then shows the data."""
    name, data = _formats()[fmt]
    lib = login("lib1")
    page = lib.get(f"/librarian/books/{bare_book}").get_data(as_text=True)
    assert f'action="/librarian/books/{bare_book}/marc"' in page
    response = lib.post(f"/librarian/books/{bare_book}/marc", data={"marcxml": (io.BytesIO(data), name)},
                        content_type="multipart/form-data")
    assert response.status_code == 302, response.status_code
    shown = lib.get(f"/librarian/books/{bare_book}").get_data(as_text=True)
    assert "Đã nhập biểu ghi sách in." in shown and "Không nhập được" not in shown
    with app.extensions["sachnoi"].sessions() as s:
        book = s.get(Book, bare_book)
        assert book.title == "Truyện Kiều (sách nói)"  # a filled field is kept
        assert book.isbn_print == "9786041234567" and book.ddc == "895.9221" and book.year == 2019
        assert book.publisher == unicodedata.normalize("NFC", "Nxb. Văn học")
        assert book.summary == "Kiệt tác của văn học Việt Nam."
        assert [c.name for c in book.contributors("aut")] == ["Nguyễn Du"]
        assert "9786041234567" in book.print_record_marcxml
        assert unicodedata.is_normalized("NFC", book.print_record_marcxml)


@pytest.mark.parametrize("data", [b"00012garbage", b"<record>", b"   ", b"<collection xmlns='x'/>",
                                  _print_record().as_marc()[:-20]])
def test_marc_import_page_refuses_bad_files_and_changes_nothing(app, login, bare_book, data):
    """A truncated ISO 2709 record, malformed XML, an empty file: a clear message, no change."""
    lib = login("lib1")
    response = lib.post(f"/librarian/books/{bare_book}/marc", data={"marcxml": (io.BytesIO(data), "x.mrc")},
                        content_type="multipart/form-data")
    assert response.status_code == 303
    assert "Không nhập được biểu ghi MARC" in lib.get(f"/librarian/books/{bare_book}").get_data(as_text=True)
    with app.extensions["sachnoi"].sessions() as s:
        book = s.get(Book, bare_book)
        assert book.print_record_marcxml in (None, "") and not book.isbn_print
