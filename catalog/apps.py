"""App credentials: what an OPDS app holds after a reader logs in to it (OAuth password grant).

The access token handed to the app is `<credential id>.<random secret>`; only the SHA-256 of
the secret is stored (it is 256 random bits, so a fast hash is enough: nothing to guess). A
credential is valid while it is not revoked and its account is active with the same
`session_version` it had when issued, so logout, "log out everywhere", a password change,
disabling and a role change end every app at once; the reader can also revoke one app from the
account page.

    token = issue(session, user, name="Thorium")          # shown to the app once
    cred = credential_for(session, token)                 # None when unknown, revoked or stale
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.models import AppCredential, User, utcnow

MAX_NAME = 120
_TOKEN = re.compile(r"^([0-9]{1,18})\.([A-Za-z0-9_-]{20,100})$")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def issue(session: Session, user: User, *, name: str = "") -> str:
    """A new credential for `user` (flushed, not committed); returns the access token to give the app."""
    secret = secrets.token_urlsafe(32)
    cleaned = "".join(ch for ch in (name or "") if ch.isprintable()).strip()[:MAX_NAME]
    row = AppCredential(user_id=user.id, name=cleaned or "Ứng dụng OPDS", secret_sha256=_digest(secret),
                        session_version=user.session_version, created_at=utcnow())
    session.add(row)
    session.flush()
    return f"{row.id}.{secret}"


def is_valid(credential: AppCredential | None, user: User | None) -> bool:
    """Not revoked, and its account active at the session version the credential was issued for."""
    return (credential is not None and credential.revoked_at is None and user is not None
            and user.id == credential.user_id and bool(user.is_active)
            and user.session_version == credential.session_version)


def by_id(session: Session, credential_id: int) -> tuple[AppCredential, User] | None:
    """The credential `credential_id` and its account if it is still valid, else None."""
    credential = session.get(AppCredential, credential_id)
    user = session.get(User, credential.user_id) if credential is not None else None
    if credential is None or user is None or not is_valid(credential, user):
        return None
    return credential, user


def credential_for(session: Session, token: str | None) -> tuple[AppCredential, User] | None:
    """The valid credential an access token names, with its account; None otherwise."""
    match = _TOKEN.match(token or "")
    if match is None:
        return None
    found = by_id(session, int(match.group(1)))
    if found is None or not hmac.compare_digest(found[0].secret_sha256, _digest(match.group(2))):
        return None
    return found


def connected(session: Session, user_id: int) -> list[AppCredential]:
    """The apps a reader is logged in to now (valid credentials), newest first."""
    user = session.get(User, user_id)
    rows = session.scalars(select(AppCredential).where(
        AppCredential.user_id == user_id, AppCredential.revoked_at.is_(None))
        .order_by(AppCredential.created_at.desc(), AppCredential.id.desc())).all()
    return [row for row in rows if is_valid(row, user)]


def revoke(session: Session, user_id: int, credential_id: int) -> bool:
    """Revoke one of `user_id`'s credentials; False when it is not theirs or already revoked."""
    if not 0 < credential_id < 2**63:  # beyond the database's integer: no such row
        return False
    row = session.get(AppCredential, credential_id)
    if row is None or row.user_id != user_id or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    return True
