"""Who may download a title's talking books (EPUB 3, DAISY 2.02), and how OPDS and MARC list them.

Marrakesh titles: verified print-disabled readers, the owning library's staff, and staff of other
libraries (authorised entities, in the browser or with an app credential); other readers get a
403 page that says who may; apps without credentials get the OPDS 401 challenge.
"""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from lxml import etree

from catalog import talking_books
from catalog.models import Book, Rendition
from reader_helpers import login

EPUB_BYTES = b"PK\x03\x04epub-bytes" + b"\x00" * 64
DAISY_BYTES = b"PK\x03\x04daisy-bytes" + b"\x00" * 64
STANDARDS = next((p for p in (Path(__file__).resolve().parents[3] / "shared" / "standards",
                              Path("/work/shared/standards")) if p.is_dir()), Path("/work/shared/standards"))


@pytest.fixture
def titles(app, make_book):
    """{"marrakesh": id, "public": id}: both with both talking books written (full text)."""
    services = app.extensions["sachnoi"]
    ids = {"marrakesh": make_book(policy="print-disabled", title="Sách Marrakesh"),
           "public": make_book(title="Sách công cộng")}
    with services.sessions.begin() as s:
        for book_id in ids.values():
            book = s.get(Book, book_id)
            for kind, data in ((talking_books.EPUB3, EPUB_BYTES), (talking_books.DAISY202, DAISY_BYTES)):
                key = talking_books.key(book.uuid, kind)
                services.store.write_bytes(key, data)
                s.add(Rendition(book_id=book_id, kind=kind.kind, name=talking_books.FULL_TEXT, key=key,
                                codec="zip", size_bytes=len(data)))
    return ids


def _get(client, book_id: int, kind: str = "epub3", **kw):
    return client.get(f"/books/{book_id}/talking-book/{kind}", headers={"Accept": "text/html"}, **kw)


@pytest.mark.parametrize("who, allowed", [("khiemthi", True), ("thuthu", True), ("thuthu2", True),
                                          ("bandoc", False), (None, False)])
def test_who_may_download_a_marrakesh_titles_talking_books(app, client, people, titles, who, allowed):
    if who:
        login(client, who)
    for kind, data in (("epub3", EPUB_BYTES), ("daisy202", DAISY_BYTES)):
        response = _get(client, titles["marrakesh"], kind)
        if allowed:
            assert response.status_code == 200 and response.data == data
            assert response.mimetype == talking_books.KINDS[kind].media_type
            assert "attachment" in response.headers["Content-Disposition"]
        else:
            assert response.status_code == 403
            page = response.get_data(as_text=True)
            assert "khuyết tật đọc chữ in" in page and "Marrakesh" in page
            assert data not in response.data


def test_other_titles_are_for_their_own_staff_only(app, client, people, titles):
    login(client, "khiemthi")
    assert _get(client, titles["public"]).status_code == 403
    assert "không có bản EPUB 3" in _get(client, titles["public"]).get_data(as_text=True)
    client.post("/logout")
    other = app.test_client()
    login(other, "thuthu2")
    assert _get(other, titles["public"]).status_code == 403
    own = app.test_client()
    login(own, "thuthu")
    assert _get(own, titles["public"]).data == EPUB_BYTES


def test_apps_authenticate_and_unknown_things_are_404(app, client, people, titles):
    url = f"/books/{titles['marrakesh']}/talking-book/daisy202"
    anonymous_app = client.get(url, headers={"Accept": "application/json"})
    assert anonymous_app.status_code == 401
    basic = base64.b64encode(b"thuthu2:mat-khau-thuthu2").decode()
    assert client.get(url, headers={"Authorization": f"Basic {basic}"}).data == DAISY_BYTES
    assert client.get(f"/books/{titles['marrakesh']}/talking-book/pdf").status_code == 404
    assert client.get("/books/999999/talking-book/epub3", headers={"Authorization": f"Basic {basic}"}).status_code == 404


def test_a_title_whose_talking_book_was_not_written_answers_404_to_those_allowed(app, client, people, make_book):
    book_id = make_book(policy="print-disabled", title="Chưa có bản DAISY")
    login(client, "khiemthi")
    assert _get(client, book_id).status_code == 404


def _opds_validator():
    from jsonschema import Draft7Validator
    from referencing import Registry, Resource
    resources = []
    for folder in ("opds2", "readium-webpub"):
        for path in Path(STANDARDS, folder).rglob("*.json"):
            contents = json.loads(re.sub(r"\(\?<([A-Za-z_]\w*)>", r"(?P<\1>", path.read_text()))
            resources.append((contents["$id"], Resource.from_contents(contents)))
    registry = Registry().with_resources(resources)
    return Draft7Validator(registry.contents("https://drafts.opds.io/schema/publication.schema.json"),
                           registry=registry)


def test_opds_lists_them_as_borrow_links_only_for_titles_that_offer_them(client, titles):
    pub = client.get(f"/opds/books/{titles['marrakesh']}").get_json()
    assert not list(_opds_validator().iter_errors(pub))
    links = {link["type"]: link for link in pub["links"]}
    for kind in talking_books.KINDS.values():
        link = links[kind.media_type]
        assert link["href"].endswith(f"/books/{titles['marrakesh']}/talking-book/{kind.kind}")
        assert link["rel"] == "http://opds-spec.org/acquisition/borrow"
        assert link["properties"]["authenticate"]["href"].endswith("/opds/authentication")
    public = client.get(f"/opds/books/{titles['public']}").get_json()
    assert not any("talking-book" in link["href"] for link in public["links"])


def test_marc_lists_them_with_341_532_and_856(client, titles):
    m = "{http://www.loc.gov/MARC21/slim}"
    record = etree.fromstring(client.get(f"/books/{titles['marrakesh']}/marc.xml").data)

    def fields(tag):
        return [{sf.get("code") + str(i): sf.text for i, sf in enumerate(f.findall(f"{m}subfield"))}
                for f in record.iter(f"{m}datafield") if f.get("tag") == tag]
    links = [f for f in fields("856") if any("talking-book" in (v or "") for v in f.values())]
    assert len(links) == 2
    assert {tuple(v for k, v in f.items() if k.startswith("3")) for f in links} == \
        {(k.label,) for k in talking_books.KINDS.values()}
    access = fields("341")
    assert len(access) == 1 and "synchronizedAudioText" in access[0].values() and "sapdv" in access[0].values()
    assert len(fields("532")) == 2
    public = etree.fromstring(client.get(f"/books/{titles['public']}/marc.xml").data)
    assert not [f for f in public.iter(f"{m}datafield") if f.get("tag") in ("341", "532")]


PERL_LINT = r"""
use strict; use warnings;
use MARC::File::USMARC; use MARC::Lint;
my $file = MARC::File::USMARC->in($ARGV[0]) or die "cannot open";
my $lint = MARC::Lint->new;
while (my $rec = $file->next()) {
  print "DECODE: $_\n" for $rec->warnings();
  $lint->check_record($rec);
  print "LINT: $_\n" for $lint->warnings;
}
"""


def test_marc_lint_has_nothing_to_say_about_the_new_fields(client, titles, tmp_path):
    import shutil
    import subprocess
    if shutil.which("perl") is None or subprocess.run(["perl", "-MMARC::Lint", "-e", "1"]).returncode != 0:
        pytest.skip("MARC::Lint (Debian libmarc-lint-perl) is not installed")
    path = tmp_path / "r.mrc"
    path.write_bytes(client.get(f"/books/{titles['marrakesh']}/marc.mrc").data)
    out = subprocess.run(["perl", "-e", PERL_LINT, str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert [line for line in out.stdout.splitlines() if line.startswith(("DECODE", "LINT"))] == []


def test_the_book_page_offers_them_to_those_who_may_take_them(app, people, titles):
    pages = {}
    for who in ("khiemthi", "thuthu2", "bandoc"):
        client = app.test_client()
        login(client, who)
        pages[who] = client.get(f"/books/{titles['marrakesh']}").get_data(as_text=True)
    for who in ("khiemthi", "thuthu2"):
        assert f'href="/books/{titles["marrakesh"]}/talking-book/epub3"' in pages[who]
        assert f'href="/books/{titles["marrakesh"]}/talking-book/daisy202"' in pages[who]
    assert "talking-book" not in pages["bandoc"]
