"""No 500s (issue 14, "No 500s"): hostile values in every URL converter, every query and form field
a view reads and every field of the JSON API's bodies, as anonymous, reader, librarian and admin.

Routes come from `app.url_map` and field names from the views' own source, so a new route or field
is walked without editing this file. A 5xx fails the test with the request that caused it.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from flask import url_for
from hypothesis import HealthCheck, given, settings, strategies as st

from security_world import login_as, make_app
from test_access_matrix import ARG_SOURCES, EXPECTED, LITERAL_ARGS

WEB = Path(__file__).resolve().parents[2] / "web"
IDENTITIES = ("anonymous", "reader", "librarian", "admin")
SKIP_METHODS = {"HEAD", "OPTIONS"}
# ids a database cannot hold, and the edges of those it can
HOSTILE_IDS = [str(2**63), str(2**64), "1" + "0" * 30, str(2**63 - 1), str(2**31), "0", "-1", "%2D1", "1e3", "0x10"]
HOSTILE_STRINGS = ["%00", "%0d%0aX-Injected:%201", "%01%1f%7f", "..%2f..", "%ef%bf%bf", "9" * 40,
                   "a" * 3000, "%C3%28", "9999-12-31", "-1", "1e400", "NaN", "Infinity"]
HOSTILE_FIELDS = ["\x00", "\r\nX-Injected: 1", "\x01\x1f\x7f", "9" * 40, "-" + "9" * 40, "1e400", "inf",
                  "-Infinity", "NaN", "9999-12-31", "0000-00-00", "\ufffe", "a" * 5000, "", " ", "[]", "-1"]
# raw JSON text for one field: numbers no column can hold, constants JSON does not have, wrong types
HOSTILE_JSON = ["1e400", "-1e400", "Infinity", "-Infinity", "NaN", str(2**63), "-" + str(2**64),
                "1" + "0" * 400, "[]", "{}", '"x"', "null", "true", "-1", "0.0", '"\\u0000"', '"9999999999999999999999"']


def _field_names(pattern: str) -> list[str]:
    names: set[str] = set()
    for path in WEB.glob("*.py"):
        names.update(re.findall(pattern, path.read_text()))
    return sorted(names)


FORM_FIELDS = _field_names(r"""form(?:\.get|\.getlist)?[\(\[]\s*["']([a-z_]+)["']""")
QUERY_FIELDS = _field_names(r"""args(?:\.get|\.getlist)?[\(\[]\s*["']([a-zA-Z_]+)["']""") + [
    "verb", "metadataPrefix", "identifier", "from", "until", "set", "resumptionToken", "next", "t", "q", "page"]
JSON_FIELDS = ["position_s", "event_time_ms", "seq", "speed", "chapter", "listened_s", "device_id", "device_name",
               "title", "note", "entries", "book_id"]


@pytest.fixture
def walker(world):
    app = make_app(world, WTF_CSRF_ENABLED=False, PUBLIC_BASE_URL="http://localhost")
    app.testing = False  # so that an exception becomes the 500 a user would see
    clients = {}
    for identity in IDENTITIES:
        client = app.test_client()
        login_as(client, world, identity)
        clients[identity] = client
    return app, world, clients


def _rules(app):
    return [r for r in app.url_map.iter_rules() if r.endpoint != "static"]


def _sample(world, rule):
    expect = EXPECTED.get(rule.endpoint)
    values = {}
    for name in rule.arguments:
        if expect and name in expect.args:
            values[name] = world.ids.get(expect.args[name], expect.args[name])
        elif name in LITERAL_ARGS:
            values[name] = LITERAL_ARGS[name]
        else:
            values[name] = world.ids[ARG_SOURCES[name]]
    return values


def _url(app, rule, values, raw: dict[str, str]) -> str:
    """The rule's URL with `raw` text (not re-encoded) in the named arguments' places."""
    choices = {n: sorted(c.items)[0] for n, c in rule._converters.items() if hasattr(c, "items") and n in raw}
    with app.test_request_context():
        # a placeholder that fits every converter but `any(...)`, which takes one of its own words
        placed = {**values, **{n: choices.get(n, f"9876543{i}") for i, n in enumerate(raw)}}
        url = url_for(rule.endpoint, **placed)
    for i, (name, text) in enumerate(raw.items()):
        if name in choices:
            head, _sep, tail = url.rpartition(f"/{choices[name]}")
            url = f"{head}/{text}{tail}"
        else:
            url = url.replace(f"9876543{i}", text)
    return url


def _check(response, what: str, failures: list) -> None:
    response.get_data()
    if response.status_code >= 500:
        failures.append(f"{what}: HTTP {response.status_code}")
    response.close()


def test_hostile_path_values_never_500(walker):
    """Integer ids ≥ 2^63 (61 routes answered 500 with an OverflowError from the database driver),
    negative, hex and exponent ids, and control characters, NUL, CR/LF, invalid UTF-8 and huge
    strings in every string converter — on every route, by every method, as four identities."""
    app, world, clients = walker
    failures: list[str] = []
    walked = 0
    for rule in _rules(app):
        values = _sample(world, rule)
        for name, converter in rule._converters.items():
            hostile = HOSTILE_IDS if type(converter).__name__ in ("IdConverter", "IntegerConverter") else HOSTILE_STRINGS
            for value in hostile:
                url = _url(app, rule, values, {name: value})
                for method in sorted(rule.methods - SKIP_METHODS):
                    for identity, client in clients.items():
                        _check(client.open(url, method=method), f"{identity} {method} {url[:120]}", failures)
                        walked += 1
    assert walked > 2000
    assert not failures, "\n".join(failures[:40])


def test_big_ids_are_404_on_every_id_route(walker):
    """The id converter refuses 2^31 and above (int4 on PostgreSQL; 2^63 overflowed SQLite) and
    negatives with 404, before any view runs
    (405 where werkzeug's matcher checks the method before converting: still no view runs)."""
    app, world, clients = walker
    id_rules = [r for r in _rules(app) if any(type(c).__name__ == "IdConverter" for c in r._converters.values())]
    assert len(id_rules) >= 50
    for rule in id_rules:
        values = _sample(world, rule)
        name = next(n for n, c in rule._converters.items() if type(c).__name__ == "IdConverter")
        for value in (str(2**31), str(2**63), "-1"):
            url = _url(app, rule, values, {name: value})
            method = sorted(rule.methods - SKIP_METHODS)[0]
            assert clients["admin"].open(url, method=method).status_code in (404, 405), url


def test_hostile_query_and_form_fields_never_500(walker):
    """Every query argument and form field any view reads (names taken from web/*.py), set to control
    characters, CR/LF, NUL, 40-digit numbers, inf/NaN, far dates (`until=9999-12-31`, a huge `year`
    in the librarian form, CR/LF in `next=`) — sent to every route with valid ids."""
    app, world, clients = walker
    failures: list[str] = []
    for rule in _rules(app):
        url = _url(app, rule, _sample(world, rule), {})
        methods = sorted(rule.methods - SKIP_METHODS)
        for value in HOSTILE_FIELDS:
            query = {name: value for name in QUERY_FIELDS}
            form = {name: value for name in FORM_FIELDS}
            for method in methods:
                for identity in ("anonymous", "librarian", "admin"):
                    kwargs = {"query_string": query}
                    if method != "GET":
                        kwargs["data"] = form
                    _check(clients[identity].open(url, method=method, **kwargs),
                           f"{identity} {method} {url} field={value[:20]!r}", failures)
    assert not failures, "\n".join(failures[:40])


def _json_routes(app):
    return [r for r in _rules(app) if r.endpoint.startswith("api.") and r.methods & {"POST", "PUT", "PATCH"}]


def _json_body(base: dict, field: str, raw: str) -> str:
    text = json.dumps({**base, field: "__HOSTILE__"})
    return text.replace('"__HOSTILE__"', raw)


def test_hostile_json_numbers_are_refused_with_400(walker):
    """`inf`, `1e400`, `Infinity`, `NaN` and huge integers in progress, bookmark and merge bodies
    (500 before: OverflowError from SQLite, or `inf` stored), and `entries` given as an object
    (500: unhashable slice): each is a 400, and nothing is written."""
    app, world, clients = walker
    book = world.ids["book"]
    client = clients["reader"]
    valid = {"position_s": 4.0, "event_time_ms": 1_700_000_000_000, "seq": 10**6, "device_id": "walker"}
    before = client.get(f"/api/books/{book}/progress").get_json()["progress"]
    for field in ("position_s", "event_time_ms", "seq", "chapter", "speed", "listened_s"):
        for raw in ("1e400", "-1e400", "Infinity", "NaN", str(2**63), "1" + "0" * 400):
            response = client.put(f"/api/books/{book}/progress", data=_json_body(valid, field, raw),
                                  content_type="application/json")
            assert response.status_code == 400, (field, raw, response.status_code)
            form = {**{k: str(v) for k, v in valid.items()}, field: raw.replace("Infinity", "inf")}
            assert client.post(f"/api/books/{book}/progress", data=form).status_code == 400, (field, raw)
    assert client.get(f"/api/books/{book}/progress").get_json()["progress"] == before
    count = len(client.get(f"/api/books/{book}/bookmarks").get_json()["bookmarks"])
    for raw in ("1e400", "Infinity", str(2**63)):
        assert client.post(f"/api/books/{book}/bookmarks", data='{"position_s": %s}' % raw,
                           content_type="application/json").status_code == 400
        assert client.put(f"/api/books/{book}/bookmarks/{world.ids['bookmark']}", data='{"position_s": %s}' % raw,
                          content_type="application/json").status_code == 400
        assert client.post("/api/progress/merge", data='{"entries": [{"book_id": %s, "position_s": 1}]}' % raw,
                           content_type="application/json").status_code == 400
    assert len(client.get(f"/api/books/{book}/bookmarks").get_json()["bookmarks"]) == count
    response = client.post("/api/progress/merge", json={"entries": {"book_id": book, "position_s": 1}})
    assert response.status_code == 400 and response.get_json()["error"] == "bad-entries"


def test_every_json_field_hostile_never_500(walker):
    """Every field of every JSON API body, and the body itself, replaced by each hostile JSON text."""
    app, world, clients = walker
    failures: list[str] = []
    base = {"position_s": 1.5, "event_time_ms": 1_700_000_000_000, "seq": 1, "device_id": "walker",
            "title": "t", "note": "n", "entries": [{"book_id": world.ids["book"], "position_s": 1.0,
                                                  "event_time_ms": 1_700_000_000_000, "seq": 1, "device_id": "w"}]}
    for rule in _json_routes(app):
        url = _url(app, rule, _sample(world, rule), {})
        for method in sorted(rule.methods & {"POST", "PUT", "PATCH"}):
            bodies = [_json_body(base, f, raw) for f in JSON_FIELDS for raw in HOSTILE_JSON]
            bodies += [_json_body(base, "entries", "[%s]" % raw) for raw in HOSTILE_JSON]
            bodies += list(HOSTILE_JSON) + ["{", "[" * 5000, '{"a": ' * 2000]
            for body in bodies:
                for identity in ("reader", "admin"):
                    _check(clients[identity].open(url, method=method, data=body, content_type="application/json"),
                           f"{identity} {method} {url} {body[:80]}", failures)
    assert not failures, "\n".join(failures[:40])


def _containers(children):
    return st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
                           _containers, max_leaves=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.dictionaries(st.sampled_from(JSON_FIELDS), json_values, max_size=8))
def test_generated_json_bodies_never_500(walker, body):
    """Hypothesis-generated bodies (any JSON value, huge integers and non-finite floats included,
    written with Python's json which emits `Infinity` and `NaN`) for the progress, bookmark and
    merge endpoints."""
    app, world, clients = walker
    text = json.dumps(body)
    book, bookmark = world.ids["book"], world.ids["bookmark"]
    for method, url in (("PUT", f"/api/books/{book}/progress"), ("POST", f"/api/books/{book}/bookmarks"),
                        ("PATCH", f"/api/books/{book}/bookmarks/{bookmark}"), ("POST", "/api/progress/merge")):
        response = clients["reader"].open(url, method=method, data=text, content_type="application/json")
        assert response.status_code < 500, (method, url, text, response.status_code)


@pytest.mark.parametrize("session_id", [str(2**63), "9" * 40, "١٢", "-1"])
def test_tus_session_id_metadata_out_of_range_is_400(walker, session_id):
    """A huge `session_id` in tus Upload-Metadata reached the database as an int too large for
    SQLite (500); Arabic-Indic digits passed `isdigit`. Now: 400 at creation, nothing stored."""
    import base64
    app, world, clients = walker
    client = app.test_client()
    login_as(client, world, "studio")
    meta = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}"
                    for k, v in (("filename", "take.wav"), ("session_id", session_id)))
    response = client.post("/api/uploads/", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "1000",
                                                     "Upload-Metadata": meta})
    assert response.status_code == 400, response.status_code


def test_login_while_the_disk_is_full_says_so(world):
    """Login while the disk is full: SQLite answers SQLITE_FULL ("database or disk is full") to the
    login bookkeeping write, which was a 500. Now a 503 page that says the disk is full, Vietnamese
    first, with Retry-After; reading pages still works. (Simulated as the suite does for media
    writes: the database's writes raise what SQLite raises when its file cannot grow.)"""
    import sqlite3

    from sqlalchemy import event

    from security_world import PASSWORD
    app = make_app(world, WTF_CSRF_ENABLED=False)
    app.testing = False
    engine = app.extensions["sachnoi"].engine

    @event.listens_for(engine, "before_cursor_execute")
    def _full(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            raise sqlite3.OperationalError("database or disk is full")

    client = app.test_client()
    for password in ("wrong-password", PASSWORD.format("bandoc")):
        response = client.post("/login", data={"username": "bandoc", "password": password})
        body = response.get_data(as_text=True)
        assert response.status_code == 503, response.status_code
        assert "Hết dung lượng đĩa" in body and "No space left on device" in body
        assert response.headers["Retry-After"]
    assert client.get("/").status_code == 200


def test_ids_and_numbers_out_of_int4_range_on_postgresql(pg_url, tmp_path):
    """On PostgreSQL the id columns are int4 and SQLAlchemy casts `id = %(pk)s::INTEGER`: any id from
    2^31 on was "integer out of range" (500) on every id route, in OAI identifiers and in merge
    entries; a chapter number from 2^31 on failed the progress write. Now 404 / 400 / skipped."""
    from catalog.accounts import create_user, get_or_create_library
    from catalog.books import create_book, publish
    from catalog.migrate import upgrade
    from web.app import create_app
    upgrade(pg_url)
    app = create_app({"HOME": str(tmp_path), "SECRET_KEY": "p" * 40, "DATABASE_URL": pg_url,
                      "WTF_CSRF_ENABLED": False, "PUBLIC_BASE_URL": "http://localhost"})
    app.testing = False
    with app.extensions["sachnoi"].sessions.begin() as s:
        library = get_or_create_library(s, "THV", "Thư viện tỉnh")
        users = {role: create_user(s, f"pg{role}", "mat-khau-123456", role=role, library=library).id
                 for role in ("reader", "admin")}
        book = create_book(s, library=library.id, title="Truyện Kiều", duration_s=100.0)
        publish(s, book)
        book_id = book.id
    clients = {"anonymous": app.test_client()}
    for role, user_id in users.items():
        clients[role] = app.test_client()
        with clients[role].session_transaction() as sess:
            sess["_user_id"], sess["_fresh"] = f"{user_id}:1", True
    failures: list[str] = []
    for rule in _rules(app):
        ids = [n for n, c in rule._converters.items() if type(c).__name__ == "IdConverter"]
        if not ids:
            continue
        others = {n: LITERAL_ARGS.get(n, "x") for n in rule.arguments if n not in ids}
        for value in (str(2**31), str(2**31 + 1), str(2**62)):
            url = _url(app, rule, others, {n: value for n in ids})
            for method in sorted(rule.methods - SKIP_METHODS):
                for identity, client in clients.items():
                    _check(client.open(url, method=method), f"{identity} {method} {url}", failures)
    for ident in ("oai:localhost:" + str(2**31), "oai:localhost:" + "9" * 18):
        _check(clients["anonymous"].get("/oai", query_string={"verb": "GetRecord", "identifier": ident,
                                                              "metadataPrefix": "oai_dc"}), ident, failures)
    assert not failures, "\n".join(failures[:40])
    reader = clients["reader"]
    report = {"position_s": 1.0, "event_time_ms": 1_700_000_000_000, "seq": 1, "device_id": "pg"}
    assert reader.put(f"/api/books/{book_id}/progress", json={**report, "chapter": 2**40}).status_code == 400
    assert reader.put(f"/api/books/{book_id}/progress", json={**report, "chapter": 3}).status_code == 200
    merged = reader.post("/api/progress/merge", json={"entries": [{**report, "book_id": 2**40, "seq": 2}]})
    assert merged.status_code == 200 and merged.get_json()["merged"] == 0
