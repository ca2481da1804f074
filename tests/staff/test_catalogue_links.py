"""Issue 16.17: the catalogue pages link to what librarians hand to other systems — the book's MARC
record, the bulk MARC export, the OAI base URL, OPDS, the podcast feed — each with what it is for."""
from __future__ import annotations

import io

import pymarc
import pytest

pytestmark = [pytest.mark.browser]


def test_librarian_pages_link_marc_oai_opds_podcast_and_they_answer(login, app, published_book):
    staff = login("lib1")
    html = staff.get("/librarian/").get_data(as_text=True)
    for href in ("/librarian/export/catalog-marc?format=mrc", "/librarian/export/catalog-marc?format=xml",
                 "/oai?verb=Identify", "/opendata/catalog.csv"):
        assert f'href="{href}"' in html, href
    for address in ("http://localhost/oai", "http://localhost/opds", "http://localhost/clips/feed.xml"):
        assert f"<code>{address}</code>" in html, address
    assert "Koha" in html and "Thorium" in html and "Apple Podcasts" in html  # what each one is for

    mrc = staff.get("/librarian/export/catalog-marc?format=mrc")
    assert mrc.status_code == 200 and mrc.mimetype == "application/marc"
    (record,) = list(pymarc.MARCReader(io.BytesIO(mrc.data), to_unicode=True, force_utf8=True))
    assert record["245"]["a"].startswith("Truyện Kiều")
    assert any(f.get("u", "").startswith("http://localhost/") for f in record.get_fields("856"))
    xml = staff.get("/librarian/export/catalog-marc?format=xml")
    assert xml.status_code == 200 and b"<record" in xml.data
    assert login("lib2").get("/librarian/export/catalog-marc").data == b""  # another library: none of ours
    assert login("reader1").get("/librarian/export/catalog-marc").status_code == 403

    book = staff.get(f"/librarian/books/{published_book}").get_data(as_text=True)
    assert f'href="/books/{published_book}/marc.mrc"' in book and f'href="/books/{published_book}/marc.xml"' in book
    assert staff.get(f"/books/{published_book}/marc.mrc").status_code == 200


def test_catalogue_page_at_both_widths(browser, live_server, app, published_book, users):
    from test_browser import SHOTS, axe_violations, sign_in
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (360, 1280):
        context, page = sign_in(browser, live_server, "lib1", width)
        assert page.goto(live_server.url + "/librarian/").status == 200
        assert page.get_by_role("link", name="Tải toàn bộ biểu ghi MARC 21 (ISO 2709, .mrc)").is_visible()
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, overflow  # long addresses wrap instead of widening the page
        page.screenshot(path=str(SHOTS / f"librarian-links-{width}.png"), full_page=True)
        assert axe_violations(page, live_server) == []
        context.close()
