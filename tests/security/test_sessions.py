"""Secrets and sessions: production key policy, key rotation, cookie flags, session invalidation,
login back-off that a spoofed X-Forwarded-For cannot reset and an attacker cannot turn into a
lockout, back-off on the current-password check, CSRF rotation at login, the password policy,
and indistinguishable login failures."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from catalog.accounts import authenticate
from catalog.models import LoginAttempt, User
from security_world import PASSWORD, make_app
from web.security import InsecureConfigError, weak_key_reason

STRONG = "Zq8v-3xkLr9P_wT2mN6bYc4HdJ7sEa1Uf5Gi0Ko"


def csrf(client, path="/login") -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def post_login(client, username, password, **kw):
    return client.post("/login", data={"username": username, "password": password, "csrf_token": csrf(client)},
                       **kw)


def logged_in(client) -> bool:
    return "Đăng xuất" in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize("key", ["", "dev", "changeme", "secret-key", "you-will-never-guess", "short-but-random-7Qx",
                                 "a" * 64, "abababababababababababababababab"])
def test_production_refuses_weak_or_default_secret_key(world, key):
    """Hardcoded secret keys (peers shipped a default key in their config): anyone could sign a
    session cookie for any user. Production mode must refuse to start with such a key."""
    with pytest.raises(InsecureConfigError):
        make_app(world, ENV="production", SECRET_KEY=key)


def test_production_refuses_known_default_as_fallback(world):
    with pytest.raises(InsecureConfigError):
        make_app(world, ENV="production", SECRET_KEY=STRONG, SECRET_KEY_FALLBACKS=["changeme"])


def test_production_with_strong_key_sets_secure_cookies(world):
    app = make_app(world, ENV="production", SECRET_KEY=STRONG)
    assert weak_key_reason(STRONG) is None
    client = app.test_client()
    page = client.get("/login", base_url="https://localhost").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = client.post("/login", base_url="https://localhost", headers={"Referer": "https://localhost/login"},
                           data={"username": "bandoc", "password": PASSWORD.format("bandoc"), "csrf_token": token})
    assert response.status_code == 302
    cookie = next(v for k, v in response.headers.items() if k == "Set-Cookie" and v.startswith("session="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Strict-Transport-Security" in response.headers


def test_development_cookies_httponly_samesite(world):
    app = make_app(world)
    response = post_login(app.test_client(), "bandoc", PASSWORD.format("bandoc"))
    cookie = next(v for k, v in response.headers.items() if k == "Set-Cookie" and v.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_key_rotation_keeps_sessions_signed_with_the_previous_key(world):
    old, new = STRONG, STRONG[::-1] + "x"
    client = make_app(world, SECRET_KEY=old).test_client()
    post_login(client, "bandoc", PASSWORD.format("bandoc"))
    cookie = client.get_cookie("session").value

    rotated = make_app(world, SECRET_KEY=new, SECRET_KEY_FALLBACKS=[old]).test_client()
    rotated.set_cookie("session", cookie)
    assert logged_in(rotated)
    forgotten = make_app(world, SECRET_KEY=new).test_client()
    forgotten.set_cookie("session", cookie)
    assert not logged_in(forgotten)


def test_env_fallbacks_as_comma_separated_string(world):
    app = make_app(world, SECRET_KEY=STRONG, SECRET_KEY_FALLBACKS="old-key-1, old-key-2")
    assert app.config["SECRET_KEY_FALLBACKS"] == ["old-key-1", "old-key-2"]


def _copied_session(app, username):
    """Log in, and return a second client holding a copy of the same cookie (another device, or a thief)."""
    client = app.test_client()
    post_login(client, username, PASSWORD.format(username))
    copy = app.test_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    assert logged_in(copy)
    return client, copy


def test_logout_kills_copies_of_the_cookie(world):
    """Never-expiring sessions: with signed cookies, logout alone leaves a copied cookie valid."""
    app = make_app(world)
    client, copy = _copied_session(app, "bandoc")
    assert client.post("/logout", data={"csrf_token": csrf(client, "/")}).status_code == 302
    assert not logged_in(copy)


def test_password_change_ends_other_sessions_but_not_this_one(world):
    app = make_app(world)
    client, copy = _copied_session(app, "bandoc")
    token = csrf(client, "/account/password")
    response = client.post("/account/password", data={"current": PASSWORD.format("bandoc"), "new": "mat-khau-moi-123",
                                                      "confirm": "mat-khau-moi-123", "csrf_token": token})
    assert response.status_code == 302
    assert logged_in(client)
    assert not logged_in(copy)
    assert post_login(app.test_client(), "bandoc", "mat-khau-moi-123").status_code == 302


def test_password_change_needs_the_current_password(world):
    app = make_app(world)
    client, copy = _copied_session(app, "bandoc")
    token = csrf(client, "/account/password")
    response = client.post("/account/password", data={"current": "wrong-password", "new": "mat-khau-moi-123",
                                                      "confirm": "mat-khau-moi-123", "csrf_token": token})
    assert response.status_code == 400
    assert logged_in(copy)


def test_disabling_an_account_ends_its_sessions(world):
    app = make_app(world)
    _client, copy = _copied_session(app, "thuthu")
    with app.extensions["sachnoi"].sessions.begin() as s:
        s.scalar(select(User).where(User.username == "thuthu")).is_active = False
    assert not logged_in(copy)
    assert copy.get("/librarian/").status_code in (302, 401, 404)


def test_backoff_per_account_blocks_even_the_right_password(world):
    """Brute force: after the free failures, the right password is not even checked until the delay passes."""
    app = make_app(world)
    client = app.test_client()
    for _ in range(5):
        assert post_login(client, "bandoc", "sai-mat-khau").status_code == 401
    blocked = post_login(client, "bandoc", PASSWORD.format("bandoc"))
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) >= 1
    assert not logged_in(client)


def test_unknown_accounts_back_off_the_same_way(world):
    """Account enumeration: an unknown name must answer exactly like a real one, back-off included."""
    app = make_app(world)
    statuses = {}
    for name in ("bandoc", "khong-ai-ca"):
        client = app.test_client()
        statuses[name] = [post_login(client, name, "sai-mat-khau").status_code for _ in range(6)]
    assert statuses["bandoc"] == statuses["khong-ai-ca"] == [401] * 5 + [429]


def test_spoofed_forwarded_for_does_not_reset_the_address_limit(world):
    """Without TRUST_PROXY, X-Forwarded-For is ignored: rotating it does not give fresh addresses."""
    app = make_app(world, LOGIN_BACKOFF={"address_free": 3, "account_free": 100})
    client = app.test_client()
    for i in range(3):
        post_login(client, f"user{i}", "x", headers={"X-Forwarded-For": f"10.0.0.{i}"})
    response = post_login(client, "user9", "x", headers={"X-Forwarded-For": "10.9.9.9"})
    assert response.status_code == 429
    with app.extensions["sachnoi"].sessions() as s:
        keys = set(s.scalars(select(LoginAttempt.key)))
    assert not any(k.startswith("ip:10.") for k in keys)


def test_trusted_proxy_uses_the_forwarded_address(world):
    app = make_app(world, TRUST_PROXY=1, LOGIN_BACKOFF={"address_free": 3, "account_free": 100})
    client = app.test_client()
    for i in range(3):
        post_login(client, f"user{i}", "x", headers={"X-Forwarded-For": "203.0.113.7"})
    assert post_login(client, "user9", "x", headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 429
    assert post_login(client, "user9", "x", headers={"X-Forwarded-For": "203.0.113.8"}).status_code == 401


def test_success_clears_the_account_counter_not_the_address_counter(world):
    app = make_app(world, LOGIN_BACKOFF={"address_free": 3, "account_free": 3})
    client = app.test_client()
    for _ in range(2):
        post_login(client, "bandoc", "sai")
    assert post_login(client, "bandoc", PASSWORD.format("bandoc")).status_code == 302
    client.post("/logout", data={"csrf_token": csrf(client, "/")})
    # A browser that never logged in here (no device cookie) from the same address:
    stranger = app.test_client()
    assert post_login(stranger, "bandoc", "sai").status_code == 401  # the pair counter was reset
    assert post_login(stranger, "bandoc", "sai").status_code == 429  # the address counter was not (3 failures)


# -- issue 14.5: a lockout an attacker cannot use, back-off on the password page ---------------------
def test_attacker_elsewhere_cannot_lock_a_reader_out(world):
    """Lockout as denial of service (issue 14.5): typing wrong passwords for a reader's name from
    another address must not block the reader's own login (back-off per account and address pair)."""
    app = make_app(world, TRUST_PROXY=1)
    attacker = app.test_client()
    for _ in range(8):
        post_login(attacker, "bandoc", "sai-mat-khau", headers={"X-Forwarded-For": "198.51.100.66"})
    assert post_login(attacker, "bandoc", "sai-mat-khau",
                      headers={"X-Forwarded-For": "198.51.100.66"}).status_code == 429
    reader = app.test_client()
    response = post_login(reader, "bandoc", PASSWORD.format("bandoc"), headers={"X-Forwarded-For": "203.0.113.5"})
    assert response.status_code == 302 and logged_in(reader)


def test_one_typist_behind_a_library_nat_does_not_lock_out_its_readers(world):
    """Lockout through a shared address (issue 14.5): a whole library reaches the site from one NAT
    address. One person spraying guesses there exhausts the per-address allowance, yet readers whose
    browsers have logged in before (signed device cookie) still log in; only unknown browsers wait."""
    app = make_app(world, LOGIN_BACKOFF={"address_free": 5, "account_free": 5})
    reader = app.test_client()
    assert post_login(reader, "thuthu", PASSWORD.format("thuthu")).status_code == 302  # yesterday, say
    reader.post("/logout", data={"csrf_token": csrf(reader, "/")})
    typist = app.test_client()
    for i in range(6):
        post_login(typist, f"ai-do-{i}", "sai-mat-khau")
    assert post_login(typist, "ai-do-9", "sai").status_code == 429  # the spraying browser is slowed
    assert post_login(reader, "thuthu", PASSWORD.format("thuthu")).status_code == 302
    forged = app.test_client()
    forged.set_cookie("sachnoi_device", "not-signed-by-us")
    assert post_login(forged, "thuthu", PASSWORD.format("thuthu")).status_code == 429


def test_current_password_check_backs_off(world):
    """Online guessing through the password page (issue 14.5): with a stolen session the
    current-password field was an unlimited oracle; after the free failures even the right password
    waits, and the page says how long."""
    app = make_app(world)
    client, _copy = _copied_session(app, "bandoc")
    wrong = {"current": "doan-sai-1", "new": "mat-khau-moi-123", "confirm": "mat-khau-moi-123"}
    for _ in range(5):
        assert client.post("/account/password", data={**wrong, "csrf_token": csrf(client, "/account/password")}
                           ).status_code == 400
    right = {**wrong, "current": PASSWORD.format("bandoc"), "csrf_token": csrf(client, "/account/password")}
    blocked = client.post("/account/password", data=right)
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) >= 1
    with app.extensions["sachnoi"].sessions() as s:  # unchanged; and the login shares the same back-off
        assert authenticate(s, "bandoc", PASSWORD.format("bandoc")) is not None
    assert post_login(app.test_client(), "bandoc", PASSWORD.format("bandoc")).status_code == 429


def test_csrf_token_is_rotated_at_login(world):
    """CSRF token fixation (issue 14.5): a token read or planted before login (shared computer,
    login CSRF) must not be accepted for the logged-in account."""
    app = make_app(world)
    client = app.test_client()
    before = csrf(client)
    response = client.post("/login", data={"username": "bandoc", "password": PASSWORD.format("bandoc"),
                                           "csrf_token": before})
    assert response.status_code == 302
    after = csrf(client, "/")
    assert after != before
    assert client.post("/logout", data={"csrf_token": before}).status_code == 400
    assert logged_in(client)
    assert client.post("/logout", data={"csrf_token": after}).status_code == 302


@pytest.mark.parametrize("new, reason", [("password1", "phổ biến"), ("iloveyou", "phổ biến"),
                                         ("Qwerty123", "phổ biến"), ("matkhau123", "phổ biến"),
                                         (PASSWORD.format("bandoc"), "khác mật khẩu hiện tại")])
def test_password_change_refuses_common_and_reused_passwords(world, new, reason):
    """Dictionary attacks (issue 14.5): the most common passwords (a list shipped in the package)
    fall to the first guesses; the current password again is no change at all."""
    app = make_app(world)
    client, copy = _copied_session(app, "bandoc")
    response = client.post("/account/password", data={"current": PASSWORD.format("bandoc"), "new": new,
                                                      "confirm": new, "csrf_token": csrf(client, "/account/password")})
    assert response.status_code == 400 and reason in response.get_data(as_text=True)
    assert logged_in(copy)  # nothing changed: other sessions continue
