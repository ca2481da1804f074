"""Issue 17.1, 17.2, 17.3, 17.10 and 14.1 (app links): an OPDS app logs in, lists what the reader
may hear, opens the manifest and fetches every link, over HTTP against a live server, with HTTP
Basic and with the bearer flow (OAuth password grant); the Readium/OPDS schemas check every
document (with format checking); Readium's own OPDS model (npm r2-opds-js, Thorium's) parses them.
"""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
import zipfile
from pathlib import Path

import pytest
import requests
from jsonschema import Draft7Validator, FormatChecker
from referencing import Registry, Resource

from reader_helpers import login

ROOT = Path(__file__).resolve().parents[2]
# The standards' schemas live in shared/ beside the repository (as tests/conftest.py looks for them).
STANDARDS = next((p for p in (ROOT.parent / "shared" / "standards", Path("/work/shared/standards")) if p.is_dir()),
                 ROOT.parent / "shared" / "standards")
OPDS_AUTH = "application/opds-authentication+json"
WALKER = Path(__file__).with_name("opds_app_walker.js")


@pytest.fixture(scope="module")
def validators():
    resources = []
    for folder in ("readium-webpub", "opds2"):
        for path in sorted((STANDARDS / folder).rglob("*.json")):
            text = re.sub(r"\(\?<([A-Za-z_]\w*)>", r"(?P<\1>", path.read_text("utf-8"))
            schema = json.loads(text)
            if "$id" in schema:
                resources.append((schema["$id"], Resource.from_contents(schema)))
    registry = Registry().with_resources(resources)

    def make(schema_id: str) -> Draft7Validator:
        return Draft7Validator(registry.contents(schema_id), registry=registry, format_checker=FormatChecker())
    return {"feed": make("https://drafts.opds.io/schema/feed.schema.json"),
            "publication": make("https://drafts.opds.io/schema/publication.schema.json"),
            "auth": make("https://drafts.opds.io/schema/authentication.schema.json"),
            "manifest": make("https://readium.org/webpub-manifest/schema/publication.schema.json")}


def assert_valid(validator, document) -> None:
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


@pytest.fixture(scope="session")
def chapter_mp3(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("mp3") / "01.mp3"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
                    "-c:a", "libmp3lame", "-b:a", "64k", str(path)], check=True)
    return path


@pytest.fixture
def app_book(app, make_book, chapter_mp3):
    """app_book(policy, published=True) -> id of a book with chapter MP3s, cover and `.audiobook` package."""
    from catalog.models import Book, Chapter, Rendition
    services = app.extensions["sachnoi"]

    def make(policy: str = "members", published: bool = True, title: str = "Dế Mèn phiêu lưu ký") -> int:
        book_id = make_book(policy, published=published, title=title)
        with services.sessions.begin() as s:
            book = s.get(Book, book_id)
            book.year = 1941
            prefix = f"derived/books/{book.uuid}"
            for chapter in s.query(Chapter).filter_by(book_id=book_id):
                name = f"{chapter.position:02d}.mp3"
                target = services.store.path(f"{prefix}/mp3/{name}")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(chapter_mp3, target)
                s.add(Rendition(book_id=book_id, chapter_id=chapter.id, kind="mp3", name=name, codec="mp3",
                                bitrate=64000, key=f"{prefix}/mp3/{name}", duration_s=chapter.duration_s,
                                size_bytes=target.stat().st_size))
            services.store.path(f"{prefix}/cover.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 64)
            s.add(Rendition(book_id=book_id, kind="cover", name="cover", key=f"{prefix}/cover.jpg"))
            with zipfile.ZipFile(services.store.path(f"{prefix}/book.audiobook"), "w") as z:
                z.writestr("manifest.json", "{}")
            s.add(Rendition(book_id=book_id, kind="audiobook", name="audiobook", key=f"{prefix}/book.audiobook"))
        return book_id
    return make


def test_an_app_logs_in_with_basic_lists_and_opens_every_link(app, app_book, start_server, validators):
    """17.1/17.2/17.3: fetch a feed -> 401 with the challenge and the authentication document ->
    Basic -> the reader's titles -> manifest -> every link (reading order, toc, cover, package)
    answers 200 to a client that sends no credentials with them (a media player)."""
    members = app_book("members")
    public = app_book("public", title="Truyện công khai")
    app_book("print-disabled", title="Sách chữ nổi")  # not for this reader
    server = start_server(app)
    anonymous = requests.get(f"{server.url}/opds/shelf")
    assert anonymous.status_code == 401
    assert anonymous.headers["Content-Type"].startswith(OPDS_AUTH)
    challenges = anonymous.headers["WWW-Authenticate"]
    assert "Basic" in challenges and "Bearer" in challenges
    assert 'rel="http://opds-spec.org/auth/document"' in anonymous.headers["Link"]
    assert_valid(validators["auth"], anonymous.json())
    types = [flow["type"] for flow in anonymous.json()["authentication"]]
    assert types == ["http://opds-spec.org/auth/oauth/password", "http://opds-spec.org/auth/basic"]

    basic = ("bandoc", "mat-khau-bandoc")
    assert requests.get(f"{server.url}/opds/shelf", auth=("bandoc", "sai-mat-khau")).status_code == 401
    shelf = requests.get(f"{server.url}/opds/shelf", auth=basic)
    assert shelf.status_code == 200
    assert_valid(validators["feed"], shelf.json())
    titles = {p["metadata"]["title"] for p in shelf.json()["publications"]}
    assert titles == {"Dế Mèn phiêu lưu ký", "Truyện công khai"}
    pub = next(p for p in shelf.json()["publications"] if p["metadata"]["title"] == "Dế Mèn phiêu lưu ký")
    acquisitions = {link["type"]: link["href"] for link in pub["links"] if "acquisition" in link.get("rel", "")}
    assert set(acquisitions) == {"application/audiobook+json", "application/audiobook+zip"}
    assert requests.get(acquisitions["application/audiobook+json"]).status_code == 401  # no login
    manifest = requests.get(acquisitions["application/audiobook+json"], auth=basic)
    assert manifest.status_code == 200
    walk_manifest(manifest.json(), validators)
    package = requests.get(acquisitions["application/audiobook+zip"], auth=basic)
    assert package.status_code == 200 and package.content[:2] == b"PK"
    # a public title opens without any login, its links too
    walk_manifest(requests.get(f"{server.url}/books/{public}/manifest.json").json(), validators)
    assert f"/books/{members}/manifest.json" in acquisitions["application/audiobook+json"]


def walk_manifest(manifest: dict, validators) -> None:
    """Schema-valid (dates included); toc hrefs name reading-order items; every link resolves bare."""
    assert_valid(validators["manifest"], manifest)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", manifest["metadata"]["published"])
    order = [item["href"] for item in manifest["readingOrder"]]
    assert order and all(toc["href"].split("#")[0] in order for toc in manifest["toc"])
    hrefs = order + [link["href"] for link in manifest.get("resources", []) + manifest.get("links", [])
                     if link.get("rel") != "self"]
    assert any(link.get("rel") == "alternate" and link["type"] == "application/audiobook+zip"
               for link in manifest["links"])
    for href in hrefs:
        response = requests.get(href)  # no Authorization, no cookie: a media player
        assert response.status_code == 200, (href, response.status_code, response.text[:200])


def bearer_login(server, username: str, password: str) -> str:
    response = requests.post(f"{server.url}/opds/token", data={"grant_type": "password", "username": username,
                                                              "password": password, "client_id": "Thorium"})
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "bearer"
    return body["access_token"]


def test_bearer_app_links_last_as_long_as_the_app_login(app, app_book, start_server, validators):
    """17.1/17.2 and 14.1: the bearer flow's credential is stored hashed, listed on the account page,
    and revoking it (or logging out everywhere) kills the credential and every link it handed out at once."""
    from catalog.models import AppCredential
    book = app_book("members")
    server = start_server(app)
    assert requests.post(f"{server.url}/opds/token", data={"grant_type": "password", "username": "bandoc",
                                                           "password": "sai"}).json() == {"error": "invalid_grant"}
    token = bearer_login(server, "bandoc", "mat-khau-bandoc")
    with app.extensions["sachnoi"].sessions() as s:
        stored = s.query(AppCredential).one()
        assert token.split(".", 1)[1] not in (stored.secret_sha256, stored.name)  # only a hash is kept
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{server.url}/opds/shelf", headers=headers).status_code == 200
    manifest = requests.get(f"{server.url}/books/{book}/manifest.json", headers=headers).json()
    first = manifest["readingOrder"][0]["href"]
    assert requests.get(first).status_code == 200

    reader = app.test_client()
    login(reader, "bandoc")
    page = reader.get("/account").get_data(as_text=True)
    assert "Thorium" in page
    form = re.search(r'action="(/account/apps/\d+/revoke)".*?name="csrf_token" value="([^"]+)"', page, re.S)
    assert reader.post(form.group(1), data={"csrf_token": form.group(2)}).status_code == 302
    assert requests.get(first).status_code == 401                       # the links die with the app login
    refused = requests.get(f"{server.url}/opds/shelf", headers=headers)
    assert refused.status_code == 401 and 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert "Thorium" not in reader.get("/account").get_data(as_text=True)

    # logging out (which ends every session of the account) disconnects every app as well
    second = bearer_login(server, "bandoc", "mat-khau-bandoc")
    link = requests.get(f"{server.url}/books/{book}/manifest.json",
                        headers={"Authorization": f"Bearer {second}"}).json()["readingOrder"][1]["href"]
    assert requests.get(link).status_code == 200
    reader.post("/logout", data={"csrf_token": re.search(r'name="csrf-token" content="([^"]+)"',
                                                          reader.get("/").get_data(as_text=True)).group(1)})
    assert requests.get(link).status_code == 401
    assert requests.get(f"{server.url}/opds/shelf", headers={"Authorization": f"Bearer {second}"}).status_code == 401


def test_app_links_are_renewable_and_not_a_fixed_bearer_token(app, app_book, start_server):
    """17.2: links keep working after the 6-hour media-token lifetime (an app keeps a manifest for
    days) and a fresh manifest renews them; a draft never reaches an app, even a librarian's."""
    from streaming import tokens
    book = app_book("members")
    draft = app_book("public", published=False, title="Bản nháp")
    server = start_server(app)
    token = bearer_login(server, "bandoc", "mat-khau-bandoc")
    href = requests.get(f"{server.url}/books/{book}/manifest.json",
                        headers={"Authorization": f"Bearer {token}"}).json()["readingOrder"][0]["href"]
    claims = tokens.verify(app.config["SECRET_KEY"], href.split("t=")[1], book_id=book)
    assert claims.use == tokens.APP and claims.app_id is not None
    assert claims.expires - time.time() > 6 * 3600 * 4
    staff = bearer_login(server, "thuthu", "mat-khau-thuthu")
    assert requests.get(f"{server.url}/books/{draft}/manifest.json",
                        headers={"Authorization": f"Bearer {staff}"}).status_code == 404


def test_empty_feeds_validate(app, people, validators):
    """17.10: a search with no results and an empty catalogue are still valid OPDS 2 feeds."""
    client = app.test_client()
    for url in ("/opds/new", "/opds/search?query=khong-co-sach-nao", "/opds/subjects", "/opds/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_valid(validators["feed"], response.get_json())
    shelf = client.get("/opds/shelf", headers={"Authorization": "Basic YmFuZG9jOm1hdC1raGF1LWJhbmRvYw=="})
    assert_valid(validators["feed"], shelf.get_json())


def _node_path() -> str | None:
    for folder in [ROOT / "node_modules", *map(Path, filter(None, os.environ.get("NODE_PATH", "").split(":")))]:
        if (folder / "r2-opds-js").is_dir():
            return str(folder)
    return None


def test_readiums_opds_client_walks_the_catalogue(app, app_book, start_server):
    """17.7: r2-opds-js (Thorium's OPDS model) under Node parses the 401's authentication document,
    logs in with the password grant, parses the shelf feed and the publication, and every manifest
    link answers 200."""
    node_path = _node_path()
    if shutil.which("node") is None or node_path is None:
        pytest.skip("node or r2-opds-js missing: npm install --ignore-scripts (package.json devDependencies)")
    app_book("members")
    server = start_server(app)
    result = subprocess.run(["node", str(WALKER), server.url, "bandoc", "mat-khau-bandoc"], capture_output=True,
                            text=True, timeout=120, env={**os.environ, "NODE_PATH": node_path})
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["auth_types"] == ["http://opds-spec.org/auth/oauth/password", "http://opds-spec.org/auth/basic"]
    assert report["titles"] == ["Dế Mèn phiêu lưu ký"]
    assert report["fetched"] and all(status == 200 for status in report["fetched"].values())


def test_revoking_needs_the_owner_and_survives_hostile_ids(app, start_server):
    """A reader cannot revoke another reader's app; an id past 2^63 is a plain miss, not a 500."""
    from catalog import apps
    from catalog.models import AppCredential, User
    with app.extensions["sachnoi"].sessions.begin() as s:
        from catalog.accounts import create_user, get_or_create_library
        library = get_or_create_library(s, "THV", "Thư viện tỉnh")
        owner = create_user(s, "chu", "mat-khau-chu", library=library)
        create_user(s, "khac", "mat-khau-khac", library=library)
        s.flush()
        apps.issue(s, owner, name="Thorium")
    other = app.test_client()
    login(other, "khac")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', other.get("/account").get_data(as_text=True)).group(1)
    with app.extensions["sachnoi"].sessions() as s:
        credential_id = s.query(AppCredential).one().id
    for target in (credential_id, 2**63, 2**64 + 5):
        response = other.post(f"/account/apps/{target}/revoke", data={"csrf_token": csrf})
        # someone else's id: back to the account page, nothing revoked; an id no row can have: 404
        assert response.status_code == (302 if target == credential_id else 404), target
    with app.extensions["sachnoi"].sessions() as s:
        row = s.query(AppCredential).one()
        assert row.revoked_at is None and apps.is_valid(row, s.get(User, row.user_id))


def test_published_is_a_date_the_schema_accepts(validators):
    """17.10: `published: "2026"` failed the Readium schema's date formats."""
    from catalog import readium
    info = readium.AudiobookInfo(identifier="urn:uuid:5a1c0a3e-1111-4c3b-9a2e-000000000001", title="Tắt đèn",
                                 published="2026", tracks=(readium.Track("mp3/01.mp3", "Chương 1", 61.5),))
    manifest = readium.manifest_from_info(info, "https://thuvien.example.vn/books/7/")
    assert manifest["metadata"]["published"] == "2026-01-01"
    assert_valid(validators["manifest"], manifest)
    bare = dict(manifest, metadata=dict(manifest["metadata"], published="2026"))
    assert list(validators["manifest"].iter_errors(bare))  # the old value fails with format checking


def test_book_page_links_the_package_for_whoever_may_download(app, app_book):
    """17.3: the book page links the `.audiobook` package with a download token that works with
    the reader's login and only with it."""
    book = app_book("members")
    reader = app.test_client()
    login(reader, "bandoc")
    html = reader.get(f"/books/{book}").get_data(as_text=True)
    href = re.search(r'href="(/books/\d+/book\.audiobook\?t=[^"]+)"', html).group(1).replace("&amp;", "&")
    response = reader.get(href)
    assert response.status_code == 200 and response.mimetype == "application/audiobook+zip"
    assert "attachment" in response.headers["Content-Disposition"]
    assert app.test_client().get(href).status_code == 401
    assert "book.audiobook" not in app.test_client().get(f"/books/{book}").get_data(as_text=True)


def test_basic_and_the_token_endpoint_share_the_login_back_off(app, people):
    """Password guessing through HTTP Basic or `/opds/token` meets the login page's back-off:
    after the free failures the right password is refused too (429, checked before the password)."""
    client = app.test_client()
    wrong = {"Authorization": "Basic " + base64.b64encode(b"bandoc:sai-mat-khau").decode()}
    statuses = [client.get("/opds/shelf", headers=wrong).status_code for _ in range(6)]
    assert statuses[:5] == [401] * 5 and statuses[5] == 429
    right = client.post("/opds/token", data={"grant_type": "password", "username": "bandoc",
                                             "password": "mat-khau-bandoc"})
    assert right.status_code == 429 and int(right.headers["Retry-After"]) > 0
