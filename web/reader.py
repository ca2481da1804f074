"""Reader pages: home, search, book page with the player, listening history, account and display settings.

Display settings (high contrast, large text, single-key shortcuts) live on the account
(`User.settings`) for logged-in readers and in a cookie for everyone, so they apply before any
script runs; `html_classes` puts them on the <html> element of every page.
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from catalog import talking_books
from catalog.apps import connected
from catalog.books import newest_visible
from catalog.covers import book_cover_png, cover_link
from catalog.manuscripts import current as current_manuscript
from catalog.models import Book, User
from catalog.search import search_books
from streaming import progress
from streaming.tokens import DOWNLOAD
from streaming.access import can_listen, can_see, can_take_talking_book
from web.extensions import db_session
from web.errors import init_errors
from web.formats import init_formats, local_time
from web.labels import label
from web.media import stream_url as media_stream_url, token_for

bp = Blueprint("reader", __name__)
bp.record_once(lambda state: (init_formats(state.app), init_errors(state.app)))

PREFS = ("high_contrast", "large_text", "shortcuts_off")
PREF_CLASSES = {"high_contrast": "high-contrast", "large_text": "large-text", "shortcuts_off": "no-shortcuts"}
PREF_COOKIE = "sachnoi_prefs"


def _listener():
    return current_user if current_user.is_authenticated else None


def current_prefs() -> dict:
    if current_user.is_authenticated:
        stored = (current_user.row.settings or {}).get("display")
        if isinstance(stored, dict):
            return {k: bool(stored.get(k)) for k in PREFS}
    raw = request.cookies.get(PREF_COOKIE, "")
    return {k: k in raw.split(",") for k in PREFS}


@bp.app_context_processor
def _display_settings():
    prefs = current_prefs()
    return {"display_prefs": prefs,
            "html_classes": " ".join(PREF_CLASSES[k] for k in PREFS if prefs.get(k)),
            "cover_src": lambda book: request.script_root + cover_link(book)[0], "label": label}


def _listening(session, limit: int = 100, include_finished: bool = True):
    """(book, progress row) pairs for the logged-in reader, most recent first, visible books only."""
    if not current_user.is_authenticated:
        return []
    pairs = []
    for row in progress.history(session, user_id=current_user.id, limit=limit):
        book = session.get(Book, row.book_id)
        if book is not None and can_see(book, current_user) and (include_finished or not row.finished):
            pairs.append((book, row))
    return pairs


@bp.get("/")
def home():
    session = db_session()
    return render_template("home.html", books=newest_visible(session),
                           continuing=_listening(session, limit=12, include_finished=False)[:6])


@bp.get("/search")
def search():
    q = (request.args.get("q") or "").strip()[:200]
    books = []
    if q:
        session = db_session()
        books = search_books(session, q, limit=50)
    return render_template("search.html", q=q, books=books)


@bp.get("/books/<int:book_id>")
def book(book_id: int):
    session = db_session()
    row = session.get(Book, book_id)
    if row is None or not can_see(row, _listener()):
        abort(404)
    library = row.library
    decision = can_listen(row, _listener(), request.remote_addr, library.onsite_networks if library else "")
    has_stream = any(r.kind == "hls" for r in row.renditions)
    has_m4b = any(r.kind == "m4b" for r in row.renditions)
    has_package = any(r.kind == "audiobook" for r in row.renditions)
    stream_url = token = download_token = None
    if decision.allowed and has_stream:
        token = token_for(row, _listener())
        stream_url = media_stream_url(row, token)
    if decision.allowed and (has_m4b or has_package):
        download_token = token_for(row, _listener(), DOWNLOAD)
    talking = [k.kind for k in talking_books.available(row)] \
        if can_take_talking_book(row, _listener()).allowed else []
    has_text = bool(stream_url) and current_manuscript(session, row.id) is not None  # the read-along panel
    return render_template("book.html", book=row, decision=decision, has_stream=has_stream, has_text=has_text,
                           stream_url=stream_url, token=token, has_m4b=has_m4b, has_package=has_package,
                           download_token=download_token, talking=talking,
                           narrators=row.contributors("nrt"), authors=row.contributors("aut"))


@bp.get("/covers/<int:book_id>.png")
def generated_cover(book_id: int):
    """The typographic cover of a book without an uploaded one (uploaded covers: librarian.cover_image)."""
    row = db_session().get(Book, book_id)
    if row is None or not can_see(row, _listener()):
        abort(404)
    response = Response(book_cover_png(row), mimetype="image/png")
    response.cache_control.max_age = 3600
    return response


@bp.get("/history")
@login_required
def history():
    return render_template("history.html", items=_listening(db_session()))


@bp.route("/account", methods=["GET", "POST"])
def account():
    """Display settings for everyone; the profile and listening summary for logged-in readers."""
    if request.method == "POST":
        chosen = {k: request.form.get(k) == "on" for k in PREFS}
        if current_user.is_authenticated:
            session = db_session()
            user = session.get(User, current_user.id)
            settings = dict(user.settings or {})
            settings["display"] = chosen
            user.settings = settings
            session.commit()
        flash(_("Đã lưu cài đặt hiển thị."), "info")
        response = redirect(url_for("reader.account"))
        response.set_cookie(PREF_COOKIE, ",".join(k for k in PREFS if chosen[k]), max_age=365 * 86400,
                            samesite="Lax", httponly=True,
                            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")))
        return response
    session = db_session()
    items = _listening(session)
    summary = {"books": len(items), "finished": sum(1 for _b, p in items if p.finished),
               "seconds": sum(min(p.position_s, b.duration_s or p.position_s) for b, p in items)}
    return render_template("account.html", summary=summary, connected_apps=_connected_apps(session),
                           has_password_page="auth.change_password" in current_app.view_functions)


def _connected_apps(session) -> list:
    """(app credential, when it connected in the library's time) for the account page."""
    if not current_user.is_authenticated:
        return []
    return [(row, local_time(row.created_at)) for row in connected(session, current_user.id)]
