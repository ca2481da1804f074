"""Offline listening and the installable web app: the service worker, the web app manifest, the
"Sách đã tải" page, and the JSON a page asks before downloading a title and on every reconnect.

The rule (who may keep a copy) is streaming.offline.may_keep; what is downloaded is the HLS
rendition nearest 64 kbps (streaming.offline.offline_rendition), fetched by web/static/offline.js
into Cache Storage and played by the same player through the service worker (web/static/sw.js).
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, jsonify, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from catalog.covers import cover_link
from catalog.manuscripts import read_along
from catalog.models import Book
from streaming.access import can_see, depends_on_address
from streaming.offline import may_keep, offline_rendition
from web.extensions import db_session, media_store
from web.media import token_for

bp = Blueprint("offline", __name__)

STATIC = Path(__file__).resolve().parent / "static"
THEME_COLOUR, BACKGROUND_COLOUR = "#0b5394", "#ffffff"  # site.css: --accent and --bg (light scheme)
ICON_SIZES = (192, 512)


def _listener():
    return current_user if current_user.is_authenticated else None


def _onsite_networks(book: Book) -> str:
    return book.library.onsite_networks if book.library else ""


@bp.app_template_global()
def offline_offered(book, decision) -> bool:
    """Whether the book page offers "Tải về nghe ngoại tuyến" (never for on-site titles)."""
    return bool(decision.allowed) and not depends_on_address(book, decision)


@bp.get("/sw.js")
def service_worker():
    """The service worker, from the site root so that its scope is the whole site."""
    response = send_file(STATIC / "sw.js", mimetype="text/javascript", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = "/"
    return response


@bp.get("/manifest.webmanifest")
def web_manifest():
    """The web app manifest (installable app: name, icons, start URL, display mode)."""
    icon = lambda name, size, purpose: {  # noqa: E731
        "src": url_for("static", filename=f"icons/{name}"), "sizes": f"{size}x{size}",
        "type": "image/png", "purpose": purpose}
    body = {
        "name": _("Sách Nói"), "short_name": _("Sách Nói"), "lang": "vi", "dir": "ltr",
        "description": _("Nghe sách nói của thư viện, cả khi không có mạng."),
        "id": "/", "start_url": url_for("reader.home"), "scope": "/", "display": "standalone",
        "theme_color": THEME_COLOUR, "background_color": BACKGROUND_COLOUR,
        "icons": [icon(f"icon-{s}.png", s, "any") for s in ICON_SIZES] +
                 [icon("icon-maskable-512.png", 512, "maskable")],
        "shortcuts": [{"name": _("Sách đã tải"), "url": url_for("offline.library")}],
    }
    response = jsonify(body)
    response.mimetype = "application/manifest+json"
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.get("/offline")
def library():
    """"Sách đã tải": the titles this browser holds (listed by offline.js from IndexedDB)."""
    return render_template("offline.html")


@bp.get("/api/books/<int:book_id>/offline")
def check(book_id: int):
    """May this browser keep an offline copy of the book now, and what to download.

    {"book_id", "allowed": bool, "reason", "csrf_token", "account" (the login's id or null)} and, when allowed, "title", "rendition",
    "bitrate" (bit/s), "size_bytes", "master" (playlist URL with a stream token), "page", "cover",
    "manifest", "text" (the read-along text's URL, api.book_text, or null). Asked before a download and for every copy
    when the device reconnects; 404 (an unknown or no longer visible title) means "no" as well.
    """
    book = db_session().get(Book, book_id)
    if book is None or not can_see(book, _listener()):
        response = jsonify(book_id=book_id, allowed=False, reason="not-found")
        response.status_code = 404
    else:
        decision = may_keep(book, _listener(), request.remote_addr, _onsite_networks(book))
        body = {"book_id": book.id, "allowed": decision.allowed, "reason": decision.reason,
                "csrf_token": generate_csrf(), "account": current_user.id if current_user.is_authenticated else None}
        chosen = offline_rendition(media_store(), book) if decision.allowed else None
        if decision.allowed and chosen is None:
            body.update(allowed=False, reason="not-packaged")
        elif decision.allowed:
            token = token_for(book, _listener())
            has_text = read_along(db_session(), book.id) is not None
            body.update(title=book.title, rendition=chosen.name, bitrate=chosen.bitrate,
                        size_bytes=chosen.size_bytes,
                        master=url_for("media.hls_master", book_id=book.id, t=token),
                        page=url_for("reader.book", book_id=book.id),
                        cover=request.script_root + cover_link(book)[0],
                        manifest=url_for("media.manifest", book_id=book.id, t=token),
                        text=url_for("api.book_text", book_id=book.id) if has_text else None)
        response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    db_session().rollback()
    return response
