"""Absolute URLs only from PUBLIC_BASE_URL or an allowed Host (issue 14.9).

Attack: Host header injection. With `PUBLIC_BASE_URL` unset, every absolute URL in OPDS feeds,
OAI-PMH records, the podcast RSS, MARC 856 and the app manifest was built from the Host header the
client sent, so `Host: evil.example` put links to the attacker's site into documents that
harvesters, podcast directories and caches keep and hand to others.
"""
from __future__ import annotations

import http.client

import pytest

from web.app import create_app

EVIL = "evil.example"
# Documents that carry absolute URLs, and one plain page; anonymous GETs.
URLS = ("/", "/oai?verb=Identify", "/oai?verb=ListRecords&metadataPrefix=marcxml", "/opds/catalog.json",
        "/opds/", "/clips/feed.xml", "/opendata/catalog.csv", "/healthz")


def _urls(app) -> list[str]:
    known = {rule.rule for rule in app.url_map.iter_rules()}
    return [u for u in URLS if u.split("?")[0] in known]


def test_unlisted_host_is_refused_everywhere_without_public_base_url(client, app):
    urls = _urls(app)
    assert "/oai" in {u.split("?")[0] for u in urls} and "/clips/feed.xml" in urls
    for url in urls:
        refused = client.get(url, headers={"Host": EVIL})
        assert refused.status_code == 400, url
        assert EVIL not in refused.get_data(as_text=True)
        assert client.get(url, headers={"Host": EVIL + ":8000"}).status_code == 400
        assert client.get(url, headers={"Host": "localhost.evil.example"}).status_code == 400
    for host in ("localhost", "localhost:5000", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST"):
        assert client.get("/oai?verb=Identify", headers={"Host": host}).status_code == 200, host


def test_every_route_refuses_a_forged_host(client, app):
    """The check runs before any view (and before a 404 or 405), for every rule of the URL map."""
    import re
    for rule in app.url_map.iter_rules():
        url = re.sub(r"<(?:[^:>]+:)?[^>]+>", "1", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method, headers={"Host": EVIL})
            assert response.status_code == 400, (method, url, response.status_code)


def test_allowed_hosts_setting_and_the_serve_host(settings):
    """`ALLOWED_HOSTS` (a list, or a comma-separated string from the environment; ".name" allows
    subdomains) and the address `sachnoi serve --host` binds are accepted; nothing else is."""
    from catalog.migrate import upgrade
    from web.config import load_settings
    settings.update(ALLOWED_HOSTS="sachnoi.thuvien.vn, .tv.example", SERVE_HOST="10.1.2.3")
    upgrade(load_settings(settings)["DATABASE_URL"])
    client = create_app(settings).test_client()
    for host in ("sachnoi.thuvien.vn", "a.tv.example:443", "10.1.2.3:8000"):
        assert client.get("/healthz", headers={"Host": host}).status_code == 200, host
    for host in ("localhost", "tv.example", EVIL):  # the list replaces the default
        assert client.get("/healthz", headers={"Host": host}).status_code == 400, host


def test_with_public_base_url_links_never_come_from_the_host_header(settings):
    from catalog.migrate import upgrade
    from web.config import load_settings
    settings["PUBLIC_BASE_URL"] = "https://sachnoi.thuvien.example.vn"
    upgrade(load_settings(settings)["DATABASE_URL"])
    app = create_app(settings)
    client = app.test_client()
    for url in _urls(app):
        response = client.get(url, headers={"Host": EVIL})
        assert response.status_code < 400, url
        assert EVIL not in response.get_data(as_text=True), url
    identify = client.get("/oai?verb=Identify", headers={"Host": EVIL}).get_data(as_text=True)
    assert "https://sachnoi.thuvien.example.vn/oai" in identify


def test_a_real_http_server_refuses_a_forged_host(app, start_server):
    """Over a socket (werkzeug's server, as a proxy or browser would reach it)."""
    server = start_server(app)
    host, port = server.url.split("//")[1].split(":")
    for sent, status in ((EVIL, 400), (f"127.0.0.1:{port}", 200)):
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.putrequest("GET", "/oai?verb=Identify", skip_host=True)
        conn.putheader("Host", sent)
        conn.endheaders()
        response = conn.getresponse()
        body = response.read().decode()
        conn.close()
        assert response.status == status and EVIL not in body


@pytest.mark.parametrize("host", ["", "a b", "localhost:80@evil.example", "localhost@evil.example",
                                  "evil.example#localhost", "localhost/evil", "[::1]evil"])
def test_malformed_hosts_are_refused_without_a_5xx(client, host):
    """A Host that would make `http://<host>/` a URL to another site, or no URL at all."""
    assert client.get("/oai?verb=Identify", headers={"Host": host}).status_code == 400
