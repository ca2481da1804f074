"""Interoperability routes: JSON search API, OPDS 2.0, MARCXML, Dublin Core, OAI-PMH, open data.

Views only translate HTTP to the catalogue's functions (catalog.search, opds, marc, oai,
dublincore, opendata, apps) and back. Readers see published, live, non-deleted titles only.
OPDS apps log in with HTTP Basic or the password grant at `/opds/token` (web.opds_auth); the
reader's shelf answers them, and the account page lists their credentials for revoking.
"""
from __future__ import annotations

import datetime as dt
import gzip
import json
from urllib.parse import quote

from flask import Blueprint, Response, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from catalog import apps, dublincore, marc, oai, opendata, opds
from catalog.covers import book_cover_png, cover_link
from catalog.access import is_visible, visible
from catalog.models import Book, BookSubject, Subject
from catalog.search import count_books, search_books
from catalog.text import sort_key
from streaming.access import listenable_policies
from web import opds_auth
from web.extensions import db_session, public_base, services

bp = Blueprint("interop", __name__)

API_MAX_LIMIT = 100


@bp.record_once
def _exempt_from_csrf(state) -> None:
    # Harvesters POST to /oai (allowed by OAI-PMH) without a CSRF token; the endpoint changes nothing.
    csrf = state.app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(oai_endpoint)
        csrf.exempt(opds_token)  # apps have no CSRF token; it takes a password, not a cookie


def _json(data, mimetype: str = "application/json") -> Response:
    return Response(json.dumps(data, ensure_ascii=False, separators=(",", ":")),
                    mimetype=mimetype, content_type=f"{mimetype}; charset=utf-8")


def _int_arg(name: str, default: int, lo: int, hi: int) -> int:
    try:
        value = int(request.args.get(name, default))
    except (TypeError, ValueError):
        abort(400)
    return min(max(value, lo), hi)


def _visible_book(book_id: int) -> Book:
    book = db_session().get(Book, book_id)
    if book is None or not is_visible(book):
        abort(404)
    return book


def _live():
    return (visible(),)


# -- JSON search ------------------------------------------------------------------------------------

@bp.get("/api/books")
def api_books():
    q = (request.args.get("q") or "")[:200]
    limit = _int_arg("limit", 20, 1, API_MAX_LIMIT)
    offset = _int_arg("offset", 0, 0, 10**6)
    session = db_session()
    found = search_books(session, q, limit=limit, offset=offset)
    base = public_base()
    return _json({
        "query": q, "limit": limit, "offset": offset, "total": count_books(session, q),
        "items": [{
            "id": b.id,
            "title": b.title,
            "subtitle": b.subtitle,
            "contributors": [{"name": c.contributor.name, "role": c.role} for c in b.credits],
            "duration": round(float(b.duration_s or 0), 3),
            "access_policy": b.access_policy,
            "url": f"{base}/books/{b.id}",
            "manifest": f"{base}/books/{b.id}/manifest.json",
        } for b in found],
    })


# -- OPDS 2.0 -----------------------------------------------------------------------------------------

def _opds(data) -> Response:
    return _json(data, opds.OPDS_JSON)


def _paged(query, title: str, path: str) -> Response:
    session = db_session()
    page = _int_arg("page", 1, 1, 10**6)
    per_page = current_app.config["OPDS_PAGE_SIZE"]
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = session.scalars(query.limit(per_page).offset((page - 1) * per_page).options(
        selectinload(Book.credits), selectinload(Book.subjects), selectinload(Book.series),
        selectinload(Book.library), selectinload(Book.renditions))).all()
    return _opds(opds.publications_feed(rows, public_base(), title=title, path=path, page=page, per_page=per_page,
                                        total=total))


@bp.get("/opds/")
@bp.get("/opds")
def opds_root():
    count = db_session().scalar(select(func.count()).select_from(Book).where(*_live()))
    return _opds(opds.navigation_feed(public_base(), new_count=count))


@bp.get("/opds/new")
def opds_new():
    query = select(Book).where(*_live()).order_by(Book.published_at.desc(), Book.id.desc())
    return _paged(query, "Sách mới", "/opds/new")


@bp.get("/opds/subjects")
def opds_subjects():
    rows = db_session().execute(
        select(Subject.id, Subject.term, func.count(Book.id))
        .join(BookSubject, BookSubject.subject_id == Subject.id).join(Book, Book.id == BookSubject.book_id)
        .where(*_live()).group_by(Subject.id, Subject.term)).all()
    rows = sorted(rows, key=lambda r: sort_key(r[1]))
    return _opds(opds.subjects_feed([(r[0], r[1], r[2]) for r in rows], public_base()))


@bp.get("/opds/subjects/<int:subject_id>")
def opds_subject(subject_id: int):
    subject = db_session().get(Subject, subject_id)
    if subject is None:
        abort(404)
    query = (select(Book).join(BookSubject, BookSubject.book_id == Book.id)
             .where(BookSubject.subject_id == subject_id, *_live()).order_by(Book.sort_key, Book.id))
    return _paged(query, subject.term, f"/opds/subjects/{subject_id}")


@bp.get("/opds/search")
def opds_search():
    q = (request.args.get("query") or request.args.get("q") or "")[:200]
    session = db_session()
    page = _int_arg("page", 1, 1, 10**6)
    per_page = current_app.config["OPDS_PAGE_SIZE"]
    found = search_books(session, q, limit=per_page, offset=(page - 1) * per_page)
    return _opds(opds.publications_feed(found, public_base(), title=f"Kết quả tìm: {q}",
                                        path=f"/opds/search?query={quote(q)}", page=page, per_page=per_page,
                                        total=count_books(session, q)))


@bp.get("/opds/books/<int:book_id>")
def opds_publication(book_id: int):
    return _json(opds.publication(_visible_book(book_id), public_base()), opds.OPDS_PUB)


@bp.get("/opds/authentication")
def opds_authentication():
    return _json(opds.authentication_document(public_base()), opds.OPDS_AUTH)


@bp.get("/opds/shelf")
def opds_shelf():
    """The live titles the requesting reader may hear anywhere: what an app shows after login.
    Anonymous requests get the OPDS 401 (challenge and authentication document)."""
    who = opds_auth.requester(public_base())
    if who.account is None:
        return opds_auth.challenge(public_base())
    query = (select(Book).where(*_live(), Book.access_policy.in_(listenable_policies(who.account)))
             .order_by(Book.sort_key, Book.id))
    return _paged(query, "Sách tôi được nghe", "/opds/shelf")


@bp.post("/opds/token")
def opds_token():
    """OAuth 2.0 resource-owner password grant (RFC 6749 4.3) for OPDS apps: a reader's name and
    password, once, for an app credential the reader can revoke. Form or JSON body."""
    body = request.form if request.form else request.get_json(silent=True)
    if not hasattr(body, "get"):  # no body, or JSON that is not an object
        body = {}

    def error(code: str) -> Response:  # RFC 6749 5.2
        response = _json({"error": code})
        response.status_code = 400
        response.headers["Cache-Control"] = "no-store"
        return response

    if body.get("grant_type") != "password":
        return error("unsupported_grant_type")
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username or \
            len(username) > 64 or len(password) > 1024:
        return error("invalid_request")
    user = opds_auth.password_login(username, password)
    if user is None:
        return error("invalid_grant")
    name = body.get("client_id") if isinstance(body.get("client_id"), str) else ""
    token = apps.issue(db_session(), user, name=name or request.user_agent.string[:80])
    db_session().commit()
    response = _json({"access_token": token, "token_type": "bearer"})
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.post("/account/apps/<int:credential_id>/revoke")
@login_required
def revoke_app(credential_id: int):
    """Disconnect one app from the reader's account (its links stop working at once)."""
    session = db_session()
    if apps.revoke(session, current_user.id, credential_id):
        session.commit()
        flash(_("Đã ngắt kết nối ứng dụng."), "info")
    else:
        session.rollback()
    return redirect(url_for("reader.account") + "#ung-dung")


@bp.get("/opds/covers/<int:book_id>.png")
def opds_cover(book_id: int):
    """Where feeds of earlier versions pointed (a placeholder): apps that kept it get the cover
    readers see, the generated PNG itself or a redirect to the uploaded JPEG."""
    book = _visible_book(book_id)
    if book.cover_path:
        return redirect(cover_link(book)[0], code=301)
    response = Response(book_cover_png(book), mimetype="image/png")
    response.cache_control.max_age = 3600
    return response


# -- MARC 21 and Dublin Core ----------------------------------------------------------------------------

@bp.get("/books/<int:book_id>/marc.xml")
def marc_record(book_id: int):
    book = _visible_book(book_id)
    return Response(marc.record_xml(book, public_base()), content_type="application/marcxml+xml; charset=utf-8")


@bp.get("/books/<int:book_id>/marc.mrc")
def marc_iso2709(book_id: int):
    book = _visible_book(book_id)
    return Response(marc.record_iso2709(book, public_base()), content_type="application/marc",
                    headers={"Content-Disposition": f"attachment; filename=sachnoi-{book_id}.mrc"})


@bp.get("/books/<int:book_id>/dc.xml")
def dc_record(book_id: int):
    book = _visible_book(book_id)
    return Response(dublincore.dc_xml(book, public_base()), content_type="application/xml; charset=utf-8")


# -- OAI-PMH ----------------------------------------------------------------------------------------------

def repository() -> oai.Repository:
    cfg = current_app.config
    base = public_base()
    secret = cfg.get("SECRET_KEY") or "sachnoi"
    return oai.Repository(
        base_url=f"{base}/oai",
        site_url=base,
        name=cfg.get("OAI_REPOSITORY_NAME") or f"Sách Nói — {cfg['DEFAULT_LIBRARY_NAME']}",
        admin_email=cfg["OAI_ADMIN_EMAIL"],
        repository_id=oai.repository_identifier(cfg.get("OAI_REPOSITORY_ID"), cfg.get("PUBLIC_BASE_URL")),
        page_size=int(cfg["OAI_PAGE_SIZE"]),
        token_ttl=dt.timedelta(seconds=int(cfg["OAI_TOKEN_TTL_S"])),
        secret=(secret if isinstance(secret, bytes) else str(secret).encode()) + b"/oai",
    )


@bp.route("/oai", methods=["GET", "POST"])
def oai_endpoint():
    source = request.form if request.method == "POST" else request.args
    pairs = [(name, value) for name, values in source.lists() for value in values]
    body = oai.respond(db_session(), pairs, repository())
    response = Response(body, content_type="text/xml; charset=utf-8")
    response.vary.add("Accept-Encoding")
    if request.accept_encodings["gzip"] > 0:  # Identify advertises gzip (OAI-PMH 2.0 section 3.1.3)
        response.set_data(gzip.compress(body, compresslevel=6))
        response.headers["Content-Encoding"] = "gzip"
    return response


# -- open data ----------------------------------------------------------------------------------------------

def _stream_public(render):
    """Stream rows from a session of its own, closed when the body ends (the request's may be gone)."""
    base = public_base()
    factory = services().sessions

    def body():
        session = factory()
        try:
            yield from render(opendata.public_books(session), base)
        finally:
            session.rollback()
            session.close()
    return body()


@bp.get("/opendata/catalog.jsonl")
def opendata_jsonl():
    return Response(_stream_public(opendata.jsonl_lines), content_type="application/jsonl; charset=utf-8",
                    headers={"Content-Disposition": "inline; filename=catalog.jsonl"})


@bp.get("/opendata/catalog.csv")
def opendata_csv():
    def with_bom(rows, base):
        yield "\ufeff"  # lets spreadsheet programs read the UTF-8 Vietnamese text correctly
        yield from opendata.csv_lines(rows, base)
    return Response(_stream_public(with_bom), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": "attachment; filename=catalog.csv"})
