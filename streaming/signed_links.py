"""URLs that nginx checks by itself (`secure_link`): the `signed-url` media serve mode.

A segment URL `/_hls/<book uuid>[/v/<version>]/<rendition>/<file>?e=<expires>&s=<signature>` is sent by nginx
without asking the app, if `s` is base64url (no padding) of MD5 over `"<expires><path> <key>"` and
`expires` (unix seconds) has not passed: what `secure_link_md5 "$secure_link_expires$uri <key>"`
computes (docs/nginx.conf). The app writes these URLs into a media playlist only after the full
token and access-policy check of that playlist request, with the media token's own expiry.

Why MD5 and written here: nginx's `secure_link` module accepts only MD5, and this is its one
formula (a library would add nothing). With the key at the end, forging a URL means a second
preimage of MD5 for a message the app chose, not a collision, and no length extension applies.
What the mode gives up is revocation: a link works until it expires (`MEDIA_TOKEN_TTL_S`).

Path tokens (`path-token` mode, media on an object store): the player's stream URL is
`/m/<path token>/<book uuid>/<version>/hls/master.m3u8`, and every relative URI in the playlists
inherits the prefix, so S3-style query signatures (which relative URIs lose) are not needed.
The path token is `<media token>~<expires>~<signature>` with the signature over
`/m/<media token>/<book uuid>/<version>` by the formula above: nginx checks it for the whole book
version (`secure_link`); the app checks it too and then the media token itself (holder, policy,
revocation) for every playlist. A bare `<media token>` (no key, or a title only heard on site)
makes nginx pass every request to the app.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time

PREFIX = "/_hls/"
_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,80}$")
_PATH_TOKEN = re.compile(r"^([A-Za-z0-9_-]{1,160}\.[A-Za-z0-9_-]{1,60})(?:~([0-9]{1,12})~([A-Za-z0-9_-]{22}))?$")
SEPARATOR = "~"   # in neither base64url nor the media token's alphabet; unreserved in URLs


def signature(path: str, expires: int, key: str) -> str:
    """nginx's secure_link_md5 value for `path` (the request's $uri) until `expires`."""
    digest = hashlib.md5(f"{int(expires)}{path} {key}".encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def segment_url(book_uuid: str, rendition: str, name: str, *, expires: int, key: str,
                version: str | None = None) -> str:
    """The signed URL of one HLS file of a book (of its published media `version`, when it has one:
    `/_hls/<uuid>/v/<version>/<rendition>/<file>`). Raises ValueError for a part nginx would not route."""
    for part in (book_uuid, rendition, name) + ((version,) if version else ()):
        if not _PART.match(part):
            raise ValueError(f"not a plain path segment: {part!r}")
    path = f"{PREFIX}{book_uuid}/{f'v/{version}/' if version else ''}{rendition}/{name}"
    return f"{path}?e={int(expires)}&s={signature(path, expires, key)}"


def _path_signed(media_token: str, book_uuid: str, version: str) -> str:
    return f"/m/{media_token}/{book_uuid}/{version}"


def path_token(media_token: str, book_uuid: str, version: str, *, expires: int, key: str) -> str:
    """The path token for one book version: the media token, its expiry and nginx's signature."""
    for part in (book_uuid, version):
        if not _PART.match(part):
            raise ValueError(f"not a plain path segment: {part!r}")
    if _PATH_TOKEN.match(media_token) is None or SEPARATOR in media_token:
        raise ValueError("not a media token")
    sig = signature(_path_signed(media_token, book_uuid, version), expires, key)
    return f"{media_token}{SEPARATOR}{int(expires)}{SEPARATOR}{sig}"


def split_path_token(text: str) -> tuple[str, tuple[int, str] | None]:
    """(media token, (expires, signature) or None when unsigned). A malformed one gives ("", None),
    which the media token check refuses."""
    found = _PATH_TOKEN.match(text or "")
    if found is None:
        return "", None
    token, expires, sig = found.groups()
    return token, (int(expires), sig) if expires else None


def path_token_valid(text: str, book_uuid: str, version: str, *, key: str, now: float | None = None) -> bool:
    """Is `text` a signed path token for this book version, not expired? (What nginx checks.)"""
    token, signed = split_path_token(text)
    if signed is None:
        return False
    expires, sig = signed
    expected = signature(_path_signed(token, book_uuid, version), expires, key)
    return hmac.compare_digest(expected, sig) and expires >= (time.time() if now is None else now)
