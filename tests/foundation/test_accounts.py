"""Accounts (issue 16.1-16.4, 14.5): one-time passwords set by staff, reset by e-mail against a
real SMTP server (aiosmtpd), readers registered by the library (one card or a CSV), self-registration,
the paged admin user list, duplicate library codes, and the username policy."""
from __future__ import annotations

import datetime as dt
import re
import socket
import unicodedata

import pytest
from sqlalchemy import func, insert, select

from catalog.accounts import (AccountError, authenticate, create_user, get_or_create_library, normalize_username,
                              one_time_password, user_search_text)
from catalog.models import Library, PasswordReset, User
from catalog.text import nfc


def csrf(client, path="/login") -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def login(client, username, password=None):
    return client.post("/login", data={"username": username, "password": password or "mat-khau-" + username,
                                       "csrf_token": csrf(client)})


def page_text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def make_app(settings):
    """make_app(**extra) -> an app on a migrated database with two libraries and five accounts."""
    from catalog.migrate import upgrade
    from web.app import create_app
    from web.config import load_settings
    apps = []

    def make(**extra):
        upgrade(load_settings({**settings, **extra})["DATABASE_URL"])
        app = create_app({**settings, **extra})
        with app.extensions["sachnoi"].sessions.begin() as s:
            if s.scalar(select(func.count(User.id))) == 0:
                lib = get_or_create_library(s, "THV", "Thư viện tỉnh")
                other = get_or_create_library(s, "HUYEN1", "Thư viện huyện", kind="district", parent=lib)
                for name, role, library in (("reader1", "reader", lib), ("lib1", "librarian", lib),
                                            ("admin1", "admin", lib), ("reader2", "reader", other),
                                            ("studio1", "studio", lib)):
                    create_user(s, name, "mat-khau-" + name, role=role, library=library,
                                email=f"{name}@thuvien.example")
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["sachnoi"].engine.dispose()


def user_row(app, username) -> User:
    with app.extensions["sachnoi"].sessions() as s:
        return s.scalar(select(User).where(User.username == username))


def reader_and_staff(app, reader: str, staff: str):
    """(reader's client, staff client, reader's id), both logged in."""
    clients = []
    for name in (reader, staff):
        clients.append(app.test_client())
        login(clients[-1], name)
    return clients[0], clients[1], user_row(app, reader).id


def one_time_from(response) -> str:
    return re.search(r"\b([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})\b", page_text(response)).group(1)


# -- 16.1 one-time passwords set by staff -------------------------------------------------------------
def test_librarian_sets_one_time_password_that_must_be_changed(make_app):
    """Issue 16.1: a reader who forgot the password gets a one-time one at the desk; it opens only
    the change page, and the reader's old sessions end."""
    app = make_app()
    reader_elsewhere, staff, uid = reader_and_staff(app, "reader1", "lib1")
    response = staff.post(f"/librarian/accounts/{uid}/one-time-password",
                          data={"csrf_token": csrf(staff, "/librarian/accounts/")}, follow_redirects=True)
    password = one_time_from(response)
    assert "Đăng xuất" not in page_text(reader_elsewhere.get("/"))  # session_version moved
    reader = app.test_client()
    response = login(reader, "reader1", password)
    assert response.status_code == 302 and response.headers["Location"].endswith("/account/password")
    assert reader.get("/history").status_code == 302  # every other page sends back to the change page
    assert reader.get("/api/me/progress").status_code in (403, 404)
    response = reader.post("/account/password", data={"current": password, "new": "sach-hay-moi-ngay",
                                                      "confirm": "sach-hay-moi-ngay",
                                                      "csrf_token": csrf(reader, "/account/password")})
    assert response.status_code == 302
    assert reader.get("/history").status_code == 200
    assert user_row(app, "reader1").must_change_password is False


@pytest.mark.parametrize("target", ["reader2", "studio1", "admin1"])
def test_librarian_cannot_reset_accounts_outside_their_readers(make_app, target):
    """Privilege escalation through reset: a librarian resetting a staff account (or another
    library's reader) could log in as them; only their own library's readers are theirs."""
    app = make_app()
    staff = app.test_client()
    login(staff, "lib1")
    before = user_row(app, target)
    uid = before.id
    for action, data in (("one-time-password", {}), ("active", {"active": "0"})):
        response = staff.post(f"/librarian/accounts/{uid}/{action}",
                              data={**data, "csrf_token": csrf(staff, "/librarian/accounts/")})
        assert response.status_code == 403
    after = user_row(app, target)
    assert (after.password_hash, after.is_active, after.session_version) == (
        before.password_hash, before.is_active, before.session_version)


def test_admin_disables_and_enables_an_account(make_app):
    """Issue 16.1: disable ends every session at once; enable lets the user back in."""
    app = make_app()
    reader, admin, uid = reader_and_staff(app, "reader2", "admin1")
    admin.post(f"/librarian/accounts/{uid}/active", data={"active": "0", "csrf_token": csrf(admin, "/admin/users")})
    assert "Đăng xuất" not in page_text(reader.get("/"))
    assert login(app.test_client(), "reader2").status_code == 401
    admin.post(f"/librarian/accounts/{uid}/active", data={"active": "1", "csrf_token": csrf(admin, "/admin/users")})
    assert login(app.test_client(), "reader2").status_code == 302


# -- 16.1 reset by e-mail ---------------------------------------------------------------------------
class _Keep:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_sink():
    from aiosmtpd.controller import Controller
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = _Keep()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, handler.messages
    controller.stop()


def _mailed_link(messages) -> str:
    import email
    body = email.message_from_bytes(messages[-1].content).get_payload(decode=True).decode()
    return re.search(r"(https?://\S+/password/reset/\S+)", body).group(1)


def test_reset_by_email_single_use_and_hashed(make_app, smtp_sink):
    """Issue 16.1: reset by e-mail through a real SMTP server. The link works once, its token is
    stored only as a hash (a database leak gives no working links), the new password ends every
    session, and the link's host comes from PUBLIC_BASE_URL, never from a forged Host header."""
    port, messages = smtp_sink
    app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_SECURITY="none", MAIL_FROM="thuvien@example.org",
                   PUBLIC_BASE_URL="https://sachnoi.thuvien.example")
    old_session = app.test_client()
    login(old_session, "reader1")
    client = app.test_client()
    evil = "http://evil.example"  # a forged Host header
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"',
                      page_text(client.get("/password/forgot", base_url=evil))).group(1)
    response = client.post("/password/forgot", data={"identifier": "reader1", "csrf_token": token}, base_url=evil,
                           follow_redirects=True)
    assert response.status_code == 200 and "đã gửi liên kết" in page_text(response)
    assert len(messages) == 1 and messages[0].rcpt_tos == ["reader1@thuvien.example"]
    link = _mailed_link(messages)
    assert link.startswith("https://sachnoi.thuvien.example/password/reset/")
    token = link.rsplit("/", 1)[1]
    with app.extensions["sachnoi"].sessions() as s:
        stored = s.scalars(select(PasswordReset.token_hash)).all()
    assert stored and token not in stored
    path = "/password/reset/" + token
    assert client.get(path).status_code == 200
    response = client.post(path, data={"new": "sach-noi-cho-em", "confirm": "sach-noi-cho-em",
                                       "csrf_token": csrf(client, path)})
    assert response.status_code == 302
    assert "Đăng xuất" not in page_text(old_session.get("/"))
    assert login(app.test_client(), "reader1", "sach-noi-cho-em").status_code == 302
    assert client.get(path).status_code == 404  # spent
    again = client.post(path, data={"new": "lan-thu-hai-nua", "confirm": "lan-thu-hai-nua",
                                    "csrf_token": csrf(client, "/password/forgot")})
    assert again.status_code == 404


def test_reset_link_expires_and_unknown_names_look_the_same(make_app, smtp_sink):
    """Account enumeration and stale links: an unknown name gets the same answer and no mail; a
    link older than an hour no longer works."""
    port, messages = smtp_sink
    app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_SECURITY="none",
                   PUBLIC_BASE_URL="http://127.0.0.1")
    client = app.test_client()
    answers = []
    for name in ("khong-co-ai", "reader2"):
        response = client.post("/password/forgot", data={"identifier": name,
                                                          "csrf_token": csrf(client, "/password/forgot")},
                               follow_redirects=True)
        # CSRF tokens (form fields and the page's meta tag) carry the second they were made in:
        # two answers a second boundary apart differ only there
        answers.append(re.sub(r'value="[^"]*"|name="csrf-token" content="[^"]*"', "", page_text(response)))
    assert answers[0] == answers[1] and len(messages) == 1
    token = _mailed_link(messages).rsplit("/", 1)[1]
    with app.extensions["sachnoi"].sessions.begin() as s:
        for row in s.scalars(select(PasswordReset)):
            row.expires_at = dt.datetime(2000, 1, 1)
    assert client.get("/password/reset/" + token).status_code == 404


def test_forgot_password_says_plainly_when_no_mail_is_configured(make_app):
    """Issue 16.1: with no SMTP server the page says so and what to do instead; nothing is stored."""
    app = make_app()
    client = app.test_client()
    text = page_text(client.get("/password/forgot"))
    assert "chưa cấu hình gửi e-mail" in text and 'name="identifier"' not in text
    client.post("/password/forgot", data={"identifier": "reader1", "csrf_token": csrf(client)})
    with app.extensions["sachnoi"].sessions() as s:
        assert s.scalar(select(func.count(PasswordReset.id))) == 0


# -- 16.2 readers registered by the library -------------------------------------------------------------
def _import(client, data: bytes):
    return client.post("/librarian/accounts/import", content_type="multipart/form-data",
                       data={"csrf_token": csrf(client, "/librarian/accounts/"), "file": (__import__("io").BytesIO(data),
                                                                                         "the.csv")})


def test_csv_of_library_cards_creates_readers_with_one_time_passwords(make_app):
    """Issue 16.2: a CSV exported from the card register (Vietnamese headers, `;` as Excel writes
    it in Vietnam, UTF-8 with BOM) creates every reader, print-disabled status with its evidence."""
    app = make_app()
    staff = app.test_client()
    login(staff, "lib1")
    csv_data = ("\ufeffSố thẻ;Họ tên;Khuyết tật đọc chữ in;Căn cứ\n"
                "TV-0001;Nguyễn Văn An;không;\n"
                "TV-0002;Trần Thị Bình;có;Giấy xác nhận khuyết tật số 12/2026\n").encode()
    response = _import(staff, csv_data)
    assert response.status_code == 200
    passwords = re.findall(r"<code>([a-z2-9-]{14})</code>", page_text(response))
    assert len(passwords) == 2
    binh = user_row(app, "tv-0002")
    assert binh.display_name == "Trần Thị Bình" and binh.card_number == "TV-0002"
    assert binh.print_disabled_verified_at is not None and "12/2026" in binh.print_disabled_evidence
    assert binh.library_id == user_row(app, "lib1").library_id and binh.must_change_password
    assert user_row(app, "tv-0001").print_disabled_verified_at is None
    response = login(app.test_client(), "TV-0002", passwords[1])
    assert response.headers["Location"].endswith("/account/password")


def test_bad_csv_reports_every_row_and_imports_nothing(make_app):
    """Issue 16.2: a bad file changes nothing (no half-imported list) and says what is wrong, row by row."""
    app = make_app()
    staff = app.test_client()
    login(staff, "lib1")
    csv_data = ("card_number,name,print_disabled,evidence\n"
                "TV-1,Lê Văn Cường,no,\n"
                "TV-1,Lê Văn Cường,no,\n"          # duplicate card in the file
                "reader1,Ai đó,no,\n"              # card already has an account
                "TV-3,,no,\n"                      # no name
                "TV-4,Phạm Dũng,có,\n"             # print-disabled without evidence
                "TV-5,Hồ Em,maybe,\n").encode()    # not a yes/no
    response = _import(staff, csv_data)
    assert response.status_code == 400
    errors = re.findall(r"<li>Dòng (\d+): ([^<]+)</li>", page_text(response))
    assert [int(line) for line, _ in errors] == [3, 4, 5, 6, 7]
    with app.extensions["sachnoi"].sessions() as s:
        assert s.scalar(select(func.count(User.id)).where(User.username.like("tv-%"))) == 0
    for bad in (b"\xff\xfe not utf-8 \xff", b"ho,ten\n1,2\n", b""):
        response = _import(staff, bad)
        assert response.status_code == 400 and "Chưa nhập bạn đọc nào" in page_text(response)


def test_librarian_creates_one_reader(make_app):
    """Issue 16.2: one card at the desk: the account exists at once with a one-time password."""
    app = make_app()
    staff = app.test_client()
    login(staff, "lib1")
    response = staff.post("/librarian/accounts/new", data={"card_number": "TV-0100", "name": "Đỗ Thị Hoa",
                                                           "csrf_token": csrf(staff, "/librarian/accounts/")})
    assert response.status_code == 200
    assert login(app.test_client(), "tv-0100", one_time_from(response)).status_code == 302
    again = staff.post("/librarian/accounts/new", data={"card_number": "TV-0100", "name": "Ai khác",
                                                        "csrf_token": csrf(staff, "/librarian/accounts/")})
    assert again.status_code == 400 and "đã tồn tại" in page_text(again)


@pytest.mark.parametrize("setting, can_login", [("approval", False), ("open", True)])
def test_self_registration_follows_the_library_setting(make_app, setting, can_login):
    """Issue 16.2: readers register themselves only where the library allows it; with approval
    the account waits for a librarian, who approves it from the account list."""
    app = make_app()
    client = app.test_client()
    assert "chưa mở đăng ký" in page_text(client.get("/register"))
    with app.extensions["sachnoi"].sessions.begin() as s:
        s.scalar(select(Library).where(Library.code == "THV")).self_registration = setting
    form = {"username": "Nguyễn.Văn.Đức", "display_name": "Nguyễn Văn Đức", "email": "duc@example.org",
            "new": "doc-sach-moi-ngay", "confirm": "doc-sach-moi-ngay",
            "library_id": str(user_row(app, "lib1").library_id)}
    response = client.post("/register", data={**form, "csrf_token": csrf(client, "/register")})
    assert response.status_code == 302
    name = nfc("nguyễn.văn.đức")
    assert (login(app.test_client(), name, "doc-sach-moi-ngay").status_code == 302) is can_login
    if not can_login:
        staff = app.test_client()
        login(staff, "lib1")
        listing = page_text(staff.get("/librarian/accounts/?q=" + name))
        assert "chờ duyệt" in listing
        staff.post(f"/librarian/accounts/{user_row(app, name).id}/active",
                   data={"active": "1", "csrf_token": csrf(staff, "/librarian/accounts/")})
        assert login(app.test_client(), name, "doc-sach-moi-ngay").status_code == 302
    weak = client.post("/register", data={**form, "username": "khac", "new": "12345678", "confirm": "12345678",
                                          "csrf_token": csrf(client, "/register")})
    assert weak.status_code == 400 and user_row(app, "khac") is None


# -- 16.3 the admin user list ---------------------------------------------------------------------------
def test_admin_user_list_pages_searches_and_filters_2000_users(make_app):
    """Issue 16.3: 2 000 accounts are one page of 50 at a time, searchable, filtered by role and
    library, with role names in Vietnamese (not `reader`, `librarian`)."""
    app = make_app()
    with app.extensions["sachnoi"].sessions.begin() as s:
        library_id = s.scalar(select(Library.id).where(Library.code == "HUYEN1"))
        s.execute(insert(User), [{"username": f"bd{i:04d}", "password_hash": "!", "role": "reader",
                                  "library_id": library_id, "display_name": f"Bạn đọc {i}", "session_version": 1,
                                  "search_folded": user_search_text(f"bd{i:04d}", f"Bạn đọc {i}", "", None)}
                                 for i in range(2000)])
    admin = app.test_client()
    login(admin, "admin1")
    first = page_text(admin.get("/admin/users"))
    assert "2005 tài khoản" in first and "trang 1/41" in first
    assert len(re.findall(r'<li id="user-\d+">', first)) == 50
    assert "Bạn đọc" in first and "Thủ thư" in first and ">reader<" not in first
    last = page_text(admin.get("/admin/users?page=41"))
    assert len(re.findall(r'<li id="user-\d+">', last)) == 5
    found = page_text(admin.get("/admin/users?q=bd1999"))
    assert "1 tài khoản" in found and "bd1999" in found
    folded = page_text(admin.get("/admin/users?q=BAN DOC 1999"))  # no diacritics, any case
    assert "1 tài khoản" in folded and "bd1999" in folded
    assert "0 tài khoản" in page_text(admin.get("/admin/users?q=bd_999"))  # "_" is no wildcard
    librarians = page_text(admin.get("/admin/users?role=librarian"))
    assert "1 tài khoản" in librarians and "lib1" in librarians
    district = page_text(admin.get(f"/admin/users?library={library_id}&q=reader"))
    assert "1 tài khoản" in district and "reader2" in district
    assert admin.get("/admin/users?page=99999999999999999999").status_code == 200


def test_librarian_list_shows_only_their_readers(make_app):
    """Cross-library disclosure: a librarian's list holds only the readers of their library."""
    app = make_app()
    staff = app.test_client()
    login(staff, "lib1")
    text = page_text(staff.get("/librarian/accounts/?role=admin"))
    assert "reader1" in text and "reader2" not in text and "admin1" not in text


# -- 16.4 duplicate library code -------------------------------------------------------------------------
def test_duplicate_library_code_is_a_clear_error(make_app):
    """Issue 16.4: adding a library with an existing code said "Đã thêm thư viện." and did nothing."""
    app = make_app()
    admin = app.test_client()
    login(admin, "admin1")
    response = admin.post("/admin/libraries", data={"code": "thv", "name": "Thư viện mới",
                                                    "csrf_token": csrf(admin, "/admin/")}, follow_redirects=True)
    text = page_text(response)
    assert "Mã thư viện THV đã được dùng" in text and "Đã thêm thư viện" not in text
    with app.extensions["sachnoi"].sessions() as s:
        assert s.scalar(select(Library.name).where(Library.code == "THV")) == "Thư viện tỉnh"
        assert s.scalar(select(func.count(Library.id))) == 2


# -- 14.5 usernames --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["b\u0430ndoc",          # Cyrillic а among Latin letters
                                  "\u0440\u0430\u0443\u0440\u0430l",  # Cyrillic look-alike of "paypal"
                                  "ad\u200bmin",          # zero-width space
                                  "admin\u202e",          # bidi override
                                  "\u2066thuthu\u2069",   # bidi isolates
                                  "ｑｕａｎｔｒｉ",        # full-width letters
                                  "quan tri",             # a space
                                  "ﬁle"])                 # a ligature
def test_usernames_that_imitate_others_are_refused(make_app, name):
    """Impersonation by look-alike names (issue 14.5): invisible characters, bidi controls,
    compatibility forms and mixed scripts make a second "quantri" that staff cannot tell apart."""
    app = make_app()
    with app.extensions["sachnoi"].sessions() as s:
        library = s.scalar(select(Library))
        with pytest.raises(AccountError):
            create_user(s, name, "mat-khau-dai-du", library=library)


@pytest.mark.parametrize("name", ["nguyễn.văn.đức", "trần_thị-ngọc.ánh", "Đặng@thuvien", "lý123"])
def test_vietnamese_usernames_stay_allowed_and_are_stored_nfc(name):
    """Vietnamese letters with diacritics are ordinary letters; NFD input (as macOS types it)
    is stored NFC, so the same name typed on any device logs in."""
    decomposed = unicodedata.normalize("NFD", name)
    assert normalize_username(decomposed) == unicodedata.normalize("NFC", name).lower()


def test_one_time_passwords_are_random_and_policy_proof():
    passwords = {one_time_password() for _ in range(200)}
    assert len(passwords) == 200 and all(re.fullmatch(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", p) for p in passwords)


def test_login_with_nfd_name_finds_the_nfc_account(make_app):
    app = make_app()
    with app.extensions["sachnoi"].sessions.begin() as s:
        create_user(s, "hoà", "mat-khau-hoa-1", library=s.scalar(select(Library)))
    with app.extensions["sachnoi"].sessions() as s:
        assert authenticate(s, unicodedata.normalize("NFD", "HOÀ"), "mat-khau-hoa-1") is not None


@pytest.mark.postgres
def test_user_search_and_migration_on_postgresql(pg_url):
    """The same list on PostgreSQL (migration 0008 applied there): LIKE is case-sensitive on
    PostgreSQL, so a card number typed in lower case must still be found."""
    from catalog.accounts import OPERATOR, create_reader, search_users
    from catalog.db import make_engine, make_sessionmaker
    from catalog.migrate import upgrade
    upgrade(pg_url)
    engine = make_engine(pg_url)
    try:
        with make_sessionmaker(engine).begin() as s:
            library = get_or_create_library(s, "THV", "Thư viện tỉnh")
            user, _password = create_reader(s, OPERATOR, library, "TV-PG-7", "Phan Văn Khải")
            assert user.must_change_password and not user.pending_approval
        with make_sessionmaker(engine)() as s:
            page = search_users(s, OPERATOR, query="tv-pg")
            assert [u.card_number for u in page.users] == ["TV-PG-7"] and page.total == 1
            assert search_users(s, OPERATOR, query="văn khải").total == 1
            assert search_users(s, OPERATOR, query="PHAN VAN KHAI").total == 1
            assert search_users(s, OPERATOR, role="librarian").total == 0
    finally:
        engine.dispose()


def test_registration_and_reset_requests_are_throttled(make_app):
    """Resource exhaustion and mail bombing: each registration costs an argon2 hash and each reset
    request a mail, so both are counted per address like failed logins and slowed past a few."""
    app = make_app(LOGIN_BACKOFF={"account_free": 3, "address_free": 100})
    with app.extensions["sachnoi"].sessions.begin() as s:
        s.scalar(select(Library).where(Library.code == "THV")).self_registration = "open"
    client = app.test_client()
    library_id = str(user_row(app, "lib1").library_id)
    statuses = [client.post("/register", data={"username": f"ban-doc-{i}", "new": "doc-sach-moi-ngay",
                                               "confirm": "doc-sach-moi-ngay", "library_id": library_id,
                                               "csrf_token": csrf(client, "/register")}).status_code
                for i in range(4)]
    assert statuses == [302, 302, 302, 429]
    assert user_row(app, "ban-doc-3") is None


def test_migration_0008_keeps_existing_accounts_searchable_and_downgrades(tmp_path):
    """An instance upgraded with accounts in it: they are found without diacritics at once, keep
    their passwords usable (no forced change), and the migration goes down and up again."""
    import sqlalchemy as sa
    from catalog.migrate import downgrade, upgrade
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0004")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO libraries (code, name, kind, delivery_profile, onsite_networks, created_at, "
                             "updated_at) VALUES ('THV', 'Thư viện tỉnh', 'province', 'library-streaming', '', "
                             "'2026-01-01', '2026-01-01')"))
        conn.execute(sa.text("INSERT INTO users (username, password_hash, role, library_id, display_name, email, "
                             "locale, is_active, session_version, print_disabled_evidence, settings, created_at) "
                             "VALUES ('duc', '!', 'reader', 1, 'Nguyễn Văn Đức', '', 'vi', 1, 1, '', '{}', "
                             "'2026-01-01')"))
    upgrade(url)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT search_folded, must_change_password, pending_approval FROM users")).one()
        assert tuple(row) == ("duc nguyen van duc", 0, 0)
        assert conn.execute(sa.text("SELECT self_registration FROM libraries")).scalar() == "closed"
    downgrade(url, "0004")
    upgrade(url)
    engine.dispose()


def test_an_address_mail_cannot_reach_is_refused():
    """Outside testing: "khong-phai-email" and "cuong@example" were stored as readers' addresses (a
    reset link sent there is lost)."""
    from catalog.accounts import AccountError, check_email
    assert check_email("  cuong@thuvien.example.vn ") == "cuong@thuvien.example.vn" and check_email("") == ""
    for bad in ("khong-phai-email", "cuong@example", "a b@x.vn", "@x.vn"):
        with pytest.raises(AccountError):
            check_email(bad)
