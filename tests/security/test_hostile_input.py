"""Hostile input on every route: path traversal, XSS in stored text, CSRF, state-changing GETs,
open redirects and security headers. Routes come from the URL map, as in test_access_matrix."""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from recordings.errors import UnsafeKeyError
from recordings.store import MediaStore
from security_world import login_as, make_app, media_token
from test_access_matrix import EXPECTED, KNOWN_BUGS, RULES, build_url

SECRET_MARKER = "TOP-SECRET-OUTSIDE-THE-STORE"
PASSWD_MARKER = "root:x:0:0"
XSS = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>"
XSS_RAW = ("<script>alert(1)</script>", "<img src=x onerror")
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
# Tus uploads are CSRF-exempt by design; they require the Tus-Resumable header instead (web/uploads.py).
CSRF_EXEMPT_PREFIXES = ("uploads.",)
# POSTs that change nothing and are part of a protocol other sites call (OAI-PMH harvesters POST).
READ_ONLY_POSTS = {"interop.oai_endpoint"}
# |safe allowed only where the markup is made by our own code from escaped parts.
SAFE_FILTER_ALLOWED = {"staff/studio_qc.html": "QC plot SVG built by studio code; the XSS test covers its text"}
# Tables a GET may legitimately write: listening statistics and login bookkeeping.
GET_MAY_WRITE = {"listening_events", "login_attempts"}

GET_ROUTES = [(e, p) for e, m, p, _a in RULES if m == "GET" and e in EXPECTED]
WRITE_ROUTES = [(e, m, p) for e, m, p, _a in RULES if m in STATE_CHANGING and e in EXPECTED]


def get_all(app, world, identity="admin"):
    """(endpoint, response) for every GET route, requested by `identity`."""
    client = app.test_client()
    login_as(client, world, identity)
    for endpoint, _path in GET_ROUTES:
        if endpoint in KNOWN_BUGS:  # tracked in test_access_matrix
            continue
        url, query = build_url(app, world, endpoint, EXPECTED[endpoint])
        response = client.get(url, query_string=query)
        response.get_data()
        response.close()
        yield endpoint, url, response


# -- path traversal --------------------------------------------------------------------------------
TRAVERSAL_KEYS = ["../secret.txt", "derived/../../secret.txt", "derived/books/../../../secret.txt",
                  "/etc/passwd", "\\etc\\passwd", "derived\\..\\..\\secret.txt", "C:/Windows/win.ini",
                  "derived/books/x/\x00.m3u8", "./derived", "derived//x", "../media-evil/x.mp3",
                  "originals/../../media-evil/x.mp3"]


@pytest.mark.parametrize("key", TRAVERSAL_KEYS)
def test_store_refuses_keys_that_leave_it(tmp_path, key):
    """Jellyfin-style path traversal: a key from a URL or a row must never name a file outside the store."""
    store = MediaStore(tmp_path / "media")
    (tmp_path / "secret.txt").write_text(SECRET_MARKER)
    with pytest.raises(UnsafeKeyError):
        store.path(key)


def test_store_refuses_symlinks_out_and_sibling_prefix_folders(tmp_path):
    """Symlink escape and the sibling-prefix trap (`/srv/media-evil` starts with `/srv/media`)."""
    store = MediaStore(tmp_path / "media")
    evil = tmp_path / "media-evil"
    evil.mkdir()
    (evil / "x.mp3").write_text(SECRET_MARKER)
    os.symlink(evil / "x.mp3", store.root / "derived" / "link.mp3")
    os.symlink(evil, store.root / "derived" / "linkdir")
    for key in ("derived/link.mp3", "derived/linkdir/x.mp3"):
        with pytest.raises(UnsafeKeyError):
            store.path(key)


PROBES = ["..%2f..%2f..%2fsecret.txt", "%2e%2e%2f%2e%2e%2fsecret.txt", "%252e%252e%252fsecret.txt",
          "..%5c..%5csecret.txt", "....%2f%2fsecret.txt", "%2fetc%2fpasswd", "..", "%2e%2e",
          "evil.m3u8", "..%00.m3u8", "index.m3u8%00", "..%2f..%2fmedia-evil%2fx.mp3"]


def _string_args(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint not in EXPECTED or "GET" not in rule.methods:
            continue
        names = [n for n, conv in rule._converters.items() if type(conv).__name__ in ("UnicodeConverter", "PathConverter")]
        if names:
            yield rule, names


def test_traversal_probes_on_every_media_and_file_route(world):
    """Path traversal (Jellyfin, Navidrome): encoded, double-encoded, backslash, absolute, NUL and
    sibling-prefix probes in every string argument of every GET route, plus a symlink planted in a
    book's HLS folder that points outside the store. Nothing outside the store is ever served."""
    (world.home / "secret.txt").write_text(SECRET_MARKER)
    (world.home / "media-evil").mkdir()
    (world.home / "media-evil" / "x.mp3").write_text(SECRET_MARKER)
    app = make_app(world)
    store = app.extensions["sachnoi"].store
    hls = store.path(f"derived/books/{world.ids['book_uuid']}/hls/aac-64k")
    os.symlink(world.home / "secret.txt", hls / "evil.m3u8")
    os.symlink("/etc/passwd", hls / "passwd.m3u8")
    client = app.test_client()
    login_as(client, world, "admin")
    token = media_token(app, world)
    probed = 0
    for rule, names in _string_args(app):
        expect = EXPECTED[rule.endpoint]
        base_url, query = build_url(app, world, rule.endpoint, expect)
        query = {"t": token}
        for name in names:
            for probe in PROBES + ["passwd.m3u8"]:
                # Rebuild the URL with the raw probe in this argument's place (no re-encoding).
                values = {n: "PLACEHOLDER" + n for n in rule.arguments}
                with app.test_request_context():
                    from flask import url_for
                    values.update({n: v for n, v in _sample_values(world, rule, expect).items() if n != name})
                    values[name] = "PROBEVALUE"
                    url = url_for(rule.endpoint, **values).replace("PROBEVALUE", probe)
                response = client.get(url, query_string=query)
                body = response.get_data()
                probed += 1
                assert response.status_code < 500, f"{url}: HTTP {response.status_code}"
                assert SECRET_MARKER.encode() not in body and PASSWD_MARKER.encode() not in body, url
    assert probed >= 20
    # the planted symlink, by its plain name
    response = client.get(f"/books/{world.ids['book']}/hls/aac-64k/evil.m3u8", query_string={"t": token})
    assert response.status_code == 404 and SECRET_MARKER.encode() not in response.get_data()


def _sample_values(world, rule, expect):
    from test_access_matrix import ARG_SOURCES, LITERAL_ARGS
    values = {}
    for name in rule.arguments:
        if name in expect.args:
            values[name] = world.ids.get(expect.args[name], expect.args[name])
        elif name in LITERAL_ARGS:
            values[name] = LITERAL_ARGS[name]
        elif name in ARG_SOURCES:
            values[name] = world.ids[ARG_SOURCES[name]]
    return values


# -- XSS -------------------------------------------------------------------------------------------
def _plant_xss(app, world):
    from catalog.models import Book, Bookmark, Chapter, Clip, Contributor, Library, Mark, Progress, User
    with app.extensions["sachnoi"].sessions.begin() as s:
        for key in ("book", "draft", "pd_book"):
            book = s.get(Book, world.ids[key])
            for field in ("title", "subtitle", "summary", "publisher", "ddc"):
                setattr(book, field, XSS[:30] if field == "ddc" else XSS)
        for row in s.query(Chapter):
            row.title = XSS
        for row in s.query(Contributor):
            row.name = XSS + str(row.id)
        for row in s.query(Mark):
            row.title = XSS
        for row in s.query(Clip):
            row.title, row.description = XSS, XSS
        for row in s.query(Bookmark):
            row.title, row.note = XSS, XSS
        for row in s.query(Progress):
            row.device_name = XSS
        for row in s.query(User):
            row.display_name = XSS
        for row in s.query(Library):
            row.name = XSS
        s.flush()
    try:
        from catalog.search import rebuild_index
        with app.extensions["sachnoi"].sessions.begin() as s:
            rebuild_index(s)
    except ImportError:
        pass


@pytest.mark.parametrize("identity", ["admin", "reader", "anonymous"])
def test_stored_xss_is_escaped_on_every_page(world, identity):
    """Stored XSS through metadata, chapter titles (also read from file tags and cue/label files),
    device names, bookmarks, clip text and display names: never emitted raw in HTML or SVG."""
    app = make_app(world)
    _plant_xss(app, world)
    checked = 0
    for endpoint, url, response in get_all(app, world, identity):
        assert response.status_code < 500, f"{url}: HTTP {response.status_code}"
        if response.mimetype in ("text/html", "image/svg+xml", "application/xhtml+xml"):
            body = response.get_data(as_text=True)
            for raw in XSS_RAW:
                assert raw not in body, f"{endpoint} ({url}) emits unescaped {raw!r}"
            checked += 1
    assert checked >= 5


def test_stored_xss_in_search_results_and_query(world):
    app = make_app(world)
    _plant_xss(app, world)
    client = app.test_client()
    for q in ("script", XSS, "alert"):
        body = client.get("/search", query_string={"q": q}).get_data(as_text=True)
        assert not any(raw in body for raw in XSS_RAW)


# -- CSRF and state-changing GETs ------------------------------------------------------------------
def _snapshot(app) -> dict[str, str]:
    engine = app.extensions["sachnoi"].engine
    digests = {}
    with engine.connect() as conn:
        for name in inspect(conn).get_table_names():
            if name.startswith(("book_search", "sqlite_")) or name in GET_MAY_WRITE:
                continue
            rows = conn.execute(text(f'SELECT * FROM "{name}" ORDER BY 1')).fetchall()
            digests[name] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return digests


@pytest.mark.parametrize("identity", ["admin", "librarian", "studio", "reader", "anonymous"])
def test_no_get_changes_state(world, identity):
    """State-changing GETs are CSRF holes (an <img src> on any site could trigger them)."""
    app = make_app(world)
    before = _snapshot(app)
    changed = []
    for endpoint, _url, _response in get_all(app, world, identity):
        after = _snapshot(app)
        if after != before:
            changed.append(f"{endpoint}: {[t for t in after if after[t] != before.get(t)]}")
            before = after
    assert not changed, "GET requests changed the database:\n" + "\n".join(changed)


def test_csrf_required_on_every_state_change(world):
    """Cross-site request forgery: every POST/PUT/PATCH/DELETE without a token is refused and changes nothing."""
    app = make_app(world)
    before = _snapshot(app)
    problems = []
    for identity in ("admin", "reader"):
        client = app.test_client()
        login_as(client, world, identity)
        for endpoint, method, _path in WRITE_ROUTES:
            if endpoint in READ_ONLY_POSTS:
                continue
            url, query = build_url(app, world, endpoint, EXPECTED[endpoint])
            response = client.open(url, method=method, query_string=query,
                                   data={"title": "x", "position_s": "5", "role": "admin"})
            expected = 412 if endpoint.startswith(CSRF_EXEMPT_PREFIXES) else 400
            if response.status_code != expected:
                problems.append(f"{identity} {method} {url}: HTTP {response.status_code}, expected {expected}")
    assert not problems, "\n".join(problems)
    assert _snapshot(app) == before


def test_foreign_origin_json_without_token_is_refused(world):
    app = make_app(world)
    client = app.test_client()
    login_as(client, world, "reader")
    response = client.put(f"/api/books/{world.ids['book']}/progress", json={"position_s": 9},
                          headers={"Origin": "https://evil.example"})
    assert response.status_code == 400


# -- open redirects and headers --------------------------------------------------------------------
@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "\\\\evil.example",
                                    "https:evil.example", "javascript:alert(1)", "///evil.example", "/%2F%2Fevil.example",
                                    "%2F%2Fevil.example", " //evil.example", "\t//evil.example", "http://localhost.evil.example/"])
def test_open_redirect_after_login_is_refused(world, target):
    """Open redirect on next= (phishing through the library's own domain)."""
    from test_sessions import csrf
    from security_world import PASSWORD
    app = make_app(world)
    client = app.test_client()
    response = client.post("/login", query_string={"next": target},
                           data={"username": "bandoc", "password": PASSWORD.format("bandoc"),
                                 "csrf_token": csrf(client)})
    assert response.status_code == 302
    from urllib.parse import urljoin, urlsplit
    landed = urlsplit(urljoin("http://localhost/login", response.headers["Location"]))
    assert landed.scheme == "http" and landed.netloc == "localhost", response.headers["Location"]


def test_local_next_is_kept():
    from web.auth import safe_next
    from flask import Flask
    app = Flask(__name__)
    app.add_url_rule("/", "reader.home", lambda: "")
    with app.test_request_context():
        assert safe_next("/books/3?x=1") == "/books/3?x=1"
        assert safe_next("//evil") == "/"


def test_security_headers_on_every_page(world):
    """CSP without inline script, nosniff, and no framing except the clip embed page."""
    app = make_app(world)
    problems = []
    for _endpoint, url, response in get_all(app, world, "admin"):
        csp = response.headers.get("Content-Security-Policy", "")
        if "script-src 'self'" not in csp or "unsafe-inline" in csp or "unsafe-eval" in csp:
            problems.append(f"{url}: CSP {csp!r}")
        if response.headers.get("X-Content-Type-Options") != "nosniff":
            problems.append(f"{url}: no nosniff")
        embeddable = url.startswith("/embed/")
        if embeddable:
            if "frame-ancestors *" not in csp or "X-Frame-Options" in response.headers:
                problems.append(f"{url}: embed page must be frameable")
        elif response.headers.get("X-Frame-Options") != "DENY" or "frame-ancestors 'none'" not in csp:
            problems.append(f"{url}: framing allowed")
    assert not problems, "\n".join(problems)


def test_templates_have_no_inline_script_or_handlers():
    """CSP forbids inline script; a template that still has one would break or, worse, tempt
    someone to loosen the policy."""
    root = Path(__file__).resolve().parents[2] / "web" / "templates"
    offenders = []
    for path in root.rglob("*.html"):
        body = path.read_text(encoding="utf-8")
        name = path.relative_to(root).as_posix()
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body) or re.search(r"\son[a-z]+\s*=", body) \
                or "javascript:" in body or (re.search(r"\|\s*safe\b", body) and name not in SAFE_FILTER_ALLOWED):
            offenders.append(str(path.relative_to(root)))
    assert not offenders, f"inline script, event handler or |safe in: {offenders}"
