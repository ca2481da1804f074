"""Issue 17.1: in production an app's password (HTTP Basic or the OPDS password grant) is only
taken over HTTPS (Authentication for OPDS 3.2); over plain HTTP it is refused before it is checked."""
from __future__ import annotations

import base64

from security_world import PASSWORD, make_app

STRONG = "Zq8v-3xkLr9P_wT2mN6bYc4HdJ7sEa1Uf5Gi0Ko"


def test_passwords_from_apps_need_https_in_production(world):
    app = make_app(world, ENV="production", SECRET_KEY=STRONG)
    client = app.test_client()
    grant = {"grant_type": "password", "username": "bandoc", "password": PASSWORD.format("bandoc")}
    basic = {"Authorization": "Basic " + base64.b64encode(f"bandoc:{PASSWORD.format('bandoc')}".encode()).decode()}
    plain = client.post("/opds/token", data=grant)
    assert plain.status_code == 403 and plain.get_json() == {"error": "https_required"}
    assert client.get("/opds/shelf", headers=basic).status_code == 403
    secure = client.post("/opds/token", data=grant, base_url="https://localhost")
    assert secure.status_code == 200 and secure.get_json()["token_type"] == "bearer"
    assert client.get("/opds/shelf", headers=basic, base_url="https://localhost").status_code == 200
    bearer = {"Authorization": f"Bearer {secure.get_json()['access_token']}"}
    assert client.get("/opds/shelf", headers=bearer, base_url="https://localhost").status_code == 200
