"""Access-control matrix generated from the app's URL map: every route × every identity.

Each (endpoint, method) is requested by eight identities — anonymous, reader, print-disabled
reader, studio, librarian, admin, and studio and librarian staff of ANOTHER library — with the
objects of the THV library in the URL, and the outcome is compared with EXPECTED below.

A route that appears in the app without an entry in EXPECTED fails `test_every_route_has_an_expectation`:
nobody can add an unguarded route silently. Entries for routes that do not exist (yet) are ignored.

Guards against the Audiobookshelf class of auth bypass (routes reachable without the check their
siblings have) and against object-id swapping across tenants (another library's staff reaching
THV's books, takes and marks by changing a number in the URL).
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from security_world import IDENTITIES, build_world, login_as, make_app, media_token
from web.runtime import wait_for_jobs

OK, DENY, LOGIN = "ok", "deny", "login"
SKIP_METHODS = {"HEAD", "OPTIONS"}


def outcomes(**kw) -> dict:
    return {identity: kw[identity] for identity in IDENTITIES}


PUBLIC = {i: OK for i in IDENTITIES}
LOGGED_IN = {**PUBLIC, "anonymous": LOGIN}


def staff(*roles: str, scoped: bool = True) -> dict:
    """Only these staff roles (and admin); staff of another library are refused THV's objects
    when `scoped` (the URL names a THV object), allowed when the page is about their own library."""
    result = {"anonymous": LOGIN, "reader": DENY, "pd_reader": DENY, "admin": OK}
    for role in ("studio", "librarian"):
        result[role] = OK if role in roles else DENY
        result[f"other_{role}"] = OK if (role in roles and not scoped) else DENY
    return result


OWNER_ONLY = {**{i: DENY for i in IDENTITIES}, "anonymous": LOGIN, "reader": OK}
# a Marrakesh title: verified print-disabled readers and the owning library's staff
MARRAKESH = {**staff("studio", "librarian"), "pd_reader": OK}


@dataclass(frozen=True)
class Expect:
    who: dict
    args: dict = field(default_factory=dict)       # URL arguments by name, from the world's ids
    also_ok: tuple = ()                            # statuses that still count as "allowed" (e.g. 404: no cover)
    token: str = ""                                # media routes: add a public media token ?t= of this use


MEDIA = dict(token="s")
E = Expect
# endpoint -> Expect (applies to every method of the endpoint)
EXPECTED: dict[str, Expect] = {
    "static": E(PUBLIC, {"filename": "site.css"}),
    "healthz": E(PUBLIC),
    "reader.home": E(PUBLIC),
    "reader.search": E(PUBLIC),
    "reader.book": E(PUBLIC),
    "reader.history": E(LOGGED_IN),
    "reader.generated_cover": E(PUBLIC),  # issue 16.6: the typographic cover of a visible book
    "favicon": E(PUBLIC),
    "reader.account": E(PUBLIC),  # display settings for everyone (kept in a cookie when anonymous)
    "auth.login": E(PUBLIC),
    "auth.logout": E(PUBLIC),
    "auth.change_password": E(LOGGED_IN),
    # media: a public title with a public token
    "media.hls_master": E(PUBLIC, **MEDIA),
    "media.hls_file": E(PUBLIC, {"rendition": "aac-64k", "name": "index.m3u8"}, **MEDIA),
    "media.chapter_mp3": E(PUBLIC, {"name": "001.mp3"}, **MEDIA),
    "media.book_m4b": E(PUBLIC, token="d"),
    "media.audiobook_package": E(PUBLIC, token="d", also_ok=(404,)),
    "media.manifest": E(PUBLIC, **MEDIA),
    # issue 19: stream URLs with the media token in the path (version "0": the world's book has none)
    "media.path_master": E(PUBLIC),
    "media.path_file": E(PUBLIC),
    # issue 20: accessible talking books of a Marrakesh title: print-disabled readers, the owning
    # library's staff, and staff of other libraries as authorised entities
    "talking_books.download": E({**PUBLIC, "anonymous": LOGIN, "reader": DENY},
                                {"book_id": "pd_book", "kind": "epub3"}),
    "media.cover": E(PUBLIC, also_ok=(404,)),
    # nginx's auth_request target: a 404 for everyone without auth-request mode and its shared key
    "media.authz_media": E({i: DENY for i in IDENTITIES}),
    # reader API: one's own progress and bookmarks
    "api.get_progress": E(LOGGED_IN),
    "api.put_progress": E(LOGGED_IN),
    "api.merge_progress": E(LOGGED_IN),
    "api.media_token": E(PUBLIC),
    "api.list_bookmarks": E(LOGGED_IN),
    "api.create_bookmark": E(LOGGED_IN),
    "api.export_bookmarks": E(LOGGED_IN),
    "api.update_bookmark": E(OWNER_ONLY),
    "api.delete_bookmark": E(OWNER_ONLY),
    "api.post_event": E(PUBLIC),
    # offline listening and the installable web app (issue 20.6): the check answers everyone
    # ("allowed": false says why)
    "offline.service_worker": E(PUBLIC),
    "offline.web_manifest": E(PUBLIC),
    "offline.library": E(PUBLIC),
    "offline.check": E(PUBLIC),
    "api.events": E(PUBLIC),
    # issue 20.4: the read-along text of a Marrakesh title (it has a manuscript in the world)
    "api.book_text": E(MARRAKESH, {"book_id": "pd_book"}),
    "api.search_text": E(MARRAKESH, {"book_id": "pd_book"}),
    # interoperability: open catalogue data
    "interop.api_books": E(PUBLIC),
    "interop.dc_record": E(PUBLIC),
    "interop.marc_record": E(PUBLIC),
    "interop.marc_iso2709": E(PUBLIC),
    "interop.oai_endpoint": E(PUBLIC),
    "interop.opds_authentication": E(PUBLIC),
    "interop.opds_cover": E(PUBLIC, also_ok=(404,)),
    "interop.opds_new": E(PUBLIC),
    "interop.opds_publication": E(PUBLIC),
    "interop.opds_root": E(PUBLIC),
    "interop.opds_search": E(PUBLIC),
    "interop.opds_shelf": E(LOGGED_IN),
    "interop.opds_token": E(PUBLIC),  # no password in the body: 400 for everyone
    "interop.revoke_app": E(LOGGED_IN, {"credential_id": 1}),
    "interop.opds_subject": E(PUBLIC, also_ok=(404,)),
    "interop.opds_subjects": E(PUBLIC),
    "interop.opendata_csv": E(PUBLIC),
    "interop.opendata_jsonl": E(PUBLIC),
    # librarian (THV book in the URL)
    "librarian.index": E(staff("librarian", scoped=False)),
    "librarian.export_marc": E(staff("librarian", scoped=False)),
    "librarian.book": E(staff("librarian")),
    "librarian.save": E(staff("librarian")),
    "librarian.do_publish": E(staff("librarian")),
    "librarian.do_withdraw": E(staff("librarian")),
    "librarian.marc": E(staff("librarian")),
    "librarian.cover": E(staff("librarian")),
    "librarian.cover_image": E(PUBLIC, also_ok=(404,)),
    "librarian.readers": E(staff("librarian", scoped=False)),
    "librarian.register_print_disabled": E(staff("librarian")),
    "librarian.revoke_print_disabled": E(staff("librarian")),
    # studio (THV draft book, its session, take, mark and chapter in the URL)
    "studio_views.index": E(staff("studio", scoped=False)),
    "studio_views.new_book": E(staff("studio", scoped=False)),
    "studio_views.book": E(staff("studio"), {"book_id": "draft"}),
    "studio_views.new_session": E(staff("studio"), {"book_id": "draft"}),
    "studio_views.add_take": E(staff("studio")),
    "studio_views.delete_session": E(staff("studio")),
    "studio_views.take_audio": E(staff("studio")),
    "studio_views.detect": E(staff("studio"), {"book_id": "draft"}),
    "studio_views.editor": E(staff("studio"), {"book_id": "draft"}),
    "studio_views.move_mark": E(staff("studio")),
    "studio_views.add_mark": E(staff("studio")),
    "studio_views.delete_mark": E(staff("studio")),
    "studio_views.rename_mark": E(staff("studio")),
    "studio_views.approve": E(staff("studio"), {"book_id": "draft"}),
    "studio_views.approve_all": E(staff("studio"), {"book_id": "draft"}),
    "studio_views.finish": E(staff("studio"), {"book_id": "draft"}),
    "studio_views.qc": E(staff("studio", "librarian")),
    "studio_views.qc_plot": E(staff("studio", "librarian")),
    "studio_views.chapter_audio": E(staff("studio", "librarian"), {"which": "after"}, also_ok=(404,)),
    "studio_views.review": E(staff("studio")),
    # narration QC (issue 20.3): the THV draft book's manuscript, its findings and exports
    "narration.attach": E(staff("studio"), {"book_id": "draft"}),
    "narration.manuscript_status": E(staff("studio"), {"book_id": "draft"}),
    "narration.decide": E(staff("studio")),
    "narration.retakes_csv": E(staff("studio"), {"book_id": "draft"}),
    "narration.retakes_print": E(staff("studio"), {"book_id": "draft"}),
    "narration.propose_chapters": E(staff("studio"), {"book_id": "draft"}),
    # uploads (tus): studio and librarians; the upload id is unknown, so 404 counts as allowed
    "uploads.create": E(staff("studio", "librarian", scoped=False)),
    "uploads.status": E(staff("studio", "librarian", scoped=False), also_ok=(404,)),
    "uploads.upload": E(staff("studio", "librarian", scoped=False), also_ok=(404,)),
    "uploads.terminate": E(staff("studio", "librarian", scoped=False), also_ok=(404,)),
    "uploads.head": E(staff("studio", "librarian", scoped=False), also_ok=(404,)),
    "uploads.options": E(PUBLIC),
    # jobs, clips, statistics, administration
    "jobs.index": E(staff("studio", "librarian", scoped=False)),
    "jobs.feed": E(staff("studio", "librarian", scoped=False)),
    "jobs.show": E(staff("studio", "librarian")),
    "jobs.status": E(staff("studio", "librarian")),
    "jobs.retry": E(staff("studio", "librarian")),
    "jobs.cancel": E(staff("studio", "librarian")),
    "clips.index": E(staff("librarian", scoped=False)),
    "clips.new": E(staff("librarian", scoped=False)),     # the book is chosen in the form
    "clips.create": E(staff("librarian", scoped=False)),
    "clips.edit": E(staff("librarian")),
    "clips.save": E(staff("librarian")),
    "clips.publish": E(staff("librarian")),
    "clips.delete": E(staff("librarian")),
    "clips.unpublish": E(staff("librarian")),
    "clips.public": E(PUBLIC),
    "clips.embed": E(PUBLIC),
    "clips.feed": E(PUBLIC),
    "clips.feed_page": E(PUBLIC),
    "clips.artwork": E(PUBLIC, also_ok=(404,)),
    "clips.chapters": E(PUBLIC, also_ok=(404,)),
    "clips.cover": E(PUBLIC, also_ok=(404,)),
    "clips.mp3": E(PUBLIC, also_ok=(404,)),
    "clips.mp4": E(PUBLIC, also_ok=(404,)),
    "clips.story_mp4": E(PUBLIC, also_ok=(404,)),
    "clips.transcript": E(PUBLIC, also_ok=(404,)),
    "stats.index": E(staff("librarian", scoped=False)),
    "stats.export_csv": E(staff("librarian", scoped=False)),
    "stats.export_xlsx": E(staff("librarian", scoped=False)),
    "stats.report": E(staff("librarian", scoped=False)),       # issue 16.9: the yearly report
    "stats.report_xlsx": E(staff("librarian", scoped=False)),
    "stats.time_zone": E(staff("librarian", scoped=False)),     # issue 16.10: the library's own zone
    "admin.index": E(staff(scoped=False)),
    "admin.new_library": E(staff(scoped=False)),
    "admin.save_library": E(staff(scoped=False)),
    "admin.new_user": E(staff(scoped=False)),
    "admin.save_user": E(staff(scoped=False)),
    "admin.new_jingle": E(staff(scoped=False)),
    "admin.delete_jingle": E(staff(scoped=False)),
    # accounts (issue 16.1-16.3): the user list; readers of THV managed by THV's librarian
    "admin.users": E(staff(scoped=False)),
    "readers.index": E(staff("librarian", scoped=False)),
    "readers.new_reader": E(staff("librarian", scoped=False)),
    "readers.import_csv": E(staff("librarian", scoped=False)),
    "readers.one_time_password": E(staff("librarian")),
    "readers.toggle_active": E(staff("librarian")),
    "self_service.forgot_password": E(PUBLIC),
    "self_service.register": E(PUBLIC),
    "self_service.reset_password": E(PUBLIC, also_ok=(404,)),  # an unknown token: 404 for everyone
}

# Bugs this matrix found in other areas, tracked as strict xfails: when one is fixed, its entry
# here fails (XPASS) and must be removed.
KNOWN_BUGS = {
}

# Where a URL argument's value comes from (world ids), unless the entry names another.
ARG_SOURCES = {"book_id": "book", "bookmark_id": "bookmark", "user_id": "reader", "take_id": "take",
               "session_id": "session", "mark_id": "mark", "chapter_id": "chapter", "clip_id": "clip",
               "job_id": "job", "subject_id": "subject", "clip_uuid": "clip_uuid", "uuid": "clip_uuid",
               "book_uuid": "book_uuid",
               "library_id": "library", "jingle_id": "jingle",
               "sentence_id": "sentence"}
LITERAL_ARGS = {"token": "t" * 43, "upload_id": "0" * 32, "filename": "site.css", "rendition": "aac-64k", "name": "index.m3u8",
                "which": "after", "kind": "epub3", "version": "0",
                "path_token": "t" * 43}


def _rules():
    home = Path(tempfile.mkdtemp(prefix="sachnoi-rules-"))
    try:
        app = make_app(type("W", (), {"settings": lambda self, **kw: {"HOME": str(home), "SECRET_KEY": "r" * 40,
                                                                        **kw}})())
        rules = [(rule.endpoint, method, rule.rule, tuple(rule.arguments))
                 for rule in app.url_map.iter_rules()
                 for method in sorted(rule.methods - SKIP_METHODS or rule.methods & {"HEAD"} or {"OPTIONS"})]
        app.extensions["sachnoi"].engine.dispose()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return sorted(set(rules))


RULES = _rules()


def test_every_route_has_an_expectation():
    missing = sorted({endpoint for endpoint, *_ in RULES if endpoint not in EXPECTED})
    assert not missing, ("routes without an access expectation (add them to EXPECTED in "
                         f"tests/security/test_access_matrix.py): {missing}")


def build_url(app, world, endpoint: str, expect: Expect) -> tuple[str, dict]:
    from flask import url_for
    values = {}
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    for name in rule.arguments:
        if name in expect.args:
            source = expect.args[name]
            values[name] = world.ids.get(source, source)
        elif name == "path_token":  # a public media token in the path (no nginx signature)
            values[name] = media_token(app, world, use="s")
        elif name in LITERAL_ARGS:
            values[name] = LITERAL_ARGS[name]
        elif name in ARG_SOURCES:
            values[name] = world.ids[ARG_SOURCES[name]]
        else:
            pytest.fail(f"no sample value for URL argument {name!r} of {endpoint}: add it to ARG_SOURCES")
    with app.test_request_context():
        url = url_for(endpoint, **values)
    query = {"t": media_token(app, world, use=expect.token)} if expect.token else {}
    return url, query


def classify(response, also_ok: tuple) -> str:
    status = response.status_code
    location = response.headers.get("Location", "")
    if status in (301, 302, 303, 307) and "/login" in location:
        return LOGIN
    if status == 401:
        return LOGIN
    if status in (403, 404) and status not in also_ok:
        return DENY
    if status >= 500:
        return f"error {status}"
    return OK


def acceptable(expected: str, got: str) -> bool:
    if expected == OK:
        return got == OK
    if expected == LOGIN:
        return got in (LOGIN, DENY)  # anonymous: 401, a redirect to the login page, or 403/404
    return got in (DENY, LOGIN)


# Privileged identities last, so a refused request that wrongly changed something shows up in theirs.
ORDER = ("anonymous", "reader", "pd_reader", "other_studio", "other_librarian", "studio", "librarian", "admin")


@pytest.fixture(scope="module")
def matrix_template(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("matrix") / "instance")


@pytest.mark.slow
@pytest.mark.parametrize("endpoint,method,path,arguments", RULES, ids=[f"{m} {e}" for e, m, *_ in RULES])
def test_route_access(matrix_template, tmp_path, request, endpoint, method, path, arguments):
    expect = EXPECTED.get(endpoint)
    if expect is None:
        pytest.skip("no expectation (reported by test_every_route_has_an_expectation)")
    if endpoint in KNOWN_BUGS:
        request.applymarker(pytest.mark.xfail(reason=KNOWN_BUGS[endpoint], strict=True))
    home = tmp_path / "instance"
    shutil.copytree(matrix_template.home, home)
    world = type(matrix_template)(home, dict(matrix_template.ids))
    app = make_app(world, WTF_CSRF_ENABLED=False)
    db_file = home / "sachnoi.db"
    mutating = method not in ("GET",)
    failures = []
    try:
        url, query = build_url(app, world, endpoint, expect)
        for identity in ORDER:
            if mutating:  # every identity meets the same untouched world
                assert wait_for_jobs(app, 180.0)  # a job the last request queued writes no more
                app.extensions["sachnoi"].engine.dispose()
                for suffix in ("-wal", "-shm"):
                    Path(str(db_file) + suffix).unlink(missing_ok=True)
                shutil.copyfile(matrix_template.home / "sachnoi.db", db_file)
            client = app.test_client()
            login_as(client, world, identity)
            response = client.open(url, method=method, query_string=query, data={},
                                   headers={"Tus-Resumable": "1.0.0", "Upload-Length": "10",
                                            "Accept": "text/html"})
            response.get_data()  # consume streamed bodies, as a real client would
            response.close()
            got = classify(response, expect.also_ok)
            if not acceptable(expect.who[identity], got):
                failures.append(f"{identity}: expected {expect.who[identity]}, got {got} "
                                f"(HTTP {response.status_code})")
    finally:
        wait_for_jobs(app, 180.0)
        app.extensions["sachnoi"].engine.dispose()
    assert not failures, f"{method} {path}:\n  " + "\n  ".join(failures)
