"""URLs that nginx checks by itself (`secure_link`): the `signed-url` media serve mode.

A segment URL `/_hls/<book uuid>/<rendition>/<file>?e=<expires>&s=<signature>` is sent by nginx
without asking the app, if `s` is base64url (no padding) of MD5 over `"<expires><path> <key>"` and
`expires` (unix seconds) has not passed: what `secure_link_md5 "$secure_link_expires$uri <key>"`
computes (docs/nginx.conf). The app writes these URLs into a media playlist only after the full
token and access-policy check of that playlist request, with the media token's own expiry.

Why MD5 and written here: nginx's `secure_link` module accepts only MD5, and this is its one
formula (a library would add nothing). With the key at the end, forging a URL means a second
preimage of MD5 for a message the app chose, not a collision, and no length extension applies.
What the mode gives up is revocation: a link works until it expires (`MEDIA_TOKEN_TTL_S`).
"""
from __future__ import annotations

import base64
import hashlib
import re

PREFIX = "/_hls/"
_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,80}$")


def signature(path: str, expires: int, key: str) -> str:
    """nginx's secure_link_md5 value for `path` (the request's $uri) until `expires`."""
    digest = hashlib.md5(f"{int(expires)}{path} {key}".encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def segment_url(book_uuid: str, rendition: str, name: str, *, expires: int, key: str) -> str:
    """The signed URL of one HLS file of a book. Raises ValueError for a part nginx would not route."""
    for part in (book_uuid, rendition, name):
        if not _PART.match(part):
            raise ValueError(f"not a plain path segment: {part!r}")
    path = f"{PREFIX}{book_uuid}/{rendition}/{name}"
    return f"{path}?e={int(expires)}&s={signature(path, expires, key)}"
