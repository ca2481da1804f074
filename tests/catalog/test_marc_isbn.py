"""ISBNs (issue 17 point 7, issue 16 point 16): check digits validated, hyphens and spaces accepted,
stored as ISBN-13, refused in the librarian form with a Vietnamese message, never written to MARC, and
`sachnoi import marc` links print records by normalised ISBN (records written by pymarc and by yaz)."""
from __future__ import annotations

import re
import subprocess

import pymarc
import pytest
from click.testing import CliRunner
from pymarc import Field, Indicators, Record, Subfield
from sqlalchemy import func, select, text

from catalog import books, isbn, marc
from catalog.db import make_engine, make_sessionmaker
from catalog.models import Book
from helpers import full_book, library


@pytest.mark.parametrize("typed,stored", [
    ("9786041234567", "9786041234567"),
    ("978-604-1-23456-7", "9786041234567"),
    (" 978 604 1 23456 7 ", "9786041234567"),
    ("0-306-40615-2", "9780306406157"),      # ISBN-10 converted
    ("080442957X", "9780804429573"),          # ISBN-10 with check digit X
    ("", ""),
])
def test_isbn_normalised(typed, stored):
    assert isbn.normalise(typed) == stored


@pytest.mark.parametrize("bad", ["9786041234568", "0-306-40615-3", "978604123456", "ISBN-không", "97860412345677"])
def test_bad_isbn_refused_and_nothing_changes(session, bad):
    """16.16: a wrong check digit or length is refused, in Vietnamese, before anything is written."""
    book = full_book(session, library(session))
    session.commit()
    with pytest.raises(isbn.ISBNError, match="ISBN không hợp lệ"):
        books.update_book(session, book, isbn_print=bad, title="Đổi tên")
    session.rollback()
    assert (book.title, book.isbn_print) == ("Trương Định", "9786041234567")
    with pytest.raises(isbn.ISBNError):
        books.create_book(session, library="THV", title="Mới", isbn_audio=bad)
    assert session.scalar(select(func.count()).select_from(Book)) == 1


def test_typed_isbn_stored_as_isbn13(session):
    book = books.create_book(session, library=library(session), title="Số đỏ", isbn_print="0-306-40615-2",
                             isbn_audio="978-604-1-23456-7")
    assert (book.isbn_print, book.isbn_audio) == ("9780306406157", "9786041234567")


def test_bad_isbn_stored_earlier_never_reaches_marc(session):
    """16.16: a bad ISBN kept from before validation is left out of 020, 776 and Dublin Core."""
    book = full_book(session, library(session))
    session.execute(text("UPDATE books SET isbn_audio = '9786049876543', isbn_print = '12345' WHERE id = :i"),
                    {"i": book.id})
    session.expire(book)
    rec = marc.build_record(book, "https://thuvien.example.vn")
    assert rec.get_fields("020") == [] and rec.get_fields("776") == []
    from catalog import dublincore
    assert not any("isbn" in v for vs in dublincore.terms(book).values() for v in vs)


def test_librarian_form_refuses_bad_isbn(app):
    """16.16: the librarian form shows a Vietnamese message for a bad ISBN and keeps the record."""
    from catalog.accounts import create_user, get_or_create_library
    sessions = app.extensions["sachnoi"].sessions
    with sessions.begin() as s:
        lib = get_or_create_library(s, "THV", "Thư viện tỉnh")
        create_user(s, "thuthu", "mat-khau-dai-du-12", role="librarian", library=lib)
        book_id = books.create_book(s, library=lib, title="Trương Định", isbn_print="9786041234567").id
    client = app.test_client()
    token = lambda html: re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)  # noqa: E731
    page = client.get("/login").get_data(as_text=True)
    assert client.post("/login", data={"username": "thuthu", "password": "mat-khau-dai-du-12",
                                       "csrf_token": token(page)}).status_code == 302
    form = client.get(f"/librarian/books/{book_id}").get_data(as_text=True)
    fields = {"csrf_token": token(form), "title": "Trương Định (sửa)", "isbn_print": "978-604-1-23456-8",
              "language": "vie", "access_policy": "public"}
    response = client.post(f"/librarian/books/{book_id}", data=fields, follow_redirects=True)
    assert response.status_code == 200
    assert "ISBN không hợp lệ: «978-604-1-23456-8»" in response.get_data(as_text=True)
    with sessions() as s:
        assert (s.get(Book, book_id).title, s.get(Book, book_id).isbn_print) == ("Trương Định", "9786041234567")
    fields.update(isbn_print="978-604-1-23456-7", csrf_token=token(client.get(f"/librarian/books/{book_id}")
                                                                    .get_data(as_text=True)))
    client.post(f"/librarian/books/{book_id}", data=fields)
    with sessions() as s:
        assert (s.get(Book, book_id).title, s.get(Book, book_id).isbn_print) == ("Trương Định (sửa)",
                                                                                 "9786041234567")


def _print_record(isbn_a: str, title: str) -> Record:
    """A print record the way a library system writes one (pymarc)."""
    rec = Record(force_utf8=True, leader="00000nam a2200000 a 4500")
    rec.add_field(Field(tag="001", data=f"KOHA-{title[:3]}"))
    rec.add_field(Field("020", Indicators(" ", " "), [Subfield("a", isbn_a)]))
    rec.add_field(Field("245", Indicators("0", "0"), [Subfield("a", title + " /")]))
    return rec


def test_import_links_isbn_typed_any_way(sqlite_url, tmp_path, monkeypatch):
    """17.7: a print record's ISBN meets the audiobook's whatever the hyphens or ISBN-10/13 form:
    one record written by pymarc as MARCXML (digits only, as Koha hands it out), one written by pymarc
    as ISO 2709 and converted to MARCXML by yaz-marcdump (ISBN-10 with hyphens and a qualifier)."""
    engine = make_engine(sqlite_url)
    with make_sessionmaker(engine)() as s:
        lib = library(s)
        typed = books.create_book(s, library=lib, title="Đất rừng phương Nam (sách nói)",
                                  isbn_print="978-604-1-23456-7")
        legacy = books.create_book(s, library=lib, title="Số đỏ (sách nói)")
        s.flush()
        # stored as typed before ISBNs were normalised: hyphenated ISBN-13
        s.execute(text("UPDATE books SET isbn_print = '978-0-306-40615-7' WHERE id = :i"), {"i": legacy.id})
        ids = (typed.id, legacy.id)
        s.commit()
    first = tmp_path / "koha.xml"
    first.write_bytes(pymarc.record_to_xml(_print_record("9786041234567", "Đất rừng phương Nam"), namespace=True))
    iso = tmp_path / "libol.mrc"
    iso.write_bytes(_print_record("0-306-40615-2 (bìa mềm)", "Số đỏ").as_marc())
    second = tmp_path / "libol.xml"
    converted = subprocess.run(["yaz-marcdump", "-i", "marc", "-o", "marcxml", "-t", "utf-8", str(iso)],
                               capture_output=True, timeout=60, check=True)
    second.write_bytes(converted.stdout)
    from web.cli import main
    monkeypatch.setenv("SACHNOI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SACHNOI_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("SACHNOI_DEFAULT_LIBRARY", "THV")
    for source in (first, second):
        result = CliRunner().invoke(main, ["import", "marc", str(source)])
        assert result.exit_code == 0, result.output
        assert "Tạo mới 0, liên kết 1" in result.output
    with make_sessionmaker(engine)() as s:
        assert s.scalar(select(func.count()).select_from(Book)) == 2
        assert all(s.get(Book, i).print_record_marcxml for i in ids)
    engine.dispose()


def test_isbn_message_names_the_real_problem():
    """Outside testing: "abc" and "12345" were told their check digit did not match."""
    from catalog.isbn import ISBNError, normalise
    for short in ("abc", "12345"):
        with pytest.raises(ISBNError) as caught:
            normalise(short)
        assert "kiểm tra" not in str(caught.value) and "10 hoặc 13" in str(caught.value)
    with pytest.raises(ISBNError) as caught:
        normalise("978-0-306-40615-8")  # one digit off
    assert "chữ số kiểm tra" in str(caught.value)
