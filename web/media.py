"""Media routes: HLS playlists and segments, downloads and the audiobook manifest of a book.

Every request checks the title's access policy (streaming.access). Files come only from the
media store, by keys built here from the book's uuid and a strictly matched file name, so no
part of the URL reaches the filesystem unchecked.
"""
from __future__ import annotations

import gzip
import re

from flask import Blueprint, Response, abort, current_app, jsonify, request, send_file
from flask_login import current_user

from catalog.models import Book, Library
from recordings.errors import UnsafeKeyError
from streaming.access import can_listen
from web.extensions import db_session, media_store

bp = Blueprint("media", __name__)

_RENDITION = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")
_FILE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,80}$")
_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t", ".m4s": "audio/mp4",
          ".mp4": "audio/mp4", ".aac": "audio/aac", ".mp3": "audio/mpeg", ".m4b": "audio/mp4",
          ".json": "application/audiobook+json", ".audiobook": "application/audiobook+zip"}


def current_listener():
    return current_user if current_user.is_authenticated else None


def book_for_listening(book_id: int) -> Book:
    session = db_session()
    book = session.get(Book, book_id)
    if book is None or book.deleted_at is not None:
        abort(404)
    library = session.get(Library, book.library_id)
    decision = can_listen(book, current_listener(), request.remote_addr,
                          library.onsite_networks if library else "")
    if not decision.allowed:
        abort(401 if decision.reason == "login-required" else 403)
    return book


def _send(key: str, *, playlist: bool = False):
    store = media_store()
    try:
        path = store.path(key)
    except UnsafeKeyError:
        abort(404)
    if not path.is_file():
        abort(404)
    mimetype = next((t for ext, t in _TYPES.items() if path.name.endswith(ext)), "application/octet-stream")
    if playlist:
        body = path.read_bytes()
        response = Response(body, mimetype=mimetype)
        if "gzip" in request.headers.get("Accept-Encoding", "") and len(body) > 512:
            response.set_data(gzip.compress(body, 6))
            response.headers["Content-Encoding"] = "gzip"
        response.headers["Vary"] = "Accept-Encoding"
        response.headers["Cache-Control"] = "private, max-age=60"
        return response
    response = send_file(path, mimetype=mimetype, conditional=True, etag=True, max_age=86400)
    response.headers["Cache-Control"] = "private, max-age=86400, immutable"
    return response


@bp.get("/books/<int:book_id>/hls/master.m3u8")
def hls_master(book_id: int):
    book = book_for_listening(book_id)
    return _send(f"derived/books/{book.uuid}/hls/master.m3u8", playlist=True)


@bp.get("/books/<int:book_id>/hls/<rendition>/<name>")
def hls_file(book_id: int, rendition: str, name: str):
    if not _RENDITION.match(rendition) or not _FILE.match(name):
        abort(404)
    book = book_for_listening(book_id)
    return _send(f"derived/books/{book.uuid}/hls/{rendition}/{name}", playlist=name.endswith(".m3u8"))


@bp.get("/books/<int:book_id>/mp3/<name>")
def chapter_mp3(book_id: int, name: str):
    if not re.match(r"^\d{2,3}\.mp3$", name):
        abort(404)
    book = book_for_listening(book_id)
    return _send(f"derived/books/{book.uuid}/mp3/{name}")


@bp.get("/books/<int:book_id>/book.m4b")
def book_m4b(book_id: int):
    book = book_for_listening(book_id)
    response = _send(f"derived/books/{book.uuid}/book.m4b")
    response.headers["Content-Disposition"] = f'attachment; filename="book-{book.id}.m4b"'
    return response


@bp.get("/books/<int:book_id>/manifest.json")
def manifest(book_id: int):
    book = book_for_listening(book_id)
    try:
        from catalog.readium import build_manifest
    except ImportError:  # packaging not installed yet: serve the stored manifest
        return _send(f"derived/books/{book.uuid}/manifest.json")
    base = current_app.config.get("PUBLIC_BASE_URL") or request.host_url.rstrip("/")
    response = jsonify(build_manifest(book, f"{base}/books/{book.id}/"))
    response.mimetype = "application/audiobook+json"
    return response
