"""Login, logout, CSRF on forms, role checks, session invalidation and the health check."""
import re

import pytest
from flask import Blueprint

from catalog.accounts import create_user, get_or_create_library, set_password
from catalog.models import User
from web.auth import role_required


def csrf_from(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


@pytest.fixture
def users(app):
    sessions = app.extensions["sachnoi"].sessions
    with sessions.begin() as s:
        lib = get_or_create_library(s, "THV", "Thư viện tỉnh")
        other = get_or_create_library(s, "HUYEN1", "Thư viện huyện", kind="district", parent=lib)
        for name, role, library in (("reader1", "reader", lib), ("studio1", "studio", lib),
                                    ("lib1", "librarian", lib), ("admin1", "admin", lib),
                                    ("lib2", "librarian", other)):
            create_user(s, name, "mat-khau-" + name, role=role, library=library)
    return sessions


def login(client, username, password=None):
    page = client.get("/login")
    token = csrf_from(page.get_data(as_text=True))
    return client.post("/login", data={"username": username, "password": password or "mat-khau-" + username,
                                       "csrf_token": token})


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json()["status"] == "ok"


def test_login_then_logout(client, users):
    response = login(client, "reader1")
    assert response.status_code == 302
    assert "Đăng xuất" in client.get("/").get_data(as_text=True)
    token = csrf_from(client.get("/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert "Đăng nhập" in client.get("/").get_data(as_text=True)


def test_wrong_password_and_unknown_user_look_the_same(client, users):
    wrong = login(client, "reader1", "sai-mat-khau")
    unknown = login(client, "khong-co-ai", "sai-mat-khau")
    assert wrong.status_code == unknown.status_code == 401
    strip = lambda r: re.sub(r'(value|content)="[^"]*"', "", r.get_data(as_text=True))  # noqa: E731
    assert strip(wrong).replace("reader1", "X") == strip(unknown).replace("khong-co-ai", "X")


def test_login_without_csrf_token_is_refused(client, users):
    response = client.post("/login", data={"username": "reader1", "password": "mat-khau-reader1"})
    assert response.status_code == 400
    assert "Đăng xuất" not in client.get("/").get_data(as_text=True)


def test_logout_requires_post_with_csrf(client, users):
    login(client, "reader1")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400


def test_open_redirect_on_next_is_refused(client, users):
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        token = csrf_from(client.get("/login").get_data(as_text=True))  # a new one after each login
        response = client.post("/login?next=" + target,
                               data={"username": "reader1", "password": "mat-khau-reader1", "csrf_token": token})
        assert response.status_code == 302
        assert response.headers["Location"] in ("/", "http://localhost/")


def test_roles(app, users):
    bp = Blueprint("roletest", __name__)

    @bp.get("/_staff-only")
    @role_required("librarian")
    def staff_only():
        return "ok"

    app.register_blueprint(bp)
    for name, expected in (("reader1", 403), ("studio1", 403), ("lib1", 200), ("admin1", 200)):
        client = app.test_client()
        login(client, name)
        assert client.get("/_staff-only").status_code == expected, name
    assert app.test_client().get("/_staff-only").status_code == 302  # anonymous: to the login page


def test_password_change_ends_other_sessions(app, client, users):
    login(client, "reader1")
    assert "Đăng xuất" in client.get("/").get_data(as_text=True)
    with users.begin() as s:
        set_password(s.query(User).filter_by(username="reader1").one(), "mat-khau-moi-1")
    assert "Đăng xuất" not in client.get("/").get_data(as_text=True)


def test_english_is_available(client):
    assert 'lang="en"' in client.get("/?lang=en").get_data(as_text=True)
    assert 'lang="vi"' in client.get("/?lang=vi").get_data(as_text=True)
