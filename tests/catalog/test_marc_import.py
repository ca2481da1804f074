"""MARCXML import of print records: NFC normalisation, linking by ISBN, all-or-nothing on bad input."""
from __future__ import annotations

import unicodedata

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from catalog import books
from catalog.errors import CatalogError, MarcImportError
from catalog.marc_import import import_marcxml, link_print_record, read_records
from catalog.models import Book
from catalog.search import search_books
from helpers import library


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


PRINT_RECORD = nfd("""<?xml version="1.0" encoding="UTF-8"?>
<collection xmlns="http://www.loc.gov/MARC21/slim">
 <record>
  <leader>00000nam a2200000 a 4500</leader>
  <controlfield tag="001">KOHA-1234</controlfield>
  <controlfield tag="008">190312s2019    vm            000 0 vie d</controlfield>
  <datafield tag="020" ind1=" " ind2=" "><subfield code="a">978-604-1-23456-7 (bìa mềm)</subfield></datafield>
  <datafield tag="082" ind1="0" ind2="4"><subfield code="a">895.92234</subfield></datafield>
  <datafield tag="100" ind1="0" ind2=" "><subfield code="a">Đoàn Giỏi,</subfield><subfield code="e">tác giả</subfield></datafield>
  <datafield tag="245" ind1="1" ind2="0"><subfield code="a">Đất rừng phương Nam :</subfield><subfield code="b">tiểu thuyết /</subfield><subfield code="c">Đoàn Giỏi</subfield></datafield>
  <datafield tag="264" ind1=" " ind2="1"><subfield code="a">Hà Nội :</subfield><subfield code="b">Kim Đồng,</subfield><subfield code="c">2019.</subfield></datafield>
  <datafield tag="520" ind1=" " ind2=" "><subfield code="a">Cuộc phiêu lưu của bé An ở miền Tây Nam Bộ.</subfield></datafield>
  <datafield tag="650" ind1=" " ind2="7"><subfield code="a">Văn học thiếu nhi</subfield><subfield code="z">Việt Nam</subfield></datafield>
 </record>
 <record>
  <leader>00000nam a2200000 a 4500</leader>
  <datafield tag="020" ind1=" " ind2=" "><subfield code="a">9786042222228</subfield></datafield>
  <datafield tag="245" ind1="0" ind2="0"><subfield code="a">Số đỏ /</subfield></datafield>
  <datafield tag="100" ind1="0" ind2=" "><subfield code="a">Vũ Trọng Phụng</subfield></datafield>
 </record>
</collection>""")


def test_read_records_normalises_to_nfc():
    records = read_records(PRINT_RECORD)
    assert len(records) == 2
    assert records[0]["245"]["a"] == "Đất rừng phương Nam :"
    assert unicodedata.is_normalized("NFC", records[0]["245"]["a"])


def test_import_creates_drafts_and_links_by_isbn(session):
    lib = library(session)
    existing = books.create_book(session, library=lib, title="Số đỏ (sách nói)", narrators=["Lê Hoà"],
                                 isbn_print="9786042222228")
    result = import_marcxml(session, PRINT_RECORD, library="THV")
    session.commit()
    assert result.linked == [existing.id]
    [new_id] = result.created
    book = session.get(Book, new_id)
    assert book.title == "Đất rừng phương Nam" and book.subtitle == "tiểu thuyết"
    assert unicodedata.is_normalized("NFC", book.title) and book.title_folded == "dat rung phuong nam tieu thuyet"
    assert book.isbn_print == "9786041234567" and book.ddc == "895.92234"
    assert book.publisher == "Kim Đồng" and book.year == 2019 and book.language == "vie"
    assert [c.contributor.name for c in book.credits] == ["Đoàn Giỏi"]
    assert [s.subject.term for s in book.subjects] == ["Văn học thiếu nhi -- Việt Nam"]
    assert book.state == "draft" and "KOHA-1234" in book.print_record_marcxml
    assert unicodedata.is_normalized("NFC", book.print_record_marcxml)
    linked = session.get(Book, existing.id)
    assert linked.title == "Số đỏ (sách nói)"  # the audiobook keeps its own title
    assert [c.contributor.name for c in linked.credits if c.role == "aut"] == ["Vũ Trọng Phụng"]
    assert [b.title for b in search_books(session, "dat rung", include_unpublished=True)] == ["Đất rừng phương Nam"]


def test_link_one_record_to_a_book(session):
    lib = library(session)
    book = books.create_book(session, library=lib, title="Đất rừng phương Nam", summary="Tóm tắt riêng.")
    link_print_record(session, book, read_records(PRINT_RECORD)[0])
    assert book.summary == "Tóm tắt riêng." and book.isbn_print == "9786041234567"
    with pytest.raises(MarcImportError):
        import_marcxml(session, PRINT_RECORD, library="THV", link_to=book.id)  # two records, one book


def test_a_run_of_digits_is_not_a_series_position():
    """Found writing tests/security/test_fuzz_atheris.py: int() of 5000 digits raised ValueError."""
    from catalog.marc_import import print_fields
    series = ('<datafield tag="490" ind1="0" ind2=" "><subfield code="a">Tủ sách vàng</subfield>'
              '<subfield code="v">{}</subfield></datafield>')
    for volume, position in (("tập 12", 12), ("9" * 5000, None), ("1" * 7, None)):
        record = PRINT_RECORD.replace("</record>", series.format(volume) + "</record>", 1)
        fields = print_fields(read_records(record)[0])
        assert fields["series"] == "Tủ sách vàng" and fields.get("series_position") == position


@pytest.mark.parametrize("bad", [b"<collection", b"<html><body/></html>",
                                 b'<collection xmlns="http://www.loc.gov/MARC21/slim"/>',
                                 b'<collection xmlns="http://www.loc.gov/MARC21/slim"><record>'
                                 b'<leader>00000nam a2200000 a 4500</leader></record></collection>'])
def test_bad_input_changes_nothing(session, bad):
    library(session)
    before = session.scalar(select(func.count()).select_from(Book))
    with pytest.raises(CatalogError):
        import_marcxml(session, bad, library="THV")
    assert session.scalar(select(func.count()).select_from(Book)) == before


def test_cli_import_and_export(sqlite_url, tmp_path, monkeypatch):
    from lxml import etree
    from web.cli import main
    from helpers import STANDARDS, xsd
    home = tmp_path / "home"
    monkeypatch.setenv("SACHNOI_HOME", str(home))
    monkeypatch.setenv("SACHNOI_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("SACHNOI_DEFAULT_LIBRARY", "THV")
    monkeypatch.setenv("SACHNOI_PUBLIC_BASE_URL", "https://thuvien.example.vn")
    from catalog.db import make_engine, make_sessionmaker
    engine = make_engine(sqlite_url)
    with make_sessionmaker(engine)() as s:
        library(s)
        s.commit()
    engine.dispose()
    source = tmp_path / "print.xml"
    source.write_text(PRINT_RECORD, encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(main, ["import", "marc", str(source)])
    assert result.exit_code == 0, result.output
    assert "Tạo mới 2" in result.output
    out = tmp_path / "export" / "all.xml"
    result = runner.invoke(main, ["export", "marc", "--all", "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    xsd(f"{STANDARDS}/marc21/MARC21slim.xsd").assertValid(etree.parse(str(out)))
    assert out.read_text(encoding="utf-8").count("<record") == 2
    result = runner.invoke(main, ["export", "marc", "--quiet", "--out", str(tmp_path / "pub.xml")])
    assert result.exit_code == 0 and (tmp_path / "pub.xml").read_text().count("<record") == 0  # drafts only
    bad = tmp_path / "bad.xml"
    bad.write_text("<not-marc/>")
    result = runner.invoke(main, ["import", "marc", str(bad)])
    assert result.exit_code != 0 and "MARCXML" in result.output
