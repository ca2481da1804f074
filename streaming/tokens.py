"""Signed media tokens: every playlist, segment, download and manifest link carries one (`?t=...`).

A token names one book, who it was issued to, the kind of use and when it expires:

    subject  "p"            the public (anonymous; only where anonymous listening is allowed)
             "u<id>.<ver>"  a reader's login: account id and its `session_version` at issue time
             "a<id>"        an app credential (catalog.apps), for links inside a manifest an app keeps
    use      "s" stream     HLS playlists and segments, chapter MP3s, the cover
             "d" download   the M4B and the `.audiobook` package
             "a" app        every link of a manifest handed to an app (chapter MP3s, cover, package)

It is `<payload>.<signature>`, both base64url without padding; the signature is HMAC-SHA256 over
the payload with a key derived from the app's SECRET_KEY (passed in; nothing global). A token only
proves that the site handed out this URL: who it names is re-loaded and the access policy re-checked
on every request (streaming.access.check_holder), so a bumped session version or a revoked app
credential ends it at once.

    token = issue(secret, book_id=7, subject=subject_for(3, session_version=5), use=STREAM, ttl_s=6 * 3600)
    claims = verify(secret, token, book_id=7, uses=(STREAM,))      # raises TokenError
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from dataclasses import dataclass

PUBLIC = "p"
STREAM, DOWNLOAD, APP = "s", "d", "a"
USES = (STREAM, DOWNLOAD, APP)
# v2: tokens of v1 (bearer tokens naming a bare user id) no longer verify.
_CONTEXT = b"sachnoi/media-token/v2"
_SUBJECT = re.compile(r"^(?:p|u[0-9]{1,18}\.[0-9]{1,18}|a[0-9]{1,18})$")


class TokenError(Exception):
    """A media token that cannot be used. `status` is the HTTP status the web layer answers with."""

    def __init__(self, reason: str, status: int):
        super().__init__(reason)
        self.reason = reason  # missing | malformed | bad-signature | expired | wrong-book | wrong-use
        self.status = status


@dataclass(frozen=True)
class Claims:
    book_id: int
    subject: str      # "p", "u<user id>.<session version>" or "a<app credential id>"
    use: str          # "s", "d" or "a"
    expires: int      # unix seconds

    @property
    def user_id(self) -> int | None:
        return int(self.subject[1:].split(".")[0]) if self.subject.startswith("u") else None

    @property
    def session_version(self) -> int | None:
        return int(self.subject.split(".")[1]) if self.subject.startswith("u") else None

    @property
    def app_id(self) -> int | None:
        return int(self.subject[1:]) if self.subject.startswith("a") else None


def subject_for(user_id: int | None, session_version: int | None = None) -> str:
    """The subject of a token for a reader's login (None: the public)."""
    if user_id is None:
        return PUBLIC
    if session_version is None:
        raise ValueError("a reader's media token must carry the account's session version")
    return f"u{int(user_id)}.{int(session_version)}"


def app_subject(credential_id: int) -> str:
    return f"a{int(credential_id)}"


def _key(secret: str | bytes) -> bytes:
    if not secret:
        raise ValueError("a SECRET_KEY is needed to sign media tokens")
    raw = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(raw, _CONTEXT, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(secret: str | bytes, *, book_id: int, subject: str, ttl_s: int, use: str = STREAM,
          now: float | None = None) -> str:
    """A token for `book_id`, `subject` and `use`, valid for `ttl_s` seconds from `now` (unix seconds)."""
    if use not in USES or not _SUBJECT.match(subject):
        raise ValueError(f"not a media token subject and use: {subject!r}, {use!r}")
    expires = int((time.time() if now is None else now) + ttl_s)
    payload = f"{int(book_id)}:{subject}:{use}:{expires}".encode("ascii")
    signature = hmac.new(_key(secret), payload, hashlib.sha256).digest()[:20]
    return f"{_b64(payload)}.{_b64(signature)}"


def verify(secret: str | bytes, token: str | None, *, book_id: int, uses: tuple[str, ...] = USES,
           now: float | None = None) -> Claims:
    """Check signature, expiry, book and use. Raises TokenError (401: missing/expired, 403: the rest)."""
    if not token:
        raise TokenError("missing", 401)
    if len(token) > 200 or token.count(".") != 1:
        raise TokenError("malformed", 403)
    payload_b64, signature_b64 = token.split(".")
    try:
        payload = _unb64(payload_b64)
        signature = _unb64(signature_b64)
    except (ValueError, binascii.Error):
        raise TokenError("malformed", 403) from None
    expected = hmac.new(_key(secret), payload, hashlib.sha256).digest()[:20]
    if not hmac.compare_digest(expected, signature):
        raise TokenError("bad-signature", 403)
    try:
        book_text, subject, use, expires_text = payload.decode("ascii").split(":")
        claims = Claims(int(book_text), subject, use, int(expires_text))
    except (UnicodeDecodeError, ValueError):
        raise TokenError("malformed", 403) from None
    if not _SUBJECT.match(claims.subject) or claims.use not in USES:
        raise TokenError("malformed", 403)
    if claims.expires < (time.time() if now is None else now):
        raise TokenError("expired", 401)
    if claims.book_id != int(book_id):
        raise TokenError("wrong-book", 403)
    if claims.use not in uses:
        raise TokenError("wrong-use", 403)
    return claims
