"""Media routes: HLS playlists and segments, chapter MP3s, the M4B, the audiobook manifest and package.

Every URL carries a signed media token (`?t=`, see streaming.tokens) bound to the book, a use
(stream, download, app) and a holder: the public where anyone may listen, a reader's login
(account and session version) or an app credential. On every request the holder is re-loaded and
the access policy (streaming.access.check_holder) checked again; a reader's stream and download
tokens work only beside that reader's login. Playlists are rewritten on the way out so every URI
inside them carries the same token. Manifests and `.audiobook` packages are also served to apps
identified by HTTP Basic or a bearer app credential (web.opds_auth). Files come only from the
media store, by keys built here from the book's uuid and a strictly matched file name, so no part
of the URL reaches the filesystem unchecked.

Serving modes (`MEDIA_SERVE_MODE`): `direct` sends the bytes from Python (byte ranges, ETags);
`x-accel` answers with `X-Accel-Redirect: <X_ACCEL_PREFIX><key>` and lets nginx send the file;
`auth-request` is x-accel plus HLS segments that nginx sends on its own after asking
`/_authz/media` once per token and caching the answer for up to MEDIA_AUTHZ_CACHE_S seconds;
`signed-url` is x-accel plus media playlists whose segment URLs nginx checks by itself
(`secure_link`, streaming.signed_links) until the token expires, except for on-site titles
(docs/nginx.conf). Playlists are always made here, since they carry tokens.

`path-token` (and any mode with an object store, `store.is_remote`): the player gets
`/m/<path token>/<book uuid>/<version>/hls/master.m3u8`, a path whose relative URIs all inherit
the token and the published media version (studio.media_versions), so playlists go out as
stored. The path token is the reader's media token plus, for titles nginx may serve alone, an
expiry and a `secure_link` signature over token, book and version (streaming.signed_links); nginx
checks it and sends segments from the media folder or its cache of the object store, and the app
makes only the playlists. With an object store the web process never opens a file on local disk:
playlists are read from the store, downloads answer 302 to a presigned URL, and anything else
(segments without nginx in front) is streamed from the store.
"""
from __future__ import annotations

import gzip
import hmac
import re
import time
from urllib.parse import urljoin

from flask import Blueprint, Response, abort, current_app, g, jsonify, request, send_file, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from catalog import apps
from catalog.access import is_visible
from catalog.models import Book, Library, MediaVersion, User
from catalog.readium import build_manifest
from delivery.hls import add_query, rewrite_uris
from recordings.errors import MissingMediaError, UnsafeKeyError
from recordings.store import CHUNK, SHARED_HLS, hls_key, served_prefix
from streaming import signed_links, tokens
from streaming.access import Decision, can_listen, can_see, check_holder, depends_on_address
from web import opds_auth
from web.extensions import db_session, media_store, public_base
from web.security import InsecureConfigError

bp = Blueprint("media", __name__)

_RENDITION = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")
_FILE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,80}$")
_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t", ".m4s": "audio/mp4",
          ".mp4": "audio/mp4", ".aac": "audio/aac", ".mp3": "audio/mpeg", ".m4b": "audio/mp4",
          ".json": "application/audiobook+json", ".audiobook": "application/audiobook+zip",
          ".jpg": "image/jpeg", ".epub": "application/epub+zip", "-daisy202.zip": "application/daisy+zip"}
PLAYLIST_CACHE = "private, max-age=60"
MEDIA_CACHE = "private, max-age=86400, immutable"
RENAMED_CACHE = "private, max-age=0, must-revalidate"

SERVE_MODES = ("direct", "x-accel", "auth-request", "signed-url", "path-token")
KEYED_MODES = ("auth-request", "signed-url", "path-token")  # modes that share MEDIA_AUTHZ_KEY with nginx
ACCEL_MODES = ("x-accel", "auth-request", "signed-url", "path-token")  # nginx sends what the app allowed
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_VERSION = re.compile(r"^(?:0|[0-9a-f]{16})$")  # "0": a book packaged before versions
AUTHZ_KEY_HEADER = "X-Sachnoi-Authz-Key"
MIN_AUTHZ_KEY_LENGTH = 16
SAMPLE_AUTHZ_KEY = "REPLACE-WITH-MEDIA_AUTHZ_KEY"  # docs/nginx.conf's placeholder
# The client's request target as nginx received it ($request_uri, not decoded): only the exact
# shape playlists hand out passes, so the path nginx matched and the one checked here are the same
# string and the token is the one nginx put in its cache key ($arg_t).
_ORIGINAL_URI = re.compile(r"^/books/([0-9]{1,12})/hls/([^/?#%]+)/([^/?#%]+)(?:\?t=([A-Za-z0-9_.-]{0,200}))?$")
NGINX_SENT = (".m4s", ".mp4", ".ts", ".aac", ".key")  # the extensions docs/nginx.conf routes here


@bp.record_once
def _check_serve_mode(state) -> None:
    """Refuse to start with an unknown mode, or in auth-request mode without a strong shared key."""
    config = state.app.config
    mode = config["MEDIA_SERVE_MODE"]
    if mode not in SERVE_MODES:
        raise ValueError(f"MEDIA_SERVE_MODE = {mode!r} không hợp lệ, chọn một trong {', '.join(SERVE_MODES)} "
                         f"(unknown media serve mode)")
    key = str(config.get("MEDIA_AUTHZ_KEY") or "")
    if mode in KEYED_MODES and (len(key) < MIN_AUTHZ_KEY_LENGTH or key == SAMPLE_AUTHZ_KEY):
        raise InsecureConfigError(
            f"MEDIA_SERVE_MODE = {mode} cần MEDIA_AUTHZ_KEY ngẫu nhiên, dài ít nhất {MIN_AUTHZ_KEY_LENGTH} "
            f"ký tự (không phải giá trị mẫu), giống giá trị trong cấu hình nginx "
            f"({mode} mode needs a random key of {MIN_AUTHZ_KEY_LENGTH}+ characters shared with nginx)")


def current_listener():
    return current_user if current_user.is_authenticated else None


def _onsite_networks(book: Book) -> str:
    library = db_session().get(Library, book.library_id)
    return library.onsite_networks if library else ""


def _session_version(user) -> int:
    """The account's session version, from a User row or Flask-Login's LoginUser (its `row`)."""
    return int(getattr(user, "row", user).session_version)


def token_for(book: Book, user, use: str = tokens.STREAM, *, app_id: int | None = None) -> str:
    """The media token a page, the API or a manifest hands out for `book` to `user` (None =
    anonymous) and `use`: public where anyone here may listen, else bound to the app credential
    `app_id` or to the user's login (account and session version). App links live APP_LINK_TTL_S
    (the app renews them by fetching the manifest again), the rest MEDIA_TOKEN_TTL_S."""
    config = current_app.config
    public = can_listen(book, None, request.remote_addr, _onsite_networks(book))
    if public.allowed:
        subject = tokens.PUBLIC
    elif user is None:  # no anonymous token for a title the public may not hear
        _deny(401, "login-required")
    elif app_id is not None:
        subject = tokens.app_subject(app_id)
    else:
        subject = tokens.subject_for(user.id, _session_version(user))
    ttl = config["APP_LINK_TTL_S"] if use == tokens.APP else config["MEDIA_TOKEN_TTL_S"]
    return tokens.issue(config["SECRET_KEY"], book_id=book.id, subject=subject, use=use, ttl_s=int(ttl))


def _refusal(status: int, reason: str) -> Response:
    response = jsonify(error=reason)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _deny(status: int, reason: str):
    abort(_refusal(status, reason))


def book_for_listening(book_id: int, uses: tuple[str, ...], *, release: bool = True) -> Book:
    """The book named in the URL, if the request's token (of one of `uses`) and the access policy
    both allow it.

    With `release`, the book is detached (its columns stay loaded) and the read transaction ends
    here, so the database (SQLite's single writer lock in particular) is not held while bytes go out.
    """
    book, claims, decision = check_listening(book_id, request.args.get("t"), uses)
    g.media_token, g.media_claims = request.args["t"], claims
    g.media_signed = current_app.config.get("MEDIA_SERVE_MODE") == "signed-url" and \
        not depends_on_address(book, decision)  # on-site titles: nginx cannot check the address
    if release:
        db_session().expunge(book)
        db_session().rollback()
    return book


def check_listening(book_id: int, token: str | None,
                    uses: tuple[str, ...] = (tokens.STREAM,)) -> tuple[Book, tokens.Claims, Decision]:
    """The book, the token's claims and the policy's (allowing) decision for this request's holder
    and address; otherwise the request is aborted: 401/403 with a reason, or the 404 of a missing
    book for a book this holder may not know of (a draft answers like an unknown id)."""
    session = db_session()
    try:
        claims = tokens.verify(current_app.config["SECRET_KEY"], token, book_id=book_id, uses=uses)
    except tokens.TokenError as exc:
        _deny(exc.status, exc.reason)
    book = session.get(Book, book_id)
    if book is None or book.deleted_at is not None:
        abort(404)
    account, app_valid = None, False
    if claims.app_id is not None:
        found = apps.by_id(session, claims.app_id)
        app_valid, account = found is not None, (found[1] if found else None)
    elif claims.user_id is not None:
        account = session.get(User, claims.user_id)
    decision = check_holder(book, claims, account,
                            login_id=current_user.id if current_user.is_authenticated else None,
                            app_valid=app_valid, remote_addr=request.remote_addr,
                            onsite_networks=_onsite_networks(book))
    if decision.reason == "not-published":
        abort(404)
    if not decision.allowed:
        _deny(401 if decision.reason in ("login-required", "revoked") else 403, decision.reason)
    g.media_holder = opds_auth.Requester(account, claims.app_id)
    return book, claims, decision


def media_prefix(book: Book) -> str:
    """Where this book's media are served from now: its published version, else the old layout."""
    return served_prefix(book.uuid, book.media_version)


def uses_path_tokens() -> bool:
    """Players get `/m/<path token>/...` stream URLs (path-token mode, or media on an object store)."""
    return current_app.config.get("MEDIA_SERVE_MODE") == "path-token" or bool(media_store().is_remote)


def stream_url(book: Book, token: str) -> str:
    """The master playlist URL a player is handed for `book` with the media token `token`."""
    if not uses_path_tokens():
        return url_for("media.hls_master", book_id=book.id, t=token)
    config = current_app.config
    key = str(config.get("MEDIA_AUTHZ_KEY") or "")
    version = book.media_version or "0"
    address_bound = depends_on_address(book, can_listen(book, current_listener(), request.remote_addr,
                                                        _onsite_networks(book)))
    if key and not address_bound:   # nginx may send this title's segments itself
        claims = tokens.verify(config["SECRET_KEY"], token, book_id=book.id)
        path_token = signed_links.path_token(token, book.uuid, version, expires=claims.expires, key=key)
    else:                           # no signature: every request reaches the app and its full check
        path_token = token
    return url_for("media.path_master", path_token=path_token, book_uuid=book.uuid, version=version)


def _store_text(key: str) -> str:
    """A stored text file (a playlist), read from the store (never a local path of a remote one)."""
    try:
        with media_store().open(key) as fh:
            return fh.read().decode("utf-8")
    except (MissingMediaError, UnsafeKeyError, FileNotFoundError):
        abort(404)


def _path_or_404(key: str):
    try:
        path = media_store().path(key)
    except UnsafeKeyError:
        abort(404)
    if not path.is_file():
        abort(404)
    return path


def _mimetype(name: str) -> str:
    return next((t for ext, t in _TYPES.items() if name.endswith(ext)), "application/octet-stream")


def _send_playlist(key: str, signed_files_of: tuple[str, str, str | None] | None = None):
    """A playlist with the media token on every URI. `signed_files_of` = (book uuid, rendition,
    media version): in signed-url mode its media files get URLs nginx checks itself
    (streaming.signed_links), in the same version as the playlist."""
    query = f"t={g.media_token}"
    config = current_app.config

    def uri_for(uri: str) -> str:
        if signed_files_of and g.media_signed and uri.endswith(NGINX_SENT) and "/" not in uri:
            try:
                uuid, rendition, version = signed_files_of
                if SHARED_HLS.match(uri):
                    version = None   # a content-named segment: one copy for every version (hls_key)
                return signed_links.segment_url(uuid, rendition, uri, expires=g.media_claims.expires,
                                                key=str(config["MEDIA_AUTHZ_KEY"]), version=version)
            except ValueError:
                pass  # a name nginx would not route: the app's own route serves it, checked
        return add_query(uri, query)
    return _playlist_response(rewrite_uris(_store_text(key), uri_for), key)


def _playlist_response(text: str, key: str) -> Response:
    body = text.encode("utf-8")
    response = Response(body, mimetype=_mimetype(key))
    if "gzip" in request.headers.get("Accept-Encoding", "") and len(body) > 256:
        response.set_data(gzip.compress(body, 6))
        response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept-Encoding"
    response.headers["Cache-Control"] = PLAYLIST_CACHE
    return response


def _send_file(key: str, *, download_name: str | None = None, cache: str = MEDIA_CACHE):
    """Send a stored file. HLS segments carry a content hash in their names, so they are cached
    as immutable; chapter MP3s, the M4B and covers keep their names when re-made, so callers pass
    a revalidating `cache` for them (ETags make the re-check cheap).

    From an object store: a 302 to a short-lived presigned URL (with `download_name` as its
    Content-Disposition), or, where the store gives none, the bytes streamed from it."""
    mimetype = _mimetype(key)
    store = media_store()
    if store.is_remote:
        return _send_remote(key, mimetype, download_name=download_name, cache=cache)
    path = _path_or_404(key)
    if current_app.config.get("MEDIA_SERVE_MODE") in ACCEL_MODES:
        prefix = current_app.config["X_ACCEL_PREFIX"].rstrip("/") + "/"
        response = Response(status=200, mimetype=mimetype)
        response.headers["X-Accel-Redirect"] = prefix + key
        response.headers["Cache-Control"] = cache
    else:
        response = send_file(path, mimetype=mimetype, conditional=True, etag=True, max_age=86400)
        response.headers["Cache-Control"] = cache
    if download_name:
        response.headers["Content-Disposition"] = f'attachment; filename="{download_name}"'
    return response


def _send_remote(key: str, mimetype: str, *, download_name: str | None, cache: str) -> Response:
    store = media_store()
    if download_name is not None or not key.endswith(NGINX_SENT):
        url = store.presigned_url(key, int(current_app.config["MEDIA_PRESIGN_TTL_S"]), filename=download_name)
        if url:
            if not store.exists(key):
                abort(404)
            response = Response(status=302)
            response.headers["Location"] = url
            response.headers["Cache-Control"] = "no-store"  # the URL expires: never reuse the redirect
            return response
    try:
        fh = store.open(key)
    except (MissingMediaError, UnsafeKeyError, FileNotFoundError):
        abort(404)

    def chunks():
        with fh:
            while block := fh.read(CHUNK):
                yield block
    response = Response(chunks(), mimetype=mimetype)
    response.headers["Cache-Control"] = cache
    if download_name:
        response.headers["Content-Disposition"] = f'attachment; filename="{download_name}"'
    return response


@bp.get("/books/<int:book_id>/hls/master.m3u8")
def hls_master(book_id: int):
    book = book_for_listening(book_id, (tokens.STREAM,))
    return _send_playlist(f"{media_prefix(book)}/hls/master.m3u8")


@bp.get("/books/<int:book_id>/hls/<rendition>/<name>")
def hls_file(book_id: int, rendition: str, name: str):
    if not _RENDITION.match(rendition) or not _FILE.match(name):
        abort(404)
    book = book_for_listening(book_id, (tokens.STREAM,))
    key = hls_key(book.uuid, book.media_version, rendition, name)
    return _send_playlist(key, (book.uuid, rendition, book.media_version)) if name.endswith(".m3u8") \
        else _send_file(key)


def _served_version(path_token: str, book_uuid: str, version: str) -> str | None:
    """Check a path-token request (token, signature, holder, policy) and return the version it
    names (the current one, or a replaced one still within its grace period; None: "0", the
    unversioned layout)."""
    if not _UUID.match(book_uuid) or not _VERSION.match(version):
        abort(404)
    session = db_session()
    book_id = session.execute(select(Book.id).where(Book.uuid == book_uuid)).scalar()
    if book_id is None:
        abort(404)
    token, signed = signed_links.split_path_token(path_token)
    if not token:
        _deny(403, "malformed")
    if signed is not None:   # nginx refuses a wrong or expired signature with 403: so does the app
        key = str(current_app.config.get("MEDIA_AUTHZ_KEY") or "")
        if not key or not signed_links.path_token_valid(path_token, book_uuid, version, key=key):
            _deny(403, "bad-signature")
    book, claims, _decision = check_listening(book_id, token, (tokens.STREAM,))
    g.media_token, g.media_claims, g.media_signed = token, claims, False
    if version != "0" and version != book.media_version and session.execute(select(MediaVersion.id).where(
            MediaVersion.book_id == book.id, MediaVersion.version == version)).first() is None:
        abort(404)
    session.rollback()
    return None if version == "0" else version


@bp.get("/m/<path_token>/<book_uuid>/<version>/hls/master.m3u8")
def path_master(path_token: str, book_uuid: str, version: str):
    """The master playlist under a path token: sent as stored (its URIs are relative)."""
    key = f"{served_prefix(book_uuid, _served_version(path_token, book_uuid, version))}/hls/master.m3u8"
    return _playlist_response(_store_text(key), key)


@bp.get("/m/<path_token>/<book_uuid>/<version>/hls/<rendition>/<name>")
def path_file(path_token: str, book_uuid: str, version: str, rendition: str, name: str):
    """A media playlist (as stored), or a segment when nginx did not send it itself (no nginx in
    front, or a title whose path token carries no signature: on-site titles)."""
    if not _RENDITION.match(rendition) or not _FILE.match(name):
        abort(404)
    key = hls_key(book_uuid, _served_version(path_token, book_uuid, version), rendition, name)
    if name.endswith(".m3u8"):
        return _playlist_response(_store_text(key), key)
    return _send_file(key)


def _authz_denied(status: int, reason: str) -> Response:
    response = _refusal(status, reason)
    response.headers["X-Accel-Expires"] = "0"  # nginx never keeps a refusal
    return response


@bp.get("/_authz/media")
def authz_media():
    """nginx's `auth_request` target (auth-request mode): may the HLS file in X-Original-URI be sent?

    The same token and access-policy check as the media routes (`check_listening`). Allowed: 204
    with `X-Media-Dir` (folder under MEDIA_ROOT), `X-Media-Type`, `X-Media-Cache-Control` and
    `X-Accel-Expires` (seconds nginx may reuse the answer: MEDIA_AUTHZ_CACHE_S, never past the
    token's expiry, 0 when the decision depends on the client's address). Refused: 401/403, never
    cached. Without the mode on and the shared key in `X-Sachnoi-Authz-Key` the route is a 404.
    """
    config = current_app.config
    key = str(config.get("MEDIA_AUTHZ_KEY") or "").encode()
    given = request.headers.get(AUTHZ_KEY_HEADER, "").encode()
    if config.get("MEDIA_SERVE_MODE") != "auth-request" or not key or not hmac.compare_digest(given, key):
        abort(404)
    match = _ORIGINAL_URI.match(request.headers.get("X-Original-URI", ""))
    if match is None:
        return _authz_denied(403, "bad-uri")
    book_id, rendition, name, token = match.groups()
    if not _RENDITION.match(rendition) or not _FILE.match(name) or not name.endswith(NGINX_SENT):
        return _authz_denied(403, "bad-uri")
    try:
        book, claims, decision = check_listening(int(book_id), token)
    except HTTPException as exc:
        status = exc.response.status_code if exc.response is not None else exc.code
        reason = (exc.response.get_json(silent=True) or {}).get("error") if exc.response is not None else None
        # auth_request passes on 401 and 403 only (anything else becomes a 500): no book is a 403
        return _authz_denied(status if status in (401, 403) else 403, reason or "no-book")
    ttl = 0 if depends_on_address(book, decision) else \
        min(max(0, int(config["MEDIA_AUTHZ_CACHE_S"])), claims.expires - int(time.time()))
    # nginx parses this answer again on every cache hit: the fewer headers, the cheaper a segment
    # (measured: ~2 µs of nginx CPU per request), so no Content-Type and no browser headers.
    response = Response(status=204)
    del response.headers["Content-Type"]
    response.proxy_only = True
    # nginx keeps this answer per book, file type and token: a book's segments are all content-named
    # (shared by its versions) or, packaged before that, none of them, so the folder fits them all
    response.headers["X-Media-Dir"] = hls_key(book.uuid, book.media_version, rendition, name).rsplit("/", 2)[0]
    response.headers["X-Media-Type"] = _mimetype(name)
    response.headers["X-Media-Cache-Control"] = MEDIA_CACHE
    # nginx 1.22 drops a response from its cache if a Cache-Control (private, no-store) comes
    # before X-Accel-Expires, so this answer carries no Cache-Control of its own.
    response.headers["X-Accel-Expires"] = str(max(0, ttl))
    db_session().rollback()
    return response


@bp.get("/books/<int:book_id>/mp3/<name>")
def chapter_mp3(book_id: int, name: str):
    if not re.match(r"^\d{2,3}\.mp3$", name):
        abort(404)
    book = book_for_listening(book_id, (tokens.STREAM, tokens.APP))
    return _send_file(f"{media_prefix(book)}/mp3/{name}", cache=RENAMED_CACHE)


@bp.get("/books/<int:book_id>/book.m4b")
def book_m4b(book_id: int):
    book = book_for_listening(book_id, (tokens.DOWNLOAD,))
    return _send_file(f"{media_prefix(book)}/book.m4b", download_name=f"book-{book.id}.m4b",
                      cache=RENAMED_CACHE)


@bp.get("/books/<int:book_id>/cover.jpg")
def cover(book_id: int):
    """The cover the audiobook manifest names: catalogue metadata, shown wherever the book is."""
    book = db_session().get(Book, book_id)
    if book is None or not can_see(book, current_listener()):
        abort(404)
    return _send_file(f"{media_prefix(book)}/cover.jpg", cache="public, max-age=3600")


def book_for_requester(book_id: int, uses: tuple[str, ...]) -> tuple[Book, str | None]:
    """For what an app fetches (manifest, package): the book, and the media token for the links
    handed out in it. With `t` the token is checked as on the media routes; without it the
    request's reader (Basic, bearer app credential or login cookie, web.opds_auth) must be
    allowed, else an OPDS 401 for anonymous requests. Unpublished titles answer like unknown ids
    to whoever may not see them, and apps never see them (staff review drafts in the browser)."""
    if request.args.get("t"):
        book = book_for_listening(book_id, uses, release=False)
        who = g.media_holder
    else:
        who = opds_auth.requester(public_base())
        book = db_session().get(Book, book_id)
        if book is None or not (is_visible(book) if who.via_app else can_see(book, who.account)):
            abort(404)
        decision = can_listen(book, who.account, request.remote_addr, _onsite_networks(book))
        if not decision.allowed:
            if who.account is None:
                abort(opds_auth.challenge(public_base()))
            _deny(403, decision.reason)
    # links of a live title work for the app without a cookie while its login holds; a draft's
    # (staff reviewing) stay bound to the staff member's login cookie
    use = tokens.APP if is_visible(book) else tokens.STREAM
    return book, token_for(book, who.account, use, app_id=who.app_id)


def _with_token(links: list, folder: str, query: str) -> None:
    """Append `query` to every link (and `toc` child) under `folder`, keeping `#t=` fragments after it."""
    for link in links:
        href = link.get("href", "")
        if "self" not in (link.get("rel") or ()) and urljoin(folder, href).startswith(folder):
            path, hash_, fragment = href.partition("#")
            link["href"] = add_query(path, query) + hash_ + fragment
        _with_token(link.get("children", []), folder, query)


@bp.get("/books/<int:book_id>/manifest.json")
def manifest(book_id: int):
    """The Readium audiobook manifest; every link in it carries a media token that works for the
    requester for as long as their login (or app credential) does, and is renewed by fetching
    the manifest again."""
    book, link_token = book_for_requester(book_id, (tokens.STREAM, tokens.APP))
    folder = f"{public_base()}/books/{book.id}/"
    data = build_manifest(book, folder)
    query = f"t={link_token}"
    for section in ("readingOrder", "toc", "links", "resources"):
        _with_token(data.get(section, []), folder, query)
    response = jsonify(data)
    response.mimetype = "application/audiobook+json"
    response.headers["Cache-Control"] = "private, no-store"  # its links name the requester
    db_session().rollback()
    return response


@bp.get("/books/<int:book_id>/book.audiobook")
def audiobook_package(book_id: int):
    """The Readium `.audiobook` package (manifest and audio in one zip): with a download or app
    token, or for the requesting reader (OPDS acquisition link)."""
    book, _token = book_for_requester(book_id, (tokens.DOWNLOAD, tokens.APP))
    key = f"{media_prefix(book)}/book.audiobook"
    db_session().expunge(book)
    db_session().rollback()
    return _send_file(key, download_name=f"book-{book.id}.audiobook", cache=RENAMED_CACHE)
