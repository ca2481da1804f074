"""JSON API for the player: progress sync, bookmarks, fresh media tokens, the read-along text.

State-changing calls need the CSRF token in the `X-CSRFToken` header (Flask-WTF checks it). The
progress endpoint also takes `POST` with a form-encoded body carrying `csrf_token`, because
`navigator.sendBeacon` (used on page hide) cannot set headers. Business rules live in
streaming.progress / streaming.bookmarks / streaming.events; this module only maps HTTP to them.
"""
from __future__ import annotations

import gzip
from functools import wraps

from flask import Blueprint, Response, current_app, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import bindparam, select

from catalog.db import read_row
from catalog.ids import ID_MAX
from catalog.models import Book, Library
from streaming import bookmarks, events, progress, readalong
from streaming.access import can_see, in_networks
from web.extensions import db_session, services
from web.media import stream_url, token_for
from web.validation import NumberPolicyError, check_number_fields
from web.labels import error_text

bp = Blueprint("api", __name__, url_prefix="/api")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str = ""):
        super().__init__(message or code)
        self.status, self.code, self.message = status, code, message or code


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    return jsonify(error=exc.code, message=exc.message), exc.status


def login_required_json(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_authenticated:
            return jsonify(error="unauthorized", message=_("Cần đăng nhập.")), 401
        return view(*args, **kwargs)
    return wrapped


def _book(book_id: int) -> Book:
    book = db_session().get(Book, book_id) if 0 <= book_id <= ID_MAX else None
    if book is None or not can_see(book, current_user if current_user.is_authenticated else None):
        raise ApiError(404, "not-found", _("Không tìm thấy sách."))
    return book


# Number fields that may come as text (form-encoded sendBeacon, or a JSON string), held to the
# same number policy as JSON numbers (web.validation).
_NUMBER_FIELDS = ("position_s", "event_time_ms", "seq", "speed", "chapter", "listened_s", "book_id")


def _payload() -> dict:
    """The body as a dict: JSON read with the number policy (web.validation), or the form."""
    if request.is_json:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise ApiError(400, "bad-json", _("Cần một đối tượng JSON, số hữu hạn và không quá lớn."))
    else:
        data = request.form.to_dict()
    try:
        return check_number_fields(data, _NUMBER_FIELDS)
    except NumberPolicyError as exc:
        raise ApiError(400, "bad-number", error_text(exc)) from None


def _progress_body(book: Book) -> dict:
    session = db_session()
    row = progress.get(session, user_id=current_user.id, book_id=book.id)
    return {"book_id": book.id, "duration_s": book.duration_s, "progress": progress.as_dict(row),
            "devices": [{"device_id": d.device_id, "device_name": d.device_name, "position_s": d.position_s,
                         "event_time_ms": d.event_time_ms}
                        for d in progress.devices(session, user_id=current_user.id, book_id=book.id)]}


@bp.get("/books/<int:book_id>/progress")
@login_required_json
def get_progress(book_id: int):
    response = jsonify(_progress_body(_book(book_id)))
    response.headers["Cache-Control"] = "no-store"
    return response


# What a progress report needs of its book, in one read (this endpoint is the busiest write).
_BOOKS, _LIBRARIES = Book.__table__, Library.__table__
_BOOK_FOR_REPORT = (select(_BOOKS.c.id, _BOOKS.c.library_id, _BOOKS.c.duration_s, _BOOKS.c.state,
                           _BOOKS.c.deleted_at, _BOOKS.c.publish_at, _LIBRARIES.c.onsite_networks)
                    .join(_LIBRARIES, _LIBRARIES.c.id == _BOOKS.c.library_id)
                    .where(_BOOKS.c.id == bindparam("book_id")))


@bp.route("/books/<int:book_id>/progress", methods=["PUT", "POST"])
@login_required_json
def put_progress(book_id: int):
    """The busiest write: everything but the statements themselves happens before SQLite's write
    lock is taken (one lock for every writer of every process), and the write is Core on one
    connection, not the ORM session."""
    user = current_user._get_current_object()
    engine = services().engine
    book = read_row(engine, _BOOK_FOR_REPORT, {"book_id": book_id})
    if book is None or not can_see(book, user):
        raise ApiError(404, "not-found", _("Không tìm thấy sách."))
    data = _payload()
    try:
        report = progress.parse_report(data, duration_s=book.duration_s)
    except progress.ProgressError as exc:
        raise ApiError(400, "bad-report", error_text(exc)) from None
    try:
        listened = float(data.get("listened_s") or 0)
    except (TypeError, ValueError):
        listened = 0.0
    where = {"book_id": book.id, "library_id": book.library_id,
             "listener": events.listener_key(current_app.config["LISTENER_KEY"], user_id=user.id),
             "channel": "onsite" if in_networks(request.remote_addr, book.onsite_networks) else "web"}
    with engine.begin() as conn:
        outcome = progress.record(conn, user_id=user.id, book_id=book.id, report=report,
                                  duration_s=book.duration_s)
        if outcome.device_accepted:
            if outcome.first_report:
                events.record(conn, kind="play", **where)
            events.record(conn, kind="listen", seconds=listened, **where)
            if outcome.just_finished:
                events.record(conn, kind="complete", **where)
    return jsonify(book_id=book.id, accepted=outcome.accepted, progress=progress.as_dict(outcome.progress))


@bp.post("/progress/merge")
@login_required_json
def merge_progress():
    """Fold a browser's anonymous progress ({"entries": [{book_id, position_s, ...}]}) into the account."""
    session = db_session()
    entries = _payload().get("entries") or []
    if not isinstance(entries, list):
        raise ApiError(400, "bad-entries", _("`entries` phải là một danh sách."))
    entries = entries[:200]
    merged = []
    for item in entries:
        if not isinstance(item, dict):
            continue
        try:
            check_number_fields(item, _NUMBER_FIELDS)
            book = _book(int(item.get("book_id")))
            report = progress.parse_report(item, duration_s=book.duration_s)
        except (ApiError, progress.ProgressError, TypeError, ValueError):  # NumberPolicyError too
            continue  # a stale entry for a book that is gone or a garbled one: skip it, keep the rest
        merged.append((book.id, report, book.duration_s))
    taken = progress.merge_anonymous(session, user_id=current_user.id, entries=merged)
    session.commit()
    return jsonify(received=len(entries), merged=taken)


@bp.get("/books/<int:book_id>/token")
def media_token(book_id: int):
    """A fresh media token (the player asks again when a long session outlives the first one)."""
    book = _book(book_id)
    token = token_for(book, current_user if current_user.is_authenticated else None)
    # the stream URL too: under path tokens the token is inside the path, with the current version
    response = jsonify(token=token, stream_url=stream_url(book, token),
                       ttl_s=int(current_app.config["MEDIA_TOKEN_TTL_S"]))
    response.headers["Cache-Control"] = "no-store"
    return response


# -- bookmarks ---------------------------------------------------------------------------------------
def _bookmark_call(fn):
    try:
        return fn()
    except bookmarks.BookmarkError as exc:
        status = 404 if isinstance(exc, bookmarks.BookmarkMissing) else 400
        raise ApiError(status, "bookmark", error_text(exc)) from None


@bp.get("/books/<int:book_id>/bookmarks")
@login_required_json
def list_bookmarks(book_id: int):
    book = _book(book_id)
    rows = bookmarks.list_for(db_session(), user_id=current_user.id, book_id=book.id)
    return jsonify(book_id=book.id, bookmarks=[bookmarks.as_dict(r) for r in rows])


@bp.post("/books/<int:book_id>/bookmarks")
@login_required_json
def create_bookmark(book_id: int):
    session = db_session()
    book = _book(book_id)
    data = _payload()
    row = _bookmark_call(lambda: bookmarks.create(
        session, user_id=current_user.id, book_id=book.id, duration_s=book.duration_s,
        position_s=data.get("position_s"), title=data.get("title", ""), note=data.get("note", "")))
    session.commit()
    return jsonify(bookmarks.as_dict(row)), 201


@bp.route("/books/<int:book_id>/bookmarks/<int:bookmark_id>", methods=["PUT", "PATCH"])
@login_required_json
def update_bookmark(book_id: int, bookmark_id: int):
    session = db_session()
    book = _book(book_id)
    data = {k: v for k, v in _payload().items() if k in ("position_s", "title", "note")}
    row = _bookmark_call(lambda: bookmarks.update(
        session, bookmarks.get_own(session, user_id=current_user.id, book_id=book.id, bookmark_id=bookmark_id),
        duration_s=book.duration_s, **data))
    session.commit()
    return jsonify(bookmarks.as_dict(row))


@bp.delete("/books/<int:book_id>/bookmarks/<int:bookmark_id>")
@login_required_json
def delete_bookmark(book_id: int, bookmark_id: int):
    session = db_session()
    book = _book(book_id)
    _bookmark_call(lambda: bookmarks.delete(
        session, bookmarks.get_own(session, user_id=current_user.id, book_id=book.id, bookmark_id=bookmark_id)))
    session.commit()
    return "", 204


@bp.get("/books/<int:book_id>/bookmarks/export")
@login_required_json
def export_bookmarks(book_id: int):
    book = _book(book_id)
    rows = bookmarks.list_for(db_session(), user_id=current_user.id, book_id=book.id)
    fmt = request.args.get("format", "json")
    if fmt == "csv":
        body, mimetype, ext = "\ufeff" + bookmarks.export_csv(rows), "text/csv", "csv"
    elif fmt == "txt":
        body, mimetype, ext = bookmarks.export_text(book.title, rows), "text/plain", "txt"
    else:
        response = jsonify(book_id=book.id, title=book.title, bookmarks=[bookmarks.as_dict(r) for r in rows])
        response.headers["Content-Disposition"] = f'attachment; filename="dau-trang-{book.id}.json"'
        return response
    response = Response(body, mimetype=mimetype)
    response.charset = "utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="dau-trang-{book.id}.{ext}"'
    return response


# -- read-along text (issue 20.4): given to whoever may hear the book --------------------------------
_TEXT_REFUSALS = {"login-required": 401, "no-text": 404}


def _text_call(fn):
    try:
        return fn()
    except readalong.TextRefused as exc:
        raise ApiError(_TEXT_REFUSALS.get(exc.reason, 403), exc.reason,
                       _("Không có văn bản sách này cho bạn.")) from None


@bp.get("/books/<int:book_id>/text")
def book_text(book_id: int):
    """The book's text in chapters, paragraphs and sentences, with book-time start_s/end_s."""
    book = _book(book_id)
    chapters = _text_call(lambda: readalong.text_for(db_session(), book, _listener(), request.remote_addr))
    response = jsonify(book_id=book.id, chapters=[{
        "position": c.position, "title": c.title, "start_s": c.start_s, "duration_s": c.duration_s,
        "sentences": [{"id": s.id, "paragraph": s.paragraph, "text": s.text, "start_s": s.start_s,
                       "end_s": s.end_s} for s in c.sentences]} for c in chapters])
    response.headers["Cache-Control"] = "private, no-cache"  # access may change: ask every time
    response.vary.add("Accept-Encoding")
    if request.accept_encodings["gzip"] > 0:  # a 10-hour book's text: 2.4 MB of JSON, 0.4 MB compressed
        response.set_data(gzip.compress(response.get_data(), compresslevel=6))
        response.headers["Content-Encoding"] = "gzip"
    return response


@bp.get("/books/<int:book_id>/text/search")
def search_text(book_id: int):
    """Sentences containing `q` (without diacritics too), with a snippet and the match in it."""
    book = _book(book_id)
    hits, more = _text_call(lambda: readalong.search(db_session(), book, _listener(), request.remote_addr,
                                                     request.args.get("q", "")))
    response = jsonify(book_id=book.id, q=request.args.get("q", "")[:readalong.QUERY_MAX], more=more, hits=[
        {"sentence_id": h.sentence_id, "chapter": h.chapter, "chapter_title": h.chapter_title,
         "start_s": h.start_s, "snippet": h.snippet, "mark": list(h.mark)} for h in hits])
    response.headers["Cache-Control"] = "private, no-cache"
    return response


def _listener():
    return current_user if current_user.is_authenticated else None
