"""Helpers for the reader tests (log in, CSRF token, media tokens)."""
from __future__ import annotations

import re


def csrf_from(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def login(client, username: str) -> str:
    """Log `client` in; returns the CSRF token for API calls."""
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"username": username, "password": "mat-khau-" + username,
                                           "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return csrf_from(client.get("/").get_data(as_text=True))


def media_token(app, book_id: int, user_id: int | None, ttl_s: int = 600, now: float | None = None,
                use: str = "s") -> str:
    """A token as the site would hand it out: a reader's is bound to the account's current session version."""
    from catalog.models import User
    from streaming import tokens
    version = None
    if user_id is not None:
        with app.extensions["sachnoi"].sessions() as s:
            version = s.get(User, user_id).session_version
    return tokens.issue(app.config["SECRET_KEY"], book_id=book_id, subject=tokens.subject_for(user_id, version),
                        ttl_s=ttl_s, now=now, use=use)
