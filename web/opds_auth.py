"""Who an OPDS app is (Authentication for OPDS 1.0): HTTP Basic, a bearer app credential, or the
browser's login cookie; and the 401 an app needs to find out how to log in.

Basic checks the reader's username and password on every request (with the login back-off);
the bearer flow (`POST /opds/token`, OAuth 2.0 resource-owner password grant, RFC 6749 4.3)
exchanges them once for an app credential (catalog.apps) the app sends as
`Authorization: Bearer <token>` until the reader revokes it or logs out.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from flask import Response, abort, current_app, request
from flask_login import current_user

from catalog import apps, opds
from catalog.accounts import authenticate
from web.extensions import db_session
from web.security import is_production, login_throttle

REALM = "Sach Noi"  # header values are Latin-1: the realm stays ASCII


@dataclass(frozen=True)
class Requester:
    account: object | None      # a User row or Flask-Login's LoginUser; None when anonymous
    app_id: int | None = None   # the app credential the request came with (bearer flow)
    via_app: bool = False       # identified by `Authorization` (an app), not by the login cookie


def challenge(base_url: str, error: str | None = None) -> Response:
    """401 for an OPDS app: both challenges, the authentication document as the body (its media
    type) and a `Link` to it, as Authentication for OPDS 2.4 asks."""
    document = opds.authentication_document(base_url)
    response = Response(json.dumps(document, ensure_ascii=False), status=401,
                        content_type=f"{opds.OPDS_AUTH}; charset=utf-8")
    response.headers.add("WWW-Authenticate", f'Basic realm="{REALM}", charset="UTF-8"')
    response.headers.add("WWW-Authenticate", f'Bearer realm="{REALM}"' + (f', error="{error}"' if error else ""))
    response.headers["Link"] = f'<{document["id"]}>; rel="http://opds-spec.org/auth/document"; type="{opds.OPDS_AUTH}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def password_login(username: str, password: str):
    """The active account with this name and password (committed back-off bookkeeping), else None.
    Blocked by the back-off: aborts with 429 and Retry-After, before the password is checked; in
    production a password sent over plain HTTP is refused (403) unchecked (Authentication for OPDS
    3.2 wants TLS; behind nginx, `TRUST_PROXY` and X-Forwarded-Proto tell the app)."""
    if is_production(current_app) and not request.is_secure:
        abort(Response(json.dumps({"error": "https_required"}), status=403, content_type="application/json",
                       headers={"Cache-Control": "no-store"}))
    session = db_session()
    throttle = login_throttle()
    wait = throttle.retry_after(session, username, request.remote_addr)
    if wait:
        session.rollback()
        abort(Response(json.dumps({"error": "slow_down"}), status=429, content_type="application/json",
                       headers={"Retry-After": str(wait), "Cache-Control": "no-store"}))
    user = authenticate(session, username, password)
    if user is None:
        session.rollback()
        throttle.record_failure(session, username, request.remote_addr)
    else:
        throttle.record_success(session, username, request.remote_addr)
    session.commit()
    return user


def _basic(value: str) -> tuple[str, str] | None:
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep and len(username) <= 64 and len(password) <= 1024 else None


def requester(base_url: str) -> Requester:
    """The request's reader: from `Authorization` (Basic or Bearer) if sent, else the login cookie.
    Credentials that are sent but wrong answer the OPDS 401 (so an app asks again)."""
    scheme, _sep, value = request.headers.get("Authorization", "").partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        found = apps.credential_for(db_session(), value.strip())
        if found is None:
            abort(challenge(base_url, "invalid_token"))
        return Requester(found[1], found[0].id, via_app=True)
    if scheme == "basic":
        pair = _basic(value)
        user = password_login(*pair) if pair else None
        if user is None:
            abort(challenge(base_url))
        return Requester(user, via_app=True)
    return Requester(current_user if current_user.is_authenticated else None)
