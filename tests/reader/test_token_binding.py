"""Issue 14.1 and 14.11: media tokens bound to the login that got them, and drafts that answer
like missing ids. Each attack below worked on the old bearer tokens (a token from
`GET /api/books/<id>/token` streamed with no cookie, after logout, after a password change,
after a role change, and a librarian's draft token streamed to anyone)."""
from __future__ import annotations

import re

import pytest

from reader_helpers import csrf_from, login


def segment(book_id: int, token: str) -> str:
    return f"/books/{book_id}/hls/aac-32k/seg_001.m4s?t={token}"


def api_token(client, book_id: int) -> str:
    response = client.get(f"/api/books/{book_id}/token")
    assert response.status_code == 200, response.data
    return response.get_json()["token"]


def logged_in(app, username: str):
    client = app.test_client()
    login(client, username)
    return client


def form_csrf(client, path: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def test_a_readers_token_needs_the_readers_login(app, make_book):
    """Attack: a reader's token copied out of the page streams with no cookie (bearer token)."""
    book = make_book("members")
    reader = logged_in(app, "bandoc")
    token = api_token(reader, book)
    assert reader.get(segment(book, token)).status_code == 200
    assert app.test_client().get(segment(book, token)).status_code == 401
    other = logged_in(app, "khiemthi")
    assert other.get(segment(book, token)).status_code == 403


def test_no_anonymous_token_for_a_title_the_public_may_not_hear(app, make_book):
    """14.1: anonymous tokens only where anyone may listen (public titles; on-site ones inside)."""
    members, public = make_book("members"), make_book("public", title="Công khai")
    anonymous = app.test_client()
    assert anonymous.get(f"/api/books/{members}/token").status_code == 401
    assert anonymous.get(f"/api/books/{public}/token").status_code == 200


def test_logout_revokes_the_tokens_of_the_session(app, make_book):
    """Attack: a token keeps working after its reader logged out (the copy of the cookie too)."""
    book = make_book("members")
    reader = logged_in(app, "bandoc")
    cookie = reader.get_cookie("session").value
    token = api_token(reader, book)
    reader.post("/logout", data={"csrf_token": csrf_from(reader.get("/").get_data(as_text=True))})
    thief = app.test_client()
    thief.set_cookie("session", cookie)  # a copy of the cookie taken before the logout
    assert thief.get(segment(book, token)).status_code == 401
    assert reader.get(segment(book, token)).status_code == 401


def test_log_out_everywhere_from_another_device_revokes_tokens(app, make_book):
    """Attack: logging out on one device (which ends every session) leaves tokens on the others alive."""
    book = make_book("members")
    phone, laptop = logged_in(app, "bandoc"), logged_in(app, "bandoc")
    token = api_token(phone, book)
    laptop.post("/logout", data={"csrf_token": csrf_from(laptop.get("/").get_data(as_text=True))})
    assert phone.get(segment(book, token)).status_code == 401
    assert app.test_client().get(segment(book, token)).status_code == 401


def test_password_change_revokes_tokens_issued_before_it(app, make_book):
    """Attack: after a password change (e.g. on suspicion of theft) the old tokens still stream."""
    book = make_book("members")
    reader = logged_in(app, "bandoc")
    token = api_token(reader, book)
    new = "Cay-tre-la-nga-2026!"
    response = reader.post("/account/password", data={"csrf_token": form_csrf(reader, "/account/password"),
                                                       "current": "mat-khau-bandoc", "new": new, "confirm": new})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    assert reader.get(segment(book, token)).status_code == 401       # issued under the old version
    assert app.test_client().get(segment(book, token)).status_code == 401
    assert reader.get(segment(book, api_token(reader, book))).status_code == 200  # a fresh one works


def test_disabled_and_role_changed_accounts_lose_their_tokens(app, make_book, people):
    """Attack: a token outlives disabling the account or changing its role (admin action)."""
    from catalog.accounts import create_user
    from catalog.models import Library, User
    with app.extensions["sachnoi"].sessions.begin() as s:
        create_user(s, "quantri", "mat-khau-quantri", role="admin", library=s.get(Library, people["library"]))
    book, draft = make_book("members"), make_book("public", published=False, title="Bản nháp")
    admin = logged_in(app, "quantri")
    librarian = logged_in(app, "thuthu")
    token, draft_token = api_token(librarian, book), api_token(librarian, draft)
    assert librarian.get(segment(draft, draft_token)).status_code == 200
    admin.post(f"/admin/users/{people['thuthu']}", data={
        "csrf_token": csrf_from(admin.get("/").get_data(as_text=True)), "role": "reader", "is_active": "on"})
    with app.extensions["sachnoi"].sessions() as s:
        assert s.get(User, people["thuthu"]).role == "reader"
    for client in (librarian, app.test_client()):
        assert client.get(segment(book, token)).status_code == 401
        assert client.get(segment(draft, draft_token)).status_code in (401, 404)
    reader = logged_in(app, "bandoc")
    token = api_token(reader, book)
    with app.extensions["sachnoi"].sessions.begin() as s:
        s.get(User, people["bandoc"]).is_active = False
    assert reader.get(segment(book, token)).status_code == 401


def test_a_librarians_draft_token_does_not_stream_to_anyone_else(app, make_book):
    """Attack: a librarian's token for a draft (staff may review it) streams to anyone it is sent to."""
    draft = make_book("public", published=False, title="Bản nháp")
    librarian = logged_in(app, "thuthu")
    token = api_token(librarian, draft)
    assert librarian.get(segment(draft, token)).status_code == 200
    assert app.test_client().get(segment(draft, token)).status_code == 401
    assert logged_in(app, "bandoc").get(segment(draft, token)).status_code == 403
    # the manifest's app links never carry the staff right: the draft's manifest names cookie-bound links
    manifest = librarian.get(f"/books/{draft}/manifest.json").get_json()
    for link in manifest["readingOrder"]:
        href = link["href"].replace("http://localhost", "")
        assert app.test_client().get(href).status_code == 401


def test_uses_are_not_interchangeable(app, make_book):
    """A stream token does not download the whole book, and a download token does not stream HLS."""
    book = make_book("members")
    reader = logged_in(app, "bandoc")
    stream = api_token(reader, book)
    assert reader.get(f"/books/{book}/book.m4b?t={stream}").status_code == 403
    page = reader.get(f"/books/{book}").get_data(as_text=True)
    assert "book.m4b" not in page  # make_book has no M4B: the page offers none
    from streaming import tokens
    claims = tokens.verify(app.config["SECRET_KEY"], stream, book_id=book)
    download = tokens.issue(app.config["SECRET_KEY"], book_id=book, subject=claims.subject, use=tokens.DOWNLOAD,
                            ttl_s=60)
    assert reader.get(segment(book, download)).status_code == 403


# -- 14.11: a draft answers like a missing id --------------------------------------------------------

ROUTES = ["/books/{id}", "/api/books/{id}/token", "/api/books/{id}/bookmarks", "/books/{id}/manifest.json",
          "/books/{id}/cover.jpg", "/books/{id}/book.audiobook", "/opds/books/{id}", "/opds/covers/{id}.png",
          "/books/{id}/marc.xml", "/books/{id}/dc.xml", "/books/{id}/hls/master.m3u8",
          "/books/{id}/hls/master.m3u8?t={public}", "/books/{id}/mp3/01.mp3?t={public}",
          "/books/{id}/book.m4b?t={download}", "/books/{id}/book.audiobook?t={download}",
          "/api/books/{id}/progress", "/api/books/{id}/bookmarks/export", "/covers/{id}.jpg",
          "/studio/books/{id}", "/studio/books/{id}/chapters", "/librarian/books/{id}"]


@pytest.mark.parametrize("who", [None, "bandoc", "thuthu2"])
def test_a_draft_and_a_missing_id_answer_the_same(app, make_book, who):
    """Issue 14.11: to whoever may not see drafts, a draft id and an unknown id give the same
    status and body on every route that takes a book id (pages, API, media, manifests, OPDS, OAI)."""
    from streaming import tokens
    draft = make_book("public", published=False, title="Bản nháp bí mật")
    missing = draft + 1000
    client = app.test_client()
    if who:
        login(client, who)
    key = app.config["SECRET_KEY"]

    def answer(route: str, book_id: int) -> tuple[int, str]:
        url = route.format(id=book_id, public=tokens.issue(key, book_id=book_id, subject="p", ttl_s=60),
                           download=tokens.issue(key, book_id=book_id, subject="p", use="d", ttl_s=60))
        response = client.get(url)
        # the id where a page names the book: in a path, an OAI identifier or a `book_id=` argument
        # (not "initial-scale=1" or a user's own id that happens to be the same number)
        body = re.sub(rf"(?:(?<=[/:])|(?<=_id=)){book_id}(?![0-9])", "<id>", response.get_data(as_text=True))
        body = re.sub(r'(name="csrf[-_]token"[^>]*?(?:content|value)=")[^"]*', r"\1", body)  # time-signed
        body = re.sub(r"t%3D[\w.-]+", "t%3D<token>", body)  # the login link echoes the asker's own URL
        return response.status_code, body

    for route in ROUTES:
        seen_draft, seen_missing = answer(route, draft), answer(route, missing)
        assert seen_draft == seen_missing, route
        assert seen_draft[0] in (302, 401, 403, 404), route
    oai = [client.get(f"/oai?verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:localhost:{n}")
           for n in (draft, missing)]
    bodies = [re.sub(rf"(?<=:){n}(?![0-9])", "<id>",
                     re.sub(r"<responseDate>[^<]*</responseDate>", "", r.get_data(as_text=True)))
              for r, n in zip(oai, (draft, missing))]
    assert bodies[0] == bodies[1] and "idDoesNotExist" in bodies[0]
