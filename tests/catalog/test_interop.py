"""The interop blueprint over HTTP: JSON search, OPDS 2.0 (JSON Schema), MARCXML, Dublin Core,
OAI-PMH (XSD, every verb and error, a full Sickle harvest over several pages) and open data."""
from __future__ import annotations

import csv
import io
import json
import re
import shutil
import uuid
from pathlib import Path

import pytest
from lxml import etree

from catalog import books
from helpers import STANDARDS, full_book, library, xsd

OAI = "{http://www.openarchives.org/OAI/2.0/}"
HERE = Path(__file__).parent


def _make_app(sqlite_template, folder, **overrides):
    from web.app import create_app
    db = folder / "web.db"
    shutil.copy(sqlite_template, db)
    settings = {"HOME": str(folder / "instance"), "DATABASE_URL": f"sqlite:///{db}",
                "SECRET_KEY": "test-" + uuid.uuid4().hex, "TESTING": True, "OAI_PAGE_SIZE": 4,
                "OPDS_PAGE_SIZE": 3, "OAI_REPOSITORY_ID": "thuvien.example.vn",
                "OAI_ADMIN_EMAIL": "sachnoi@thuvien.example.vn"}
    settings.update(overrides)
    return create_app({k: v for k, v in settings.items() if v is not None})


@pytest.fixture
def web(sqlite_template, tmp_path):
    """(app, session): the real app on a fresh migrated database, and a session to seed it."""
    app = _make_app(sqlite_template, tmp_path)
    session = app.extensions["sachnoi"].sessions()
    yield app, session
    session.close()
    app.extensions["sachnoi"].engine.dispose()


@pytest.fixture(scope="module")
def seeded(sqlite_template, tmp_path_factory):
    """(app, made): one seeded app shared by the tests that only read."""
    app = _make_app(sqlite_template, tmp_path_factory.mktemp("seeded"))
    session = app.extensions["sachnoi"].sessions()
    made = seed(session)
    session.close()
    yield app, made
    app.extensions["sachnoi"].engine.dispose()


def seed(session):
    province = library(session, code="THV", name="Thư viện tỉnh Thái Bình")
    district = library(session, code="QP", name="Thư viện huyện Quỳnh Phụ", kind="district")
    district.parent_id = province.id
    made = {"public": full_book(session, province, title="Trương Định"),
            "members": full_book(session, province, title="Hoà bình", access_policy="members"),
            "pd": full_book(session, district, title="Đất rừng phương Nam", access_policy="print-disabled"),
            "draft": full_book(session, province, title="Số đỏ bản nháp", publish=False)}
    for i in range(6):
        made[f"extra{i}"] = full_book(session, district if i % 2 else province, title=f"Truyện ngắn {i}")
    made["withdrawn"] = full_book(session, province, title="Sách bị rút")
    books.withdraw(session, made["withdrawn"])
    made["deleted"] = full_book(session, province, title="Sách bị xoá")
    books.delete_book(session, made["deleted"])
    session.commit()
    return made


# -- JSON search --------------------------------------------------------------------------------------

def test_api_books(seeded):
    app, made = seeded
    data = app.test_client().get("/api/books?q=truong dinh").get_json()
    # the title first; the other books name Trương Định in their summary, searched since issue 16.5
    assert data["items"][0]["title"] == "Trương Định"
    assert "Trương Định" not in [item["title"] for item in data["items"][1:]]
    item = data["items"][0]
    assert item["id"] == made["public"].id and item["access_policy"] == "public"
    assert item["duration"] == pytest.approx(11525.4)
    assert {"name": "Lê Thị Hoà", "role": "nrt"} in item["contributors"]
    assert app.test_client().get("/api/books?q=so do").get_json()["items"] == []
    assert app.test_client().get("/api/books?limit=x").status_code == 400


# -- OPDS 2.0 ---------------------------------------------------------------------------------------------

def _opds_validator(schema_name: str):
    from jsonschema import Draft7Validator
    from referencing import Registry, Resource
    resources = []
    for folder in ("opds2", "readium-webpub"):
        for path in Path(STANDARDS, folder).rglob("*.json"):
            text = re.sub(r"\(\?<([A-Za-z_]\w*)>", r"(?P<\1>", path.read_text())
            contents = json.loads(text)
            resources.append((contents["$id"], Resource.from_contents(contents)))
    registry = Registry().with_resources(resources)
    schema = registry.contents(f"https://drafts.opds.io/schema/{schema_name}")
    return Draft7Validator(schema, registry=registry)


def _assert_valid(validator, doc):
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def test_opds_feeds_validate(seeded):
    app, made = seeded
    client = app.test_client()
    feed = _opds_validator("feed.schema.json")
    pub = _opds_validator("publication.schema.json")
    auth = _opds_validator("authentication.schema.json")
    root = client.get("/opds/")
    assert root.content_type.startswith("application/opds+json")
    _assert_valid(feed, root.get_json())
    assert any(link.get("templated") and link["rel"] == "search" for link in root.get_json()["links"])
    # paging: 9 visible books, 3 per page
    seen = []
    url = "/opds/new"
    while url:
        page = client.get(url).get_json()
        _assert_valid(feed, page)
        seen += [p["metadata"]["title"] for p in page["publications"]]
        nxt = [link["href"] for link in page["links"] if link["rel"] == "next"]
        url = nxt[0].replace("http://localhost", "") if nxt else None
    assert len(seen) == 9 and len(set(seen)) == 9
    assert "Số đỏ bản nháp" not in seen and "Sách bị rút" not in seen and "Sách bị xoá" not in seen
    subjects = client.get("/opds/subjects").get_json()
    _assert_valid(feed, subjects)
    first_subject = subjects["navigation"][0]["href"].replace("http://localhost", "")
    _assert_valid(feed, client.get(first_subject).get_json())
    found = client.get("/opds/search?query=dat rung").get_json()
    _assert_valid(feed, found)
    assert [p["metadata"]["title"] for p in found["publications"]] == ["Đất rừng phương Nam"]
    _assert_valid(auth, client.get("/opds/authentication").get_json())

    public = client.get(f"/opds/books/{made['public'].id}").get_json()
    _assert_valid(pub, public)
    rels = {link["rel"]: link for link in public["links"]}
    assert rels["http://opds-spec.org/acquisition/open-access"]["href"].endswith(
        f"/books/{made['public'].id}/manifest.json")
    assert rels["http://opds-spec.org/acquisition/open-access"]["type"] == "application/audiobook+json"
    for key in ("members", "pd"):
        restricted = client.get(f"/opds/books/{made[key].id}").get_json()
        _assert_valid(pub, restricted)
        links = {link["rel"]: link for link in restricted["links"]}
        assert "http://opds-spec.org/acquisition/open-access" not in links
        assert links["http://opds-spec.org/acquisition/borrow"]["properties"]["authenticate"]["href"].endswith(
            "/opds/authentication")
    assert client.get(f"/opds/books/{made['draft'].id}").status_code == 404
    cover = client.get(f"/opds/covers/{made['public'].id}.png")
    assert cover.status_code == 200 and cover.data[:8] == b"\x89PNG\r\n\x1a\n"


# -- MARC and Dublin Core over HTTP -------------------------------------------------------------------------

def test_marc_and_dc_views(seeded):
    app, made = seeded
    client = app.test_client()
    response = client.get(f"/books/{made['pd'].id}/marc.xml")
    assert response.status_code == 200
    xsd(f"{STANDARDS}/marc21/MARC21slim.xsd").assertValid(etree.fromstring(response.data))
    assert b'tag="506"' in response.data
    for key in ("draft", "deleted", "withdrawn"):
        assert client.get(f"/books/{made[key].id}/marc.xml").status_code == 404
        assert client.get(f"/books/{made[key].id}/dc.xml").status_code == 404
    dc = etree.fromstring(client.get(f"/books/{made['public'].id}/dc.xml").data)
    _dc_schema().assertValid(dc)
    titles = dc.findall("{http://purl.org/dc/elements/1.1/}title")
    assert titles[0].text == "Trương Định : Tiểu thuyết lịch sử"


def test_marc_iso2709_download(seeded, tmp_path):
    """17.6: ISO 2709 (`.mrc`) beside MARCXML on the web, read by pymarc and yaz-marcdump."""
    import subprocess
    import pymarc
    app, made = seeded
    client = app.test_client()
    response = client.get(f"/books/{made['public'].id}/marc.mrc")
    assert response.status_code == 200 and response.mimetype == "application/marc"
    assert "attachment" in response.headers["Content-Disposition"]
    [rec] = list(pymarc.MARCReader(io.BytesIO(response.data), to_unicode=True, force_utf8=True))
    assert rec is not None and rec["245"]["a"].startswith("Trương Định")
    path = tmp_path / "one.mrc"
    path.write_bytes(response.data)
    dump = subprocess.run(["yaz-marcdump", str(path)], capture_output=True, text=True, timeout=30)
    assert dump.returncode == 0 and not dump.stderr and "Trương Định" in dump.stdout
    assert client.get(f"/books/{made['draft'].id}/marc.mrc").status_code == 404


# -- OAI-PMH --------------------------------------------------------------------------------------------------

def _dc_schema():
    return xsd(str(HERE / "schemas" / "oai_dc.xsd"))


@pytest.fixture(scope="module")
def oai_schema(tmp_path_factory):
    text = (HERE / "schemas" / "oai_bundle.xsd").read_text()
    text = (text.replace("OAI_PMH_XSD", f"{STANDARDS}/oai-pmh/OAI-PMH.xsd")
            .replace("MARC_XSD", f"{STANDARDS}/marc21/MARC21slim.xsd")
            .replace("OAI_DC_XSD", str(HERE / "schemas" / "oai_dc.xsd")))
    path = tmp_path_factory.mktemp("xsd") / "bundle.xsd"
    path.write_text(text)
    return xsd(str(path))


def _oai(client, oai_schema, method="get", **args):
    response = getattr(client, method)("/oai", query_string=args) if method == "get" else client.post("/oai", data=args)
    assert response.status_code == 200
    doc = etree.fromstring(response.data)
    oai_schema.assertValid(doc)
    return doc


def _error(doc):
    err = doc.find(f"{OAI}error")
    return err.get("code") if err is not None else None


def test_oai_verbs_validate(seeded, oai_schema):
    app, made = seeded
    client = app.test_client()
    ident = f"oai:thuvien.example.vn:{made['public'].id}"
    doc = _oai(client, oai_schema, verb="Identify")
    assert doc.findtext(f"{OAI}Identify/{OAI}deletedRecord") == "persistent"
    assert doc.findtext(f"{OAI}Identify/{OAI}granularity") == "YYYY-MM-DDThh:mm:ssZ"
    formats = _oai(client, oai_schema, verb="ListMetadataFormats")
    assert {e.text for e in formats.iter(f"{OAI}metadataPrefix")} == {"oai_dc", "marcxml"}
    _oai(client, oai_schema, verb="ListMetadataFormats", identifier=ident)
    sets = _oai(client, oai_schema, verb="ListSets")
    assert {e.text for e in sets.iter(f"{OAI}setSpec")} >= {"library:THV", "library:THV:QP", "access:public",
                                                           "access:print-disabled"}
    for prefix in ("oai_dc", "marcxml"):
        rec = _oai(client, oai_schema, verb="GetRecord", identifier=ident, metadataPrefix=prefix)
        assert rec.find(f".//{OAI}metadata") is not None
    gone = _oai(client, oai_schema, verb="GetRecord", identifier=f"oai:thuvien.example.vn:{made['deleted'].id}",
                metadataPrefix="oai_dc")
    assert gone.find(f".//{OAI}header").get("status") == "deleted"
    assert gone.find(f".//{OAI}metadata") is None
    withdrawn = _oai(client, oai_schema, "post", verb="GetRecord",
                     identifier=f"oai:thuvien.example.vn:{made['withdrawn'].id}", metadataPrefix="marcxml")
    assert withdrawn.find(f".//{OAI}header").get("status") == "deleted"
    # sets: the district's books, under the province hierarchy too
    district = _oai(client, oai_schema, verb="ListIdentifiers", metadataPrefix="oai_dc", set="library:THV:QP")
    district_ids = [e.text for e in district.iter(f"{OAI}identifier")]
    assert f"oai:thuvien.example.vn:{made['pd'].id}" in district_ids and ident not in district_ids
    pd = _oai(client, oai_schema, verb="ListIdentifiers", metadataPrefix="marcxml", set="access:print-disabled")
    assert [e.text for e in pd.iter(f"{OAI}identifier")] == [f"oai:thuvien.example.vn:{made['pd'].id}"]


@pytest.mark.parametrize("args,code", [
    ({}, "badVerb"),
    ({"verb": "Dance"}, "badVerb"),
    ({"verb": "ListRecords"}, "badArgument"),
    ({"verb": "Identify", "extra": "1"}, "badArgument"),
    ({"verb": "GetRecord", "identifier": "oai:thuvien.example.vn:1"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2020-13-45"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2020-01-01", "until": "2021-01-01T00:00:00Z"},
     "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2021-01-02", "until": "2021-01-01"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "resumptionToken": "x"}, "badArgument"),
    ({"verb": "ListRecords", "resumptionToken": "not-a-token"}, "badResumptionToken"),
    ({"verb": "ListSets", "resumptionToken": "anything"}, "badResumptionToken"),
    ({"verb": "ListRecords", "metadataPrefix": "mods"}, "cannotDisseminateFormat"),
    ({"verb": "GetRecord", "identifier": "oai:thuvien.example.vn:PUBLIC", "metadataPrefix": "mods"},
     "cannotDisseminateFormat"),
    ({"verb": "GetRecord", "identifier": "oai:elsewhere:1", "metadataPrefix": "oai_dc"}, "idDoesNotExist"),
    ({"verb": "GetRecord", "identifier": "oai:thuvien.example.vn:DRAFT", "metadataPrefix": "oai_dc"},
     "idDoesNotExist"),
    ({"verb": "ListMetadataFormats", "identifier": "oai:thuvien.example.vn:999999"}, "idDoesNotExist"),
    ({"verb": "ListMetadataFormats", "identifier": "oai:thuvien.example.vn:DELETED"}, "noMetadataFormats"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2999-01-01"}, "noRecordsMatch"),
    ({"verb": "ListIdentifiers", "metadataPrefix": "oai_dc", "set": "library:NOWHERE"}, "noRecordsMatch"),
])
def test_oai_errors(seeded, oai_schema, args, code):
    app, made = seeded
    args = {k: v.replace("PUBLIC", str(made["public"].id)).replace("DRAFT", str(made["draft"].id))
            .replace("DELETED", str(made["deleted"].id)) for k, v in args.items()}
    doc = _oai(app.test_client(), oai_schema, **args)
    assert _error(doc) == code
    request_el = doc.find(f"{OAI}request")
    if code in ("badVerb", "badArgument"):
        assert not request_el.attrib


def test_oai_repeated_argument_and_no_sets(web, oai_schema):
    app, session = web
    client = app.test_client()
    doc = etree.fromstring(client.get("/oai?verb=Identify&verb=Identify").data)
    oai_schema.assertValid(doc)
    assert _error(doc) == "badVerb"
    doc = etree.fromstring(client.get("/oai?verb=ListRecords&metadataPrefix=oai_dc&metadataPrefix=marcxml").data)
    assert _error(doc) == "badArgument"
    assert _error(_oai(client, oai_schema, verb="ListSets")) == "noSetHierarchy"  # no libraries yet
    assert _error(_oai(client, oai_schema, verb="ListRecords", metadataPrefix="oai_dc")) == "noRecordsMatch"


def test_oai_paging_tokens(seeded, oai_schema):
    app, made = seeded
    client = app.test_client()
    doc = _oai(client, oai_schema, verb="ListIdentifiers", metadataPrefix="oai_dc")
    headers, cursors, first_token = [], [], ""
    while True:
        headers += [h.findtext(f"{OAI}identifier") for h in doc.iter(f"{OAI}header")]
        token = doc.find(f".//{OAI}resumptionToken")
        assert token.get("completeListSize") == "11"  # 9 live + withdrawn + deleted; never the draft
        cursors.append(int(token.get("cursor")))
        if not token.text:
            break
        first_token = first_token or token.text
        doc = _oai(client, oai_schema, verb="ListIdentifiers", resumptionToken=token.text)
    assert cursors == [0, 4, 8]
    assert len(headers) == 11 and len(set(headers)) == 11
    # a tampered or expired token is refused
    tampered = first_token[:-1] + ("0" if first_token[-1] != "0" else "1")
    assert _error(_oai(client, oai_schema, verb="ListIdentifiers", resumptionToken=tampered)) == "badResumptionToken"
    app.config["OAI_TOKEN_TTL_S"] = 0
    import time
    time.sleep(1.1)
    assert _error(_oai(client, oai_schema, verb="ListIdentifiers", resumptionToken=first_token)) == "badResumptionToken"
    # a token of another verb is not accepted either
    app.config["OAI_TOKEN_TTL_S"] = 3600
    assert _error(_oai(client, oai_schema, verb="ListRecords", resumptionToken=first_token)) == "badResumptionToken"


def test_oai_from_until(web, oai_schema):
    import datetime as dt
    app, session = web
    made = seed(session)
    old = made["extra0"]
    old.updated_at = dt.datetime(2020, 5, 17, 8, 30, 0)
    # what else its record shows (library, series, renditions) last changed before it, too
    for row in [old.library, old.series, *old.renditions]:
        setattr(row, "created_at" if hasattr(row, "sha256") else "updated_at", dt.datetime(2020, 5, 17, 8, 0, 0))
    session.commit()
    client = app.test_client()
    ids = lambda doc: [e.text for e in doc.iter(f"{OAI}identifier")]  # noqa: E731
    only = _oai(client, oai_schema, verb="ListIdentifiers", metadataPrefix="oai_dc", until="2020-05-17T08:30:00Z")
    assert ids(only) == [f"oai:thuvien.example.vn:{old.id}"]
    assert ids(_oai(client, oai_schema, verb="ListIdentifiers", metadataPrefix="oai_dc", until="2020-05-17")) == ids(only)
    assert _error(_oai(client, oai_schema, verb="ListIdentifiers", metadataPrefix="oai_dc",
                       until="2020-05-17T08:29:59Z")) == "noRecordsMatch"
    later = _oai(client, oai_schema, verb="ListIdentifiers", metadataPrefix="oai_dc", **{"from": "2020-05-18"})
    assert f"oai:thuvien.example.vn:{old.id}" not in ids(later) and ids(later)


def test_sickle_harvests_everything(seeded, start_server):
    from sickle import Sickle
    app, made = seeded
    server = start_server(app)
    harvester = Sickle(f"{server.url}/oai", max_retries=1, timeout=10)
    records = list(harvester.ListRecords(metadataPrefix="oai_dc", ignore_deleted=False))
    assert len(records) == 11
    deleted = {r.header.identifier for r in records if r.header.deleted}
    assert deleted == {f"oai:thuvien.example.vn:{made[k].id}" for k in ("withdrawn", "deleted")}
    titles = {r.metadata["title"][0] for r in records if not r.header.deleted}
    assert "Trương Định : Tiểu thuyết lịch sử" in titles and len(titles) == 9
    marc_records = list(harvester.ListRecords(metadataPrefix="marcxml", set="library:THV:QP"))
    assert len(marc_records) == len([b for b in made.values()
                                     if b.library.code == "QP" and b.deleted_at is None and b.state == "published"])
    identify = harvester.Identify()
    assert identify.repositoryName and identify.protocolVersion == "2.0"


# -- open data ------------------------------------------------------------------------------------------------

def test_opendata_public_titles_only(seeded):
    app, made = seeded
    client = app.test_client()
    lines = client.get("/opendata/catalog.jsonl").get_data(as_text=True).splitlines()
    rows = [json.loads(line) for line in lines]
    titles = {r["dcterms:title"][0] for r in rows}
    assert "Trương Định : Tiểu thuyết lịch sử" in titles
    assert len(rows) == 7  # public + six extras; not members, print-disabled, draft, withdrawn, deleted
    assert rows[0]["dcterms:language"] == ["vie"] and rows[0]["dcterms:extent"] == ["PT3H12M5S"]
    raw = client.get("/opendata/catalog.csv").get_data(as_text=True)
    assert raw.startswith("\ufeff")
    table = list(csv.DictReader(io.StringIO(raw.lstrip("\ufeff"))))
    assert len(table) == 7
    assert {r["dcterms:title"] for r in table} == titles
    assert "Nguyễn Văn Khánh" in table[0]["dcterms:creator"]
    assert made["members"].title not in raw


def test_oai_incremental_harvest_sees_going_live_going_dark_and_renames(web, start_server):
    """17.4: a harvester asking `from=` its last responseDate sees a scheduled publication once its time
    comes, a withdrawal, and the records of a renamed library (old code: the scheduled book kept the
    time it was scheduled, the rename moved nothing, so both were never harvested)."""
    import datetime as dt
    import time
    from sickle import Sickle
    from catalog.models import utcnow
    app, session = web
    made = seed(session)
    scheduled = full_book(session, made["public"].library, title="Hẹn giờ", publish=False)
    books.publish(session, scheduled, at=utcnow() + dt.timedelta(seconds=3))
    session.commit()
    time.sleep(1.1)  # datestamps are to the second: `from=` includes the second the list was made in
    harvester = Sickle(f"{start_server(app).url}/oai", max_retries=1, timeout=10)
    first = harvester.ListIdentifiers(metadataPrefix="oai_dc", ignore_deleted=False)
    seen = {h.identifier for h in first}
    response_date = first.oai_response.xml.findtext(f".//{OAI}responseDate")
    ident = lambda book: f"oai:thuvien.example.vn:{book.id}"  # noqa: E731
    assert ident(scheduled) not in seen and ident(made["public"]) in seen
    while utcnow() <= scheduled.publish_at + dt.timedelta(seconds=1):  # OAI's clock ticks in whole seconds
        time.sleep(0.1)
    made["pd"].library.name = "Thư viện huyện Quỳnh Phụ (tên mới)"
    books.withdraw(session, made["public"])
    session.commit()
    again = {h.identifier: h for h in harvester.ListIdentifiers(metadataPrefix="oai_dc", ignore_deleted=False,
                                                                 **{"from": response_date})}
    district = {ident(b) for b in made.values() if b.library.code == "QP"}
    assert set(again) == {ident(scheduled), ident(made["public"])} | district
    assert again[ident(made["public"])].deleted and not again[ident(scheduled)].deleted
    # the record's own change stamp (MARC 005) says the same as its header
    record = harvester.GetRecord(identifier=ident(scheduled), metadataPrefix="marcxml")
    f005 = record.xml.find(".//{http://www.loc.gov/MARC21/slim}controlfield[@tag='005']").text
    assert record.header.datestamp == dt.datetime.strptime(f005[:14], "%Y%m%d%H%M%S").strftime("%Y-%m-%dT%H:%M:%SZ")
    assert record.header.datestamp >= response_date


def test_oai_identifiers_do_not_follow_the_host_name(sqlite_template, tmp_path, oai_schema):
    """17.5: identifiers came from the Host a harvester used (`oai:127.0.0.1:1` unknown via `localhost`);
    the repository id is a setting, by default the PUBLIC_BASE_URL host."""
    from catalog import oai
    app = _make_app(sqlite_template, tmp_path, OAI_REPOSITORY_ID=None,
                    PUBLIC_BASE_URL="https://sachnoi.thuvien-thaibinh.vn")
    session = app.extensions["sachnoi"].sessions()
    made = seed(session)
    session.close()
    ids = {}
    for host in ("http://localhost", "http://127.0.0.1:8000", "http://thuvien.local"):
        client = app.test_client()
        doc = etree.fromstring(client.get("/oai?verb=ListIdentifiers&metadataPrefix=oai_dc", base_url=host).data)
        ids[host] = [e.text for e in doc.iter(f"{OAI}identifier")]
    assert len({tuple(v) for v in ids.values()}) == 1
    assert all(i.startswith("oai:sachnoi.thuvien-thaibinh.vn:") for i in ids["http://localhost"])
    record = _oai(app.test_client(), oai_schema, verb="GetRecord", metadataPrefix="oai_dc",
                  identifier=f"oai:sachnoi.thuvien-thaibinh.vn:{made['public'].id}")
    assert _error(record) is None
    assert oai.repository_identifier("thuvien-tb.vn", "https://x.example") == "thuvien-tb.vn"
    assert oai.repository_identifier(None, "") == "localhost"
    app.extensions["sachnoi"].engine.dispose()


def test_oai_compresses_what_it_advertises(seeded, start_server):
    """17.10: Identify advertised gzip but responses were never compressed."""
    import gzip
    import requests
    app, made = seeded
    url = f"{start_server(app).url}/oai"
    identify = etree.fromstring(requests.get(url, params={"verb": "Identify"}, timeout=10).content)
    assert identify.findtext(f".//{OAI}compression") == "gzip"
    raw = requests.get(url, params={"verb": "ListRecords", "metadataPrefix": "marcxml"},
                       headers={"Accept-Encoding": "gzip"}, timeout=10, stream=True)
    assert raw.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in raw.headers["Vary"]
    body = gzip.decompress(raw.raw.read(decode_content=False))
    assert etree.fromstring(body).find(f".//{OAI}record") is not None
    plain = requests.get(url, params={"verb": "Identify"}, headers={"Accept-Encoding": "identity"}, timeout=10)
    assert "Content-Encoding" not in plain.headers and plain.content.startswith(b"<?xml")


# -- podcast RSS -----------------------------------------------------------------------------------------------

def test_podcast_feed_read_by_feedparser_and_podcastparser(sqlite_template, tmp_path):
    """17.9 and 17.10: what Apple Podcasts and Spotify need, read back by feedparser and podcastparser:
    owner e-mail (PODCAST_EMAIL), <copyright>, episodeType full (trailer only for the clip the librarian
    marked), podcast:chapters (served JSON) and podcast:transcript for every clip, square 1400–3000 px
    artwork; the transcript's Content-Type names its charset once (old: every clip a trailer, no
    copyright, chapters only with jingles, the book cover as it was, `charset` twice)."""
    import feedparser
    import podcastparser
    from PIL import Image
    from catalog.models import Clip
    base = "https://thuvien.example.vn"
    app = _make_app(sqlite_template, tmp_path, PUBLIC_BASE_URL=base, PODCAST_EMAIL="podcast@thuvien.example.vn",
                    DEFAULT_LIBRARY="THV")
    session = app.extensions["sachnoi"].sessions()
    book = full_book(session, library(session), cover_path="covers/truong-dinh.jpg")
    portrait = io.BytesIO()
    Image.new("RGB", (600, 900), (200, 30, 30)).save(portrait, "JPEG")
    app.extensions["sachnoi"].store.write_bytes("covers/truong-dinh.jpg", portrait.getvalue())
    vtt = "WEBVTT\n\n00:00.000 --> 00:02.500\nXin chào các bạn.\n"
    for title, trailer in (("Giới thiệu kênh", True), ("Trương Định ở Gò Công", False)):
        session.add(Clip(book_id=book.id, title=title, start_s=0, end_s=30, mp3_key=f"derived/clips/{title}.mp3",
                         mp3_bytes=48_000, duration_s=30.0, state="published", transcript_vtt=vtt, trailer=trailer))
    session.commit()
    session.close()
    client = app.test_client()
    local = lambda url: url.removeprefix(base)  # noqa: E731
    body = client.get("/clips/feed.xml").data
    feed = feedparser.parse(body)
    assert not feed.bozo, feed.bozo_exception
    assert feed.feed.publisher_detail.email == "podcast@thuvien.example.vn"
    assert feed.feed.rights.startswith("©") and "Thư viện tỉnh Thái Bình" in feed.feed.rights
    assert {e.title: e.itunes_episodetype for e in feed.entries} == {"Giới thiệu kênh": "trailer",
                                                                       "Trương Định ở Gò Công": "full"}
    parsed = podcastparser.parse(base + "/clips/feed.xml", io.BytesIO(body))
    assert parsed["itunes_owner"] == {"name": "Thư viện tỉnh Thái Bình", "email": "podcast@thuvien.example.vn"}
    assert sorted(e["type"] for e in parsed["episodes"]) == ["full", "trailer"]
    for episode in parsed["episodes"]:
        chapters = client.get(local(episode["chapters_json_url"]))
        assert chapters.mimetype == "application/json+chapters"
        assert json.loads(chapters.data)["chapters"][0] == {"startTime": 0.0, "title": episode["title"]}
        transcript = client.get(local(episode["transcript_url"]))
        assert transcript.headers["Content-Type"] == "text/vtt; charset=utf-8"
        assert transcript.get_data(as_text=True) == vtt
    images = [parsed["cover_url"]] + [e["episode_art_url"] for e in parsed["episodes"]]
    for url in images:
        image = Image.open(io.BytesIO(client.get(local(url)).data))
        assert image.format == "JPEG" and image.width == image.height and 1400 <= image.width <= 3000, url
    app.extensions["sachnoi"].engine.dispose()


def test_oai_datestamps_on_sqlite_and_postgresql(any_session):
    """17.4 on both databases (the datestamp is computed in SQL: max() on SQLite, GREATEST on
    PostgreSQL): a scheduled publication carries the time it went live, not the time it was scheduled;
    a library rename and a new rendition move the datestamps of that library's or book's records."""
    import datetime as dt
    from catalog import oai
    from catalog.models import Rendition, utcnow
    session = any_session
    repo = oai.Repository(base_url="https://thuvien.example.vn/oai", repository_id="thuvien.example.vn")
    lib = library(session)
    other = library(session, code="QP", name="Thư viện huyện Quỳnh Phụ", kind="district")
    start = utcnow().replace(microsecond=0)
    live = full_book(session, lib, title="Đã xuất bản")
    scheduled = full_book(session, other, title="Hẹn giờ", publish=False)
    books.publish(session, scheduled, at=start + dt.timedelta(hours=1))
    session.commit()
    from sqlalchemy import text
    for table, column in (("books", "updated_at"), ("libraries", "updated_at"), ("series", "updated_at"),
                          ("renditions", "created_at")):  # everything was catalogued yesterday
        session.execute(text(f"UPDATE {table} SET {column} = :t"), {"t": start - dt.timedelta(days=1)})
    session.commit()
    session.expire_all()

    def harvest(now, since):
        doc = etree.fromstring(oai.respond(session, [("verb", "ListIdentifiers"), ("metadataPrefix", "oai_dc"),
                                                     ("from", oai._stamp(since))], repo, now=now))
        return {h.findtext(f"{OAI}identifier"): h.findtext(f"{OAI}datestamp") for h in doc.iter(f"{OAI}header")}

    ident = lambda book: f"oai:thuvien.example.vn:{book.id}"  # noqa: E731
    assert ident(scheduled) not in harvest(start + dt.timedelta(minutes=30), start)
    later = harvest(start + dt.timedelta(hours=2), start + dt.timedelta(minutes=30))
    assert later == {ident(scheduled): oai._stamp(start + dt.timedelta(hours=1))}
    # a rename of the live book's library, then a new rendition of the scheduled one
    lib.name = "Thư viện tỉnh Thái Bình (tên mới)"
    session.commit()
    renamed = harvest(start + dt.timedelta(hours=2), start)
    assert set(renamed) == {ident(live), ident(scheduled)}
    assert renamed[ident(live)] < oai._stamp(start + dt.timedelta(minutes=30))  # the rename, just now
    session.add(Rendition(book_id=scheduled.id, kind="mp3", name="mp3-64k", key="k", codec="mp3", bitrate=64000,
                          created_at=start + dt.timedelta(hours=3)))
    session.commit()
    assert harvest(start + dt.timedelta(hours=4), start + dt.timedelta(hours=2, minutes=30)) == {
        ident(scheduled): oai._stamp(start + dt.timedelta(hours=3))}


def test_opds_and_manifest_show_the_readers_cover(seeded):
    """Issue 16.6: OPDS named a placeholder icon and the manifest no cover at all for books without
    a packaged cover; both now name the cover readers see (uploaded, else the generated one)."""
    from PIL import Image
    app, made = seeded
    client = app.test_client()
    book_id = made["public"].id
    pub = client.get(f"/opds/books/{book_id}").get_json()
    (image,) = pub["images"]
    assert image["href"] == f"http://localhost/covers/{book_id}.png" and image["type"] == "image/png"
    _assert_valid(_opds_validator("publication.schema.json"), pub)
    served = client.get(image["href"].replace("http://localhost", ""))
    assert served.status_code == 200 and served.mimetype == "image/png"
    assert Image.open(io.BytesIO(served.data)).size == (image["width"], image["height"])
    assert client.get(f"/opds/covers/{book_id}.png").data == served.data  # feeds of earlier versions
    token = client.get(f"/api/books/{book_id}/token").get_json()["token"]
    manifest = client.get(f"/books/{book_id}/manifest.json?t={token}").get_json()
    (cover,) = [r for r in manifest["resources"] if r["rel"] == "cover"]
    assert cover["href"].split("?")[0] == f"http://localhost/covers/{book_id}.png"
