"""Short-lived signed media tokens: every playlist, segment and download URL carries one (`?t=...`).

A token names one book and who it was issued to — a reader (`u<id>`) or, for `public` titles,
the public (`p`) — and when it expires. It is `<payload>.<signature>`, both base64url without
padding; the signature is HMAC-SHA256 over the payload with a key derived from the app's
SECRET_KEY (passed in; nothing global). A token only proves that the site handed out this URL
recently: the access policy is still checked on every request.

    token = issue(secret, book_id=7, subject=subject_for(user_id=3), ttl_s=6 * 3600)
    claims = verify(secret, token, book_id=7)      # raises TokenError
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

PUBLIC = "p"
_CONTEXT = b"sachnoi/media-token/v1"


class TokenError(Exception):
    """A media token that cannot be used. `status` is the HTTP status the web layer answers with."""

    def __init__(self, reason: str, status: int):
        super().__init__(reason)
        self.reason = reason  # missing | malformed | bad-signature | expired | wrong-book
        self.status = status


@dataclass(frozen=True)
class Claims:
    book_id: int
    subject: str      # "p" (public) or "u<user id>"
    expires: int      # unix seconds

    @property
    def user_id(self) -> int | None:
        return int(self.subject[1:]) if self.subject.startswith("u") else None


def subject_for(user_id: int | None) -> str:
    return PUBLIC if user_id is None else f"u{int(user_id)}"


def _key(secret: str | bytes) -> bytes:
    if not secret:
        raise ValueError("a SECRET_KEY is needed to sign media tokens")
    raw = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(raw, _CONTEXT, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(secret: str | bytes, *, book_id: int, subject: str, ttl_s: int, now: float | None = None) -> str:
    """A token for `book_id` and `subject` valid for `ttl_s` seconds from `now` (unix seconds)."""
    expires = int((time.time() if now is None else now) + ttl_s)
    payload = f"{int(book_id)}:{subject}:{expires}".encode("ascii")
    signature = hmac.new(_key(secret), payload, hashlib.sha256).digest()[:20]
    return f"{_b64(payload)}.{_b64(signature)}"


def verify(secret: str | bytes, token: str | None, *, book_id: int, now: float | None = None) -> Claims:
    """Check signature, expiry and book. Raises TokenError (401: missing/expired, 403: the rest)."""
    if not token:
        raise TokenError("missing", 401)
    if len(token) > 200 or token.count(".") != 1:
        raise TokenError("malformed", 403)
    payload_b64, signature_b64 = token.split(".")
    try:
        payload = _unb64(payload_b64)
        signature = _unb64(signature_b64)
    except (ValueError, base64.binascii.Error):
        raise TokenError("malformed", 403) from None
    expected = hmac.new(_key(secret), payload, hashlib.sha256).digest()[:20]
    if not hmac.compare_digest(expected, signature):
        raise TokenError("bad-signature", 403)
    try:
        book_text, subject, expires_text = payload.decode("ascii").split(":")
        claims = Claims(int(book_text), subject, int(expires_text))
    except (UnicodeDecodeError, ValueError):
        raise TokenError("malformed", 403) from None
    if claims.expires < (time.time() if now is None else now):
        raise TokenError("expired", 401)
    if claims.book_id != int(book_id):
        raise TokenError("wrong-book", 403)
    return claims
