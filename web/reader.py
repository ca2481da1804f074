"""Reader pages: home, search, book page with the player."""
from __future__ import annotations

from flask import Blueprint, abort, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from catalog.models import Book
from catalog.text import fold
from streaming.access import can_listen, can_see, is_live
from web.extensions import db_session
from web.media import token_for

bp = Blueprint("reader", __name__)


def _listener():
    return current_user if current_user.is_authenticated else None


def _live_books(session, limit: int = 24):
    rows = session.scalars(select(Book).where(Book.state == "published", Book.deleted_at.is_(None))
                           .order_by(Book.published_at.desc(), Book.id.desc()).limit(limit * 2)).all()
    return [b for b in rows if is_live(b)][:limit]


@bp.get("/")
def home():
    return render_template("home.html", books=_live_books(db_session()))


@bp.get("/search")
def search():
    q = (request.args.get("q") or "").strip()[:200]
    books = []
    if q:
        session = db_session()
        try:
            from catalog.search import search_books
        except ImportError:  # the full-text search module is optional at this layer's start
            needle = f"%{fold(q)}%"
            books = [b for b in session.scalars(select(Book).where(Book.title_folded.like(needle))) if is_live(b)]
        else:
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
    stream_url = None
    if decision.allowed and has_stream:
        stream_url = url_for("media.hls_master", book_id=row.id, t=token_for(row, _listener()))
    return render_template("book.html", book=row, decision=decision, has_stream=has_stream,
                           stream_url=stream_url)
