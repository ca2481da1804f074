"""HTTP hardening: secret-key policy, cookie flags, proxy trust, login back-off and security headers.

What each control defends is written up in docs/security.md. In short:

* `check_secret_key` — production refuses to start with no key, a short or low-entropy key, or a
  key known from examples and peers' defaults (hardcoded secret keys let anyone forge a session).
  Old keys listed in `SECRET_KEY_FALLBACKS` still verify cookies, so keys can be rotated.
* `init_security` — cookie flags (`Secure` in production, always `HttpOnly` and `SameSite=Lax`),
  `ProxyFix` only when `TRUST_PROXY` is set (otherwise `X-Forwarded-For` is ignored, so a client
  cannot pick the address the back-off counts against), and headers on every response.
* `LoginThrottle` — failed logins counted per (account name, client address) pair and per client
  address in the `login_attempts` table; past a threshold, further attempts wait with an exponential
  delay. Not per account alone: then anyone could lock a reader out by typing wrong passwords for
  them, and one typist could lock a whole library behind one NAT address out of their accounts.
  Unknown names are counted the same way as real ones, so the back-off reveals nothing.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any, Mapping

from flask import Flask, current_app, request
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from werkzeug.middleware.proxy_fix import ProxyFix

from catalog.models import LoginAttempt, utcnow
from catalog.text import nfc

# No inline script or style anywhere: every template loads its code from /static.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "media-src 'self' blob:; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; "
       "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
EMBEDDABLE_PREFIXES = ("/embed/",)  # the clip player may be framed by other sites

MIN_SECRET_KEY_LENGTH = 32
MIN_DISTINCT_CHARS = 12
# Keys seen in examples, tutorials and peers' shipped configs; never acceptable in production.
KNOWN_WEAK_KEYS = frozenset({
    "", "dev", "development", "secret", "secret-key", "secret_key", "secretkey", "changeme", "change-me",
    "change_me", "please-change-me", "default", "test", "testing", "password", "flask", "sachnoi",
    "sach-noi", "super-secret", "supersecret", "super-secret-key", "your-secret-key", "my-secret-key",
    "replace-me", "xxx", "dev-key", "devkey", "insecure", "not-secret", "notsecret", "s3cr3t",
    "cook", "calibre-web", "keyboard cat", "you-will-never-guess", "hard to guess string",
    "REPLACE_WITH_A_LONG_RANDOM_STRING", "sachnoi-dev-secret-key-change-me-in-production",
})


class InsecureConfigError(RuntimeError):
    """The settings are not safe for production; the message says which setting and why."""


# -- secret keys --------------------------------------------------------------------------------
def _fallbacks(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.replace("\n", ",").split(",") if part.strip()]
    return [str(v) for v in value if v]


def weak_key_reason(key: str | bytes | None) -> str | None:
    """Why `key` is not a strong secret key, or None when it is."""
    if isinstance(key, bytes):
        key = key.decode("latin-1")
    key = (key or "").strip()
    if not key:
        return "SECRET_KEY trống (missing)"
    if key.lower() in {k.lower() for k in KNOWN_WEAK_KEYS}:
        return "SECRET_KEY là khoá mặc định đã bị công bố (a known default key)"
    if len(key) < MIN_SECRET_KEY_LENGTH:
        return f"SECRET_KEY ngắn hơn {MIN_SECRET_KEY_LENGTH} ký tự (shorter than {MIN_SECRET_KEY_LENGTH} characters)"
    if len(set(key)) < MIN_DISTINCT_CHARS:
        return "SECRET_KEY quá ít ký tự khác nhau, không ngẫu nhiên (too little entropy)"
    return None


def check_secret_key(settings: Mapping[str, Any]) -> None:
    """Raise InsecureConfigError in production for a missing/weak key or weak fallback keys."""
    if str(settings["ENV"]).lower() != "production":
        return
    reason = weak_key_reason(settings.get("SECRET_KEY"))
    if reason:
        raise InsecureConfigError(
            f"{reason}. Chế độ production không chạy với khoá yếu: đặt SACHNOI_SECRET_KEY thành một chuỗi "
            f"ngẫu nhiên dài, ví dụ `python -c 'import secrets; print(secrets.token_urlsafe(48))'` "
            f"(production refuses to start without a strong SECRET_KEY)")
    for old in _fallbacks(settings.get("SECRET_KEY_FALLBACKS")):
        if old.lower() in {k.lower() for k in KNOWN_WEAK_KEYS}:
            raise InsecureConfigError("SECRET_KEY_FALLBACKS chứa khoá mặc định đã bị công bố "
                                      "(a fallback key is a known default)")


def is_production(app_or_settings) -> bool:
    config = getattr(app_or_settings, "config", app_or_settings)
    return str(config["ENV"]).lower() == "production"


# -- login back-off ------------------------------------------------------------------------------
@dataclass(frozen=True)
class BackoffPolicy:
    window_s: int = 15 * 60           # failures older than this are forgotten
    account_free: int = 5             # failures per (account name, address) pair before delays start
    address_free: int = 20            # failures per address (many names from one address)
    base_delay_s: float = 2.0         # first delay; doubles with every further failure
    max_delay_s: float = 15 * 60


class LoginThrottle:
    """Failed-login counting per (account name, address) pair and per address (rows in `login_attempts`)."""

    def __init__(self, policy: BackoffPolicy | None = None):
        self.policy = policy or BackoffPolicy()

    @staticmethod
    def keys(username: str, address: str | None) -> list[str]:
        name = nfc(username or "").strip().lower()[:200]
        address = address or "unknown"
        return [f"pair:{name}|{address}", f"ip:{address}"]

    def _delay(self, failures: int, free: int) -> float:
        if failures < free:
            return 0.0
        return min(self.policy.max_delay_s, self.policy.base_delay_s * 2 ** (failures - free))

    def retry_after(self, session: Session, username: str, address: str | None,
                    now: dt.datetime | None = None, known_device: bool = False) -> int:
        """Seconds the caller must wait before another attempt is checked (0 = go ahead).

        `known_device`: the browser has logged in to this account before (a signed device cookie,
        web.auth); the per-address count is then skipped, so one typist guessing behind a
        library's NAT does not lock out the readers who use their own devices there."""
        now = now or utcnow()
        since = now - dt.timedelta(seconds=self.policy.window_s)
        wait = 0.0
        pairs = list(zip(self.keys(username, address), (self.policy.account_free, self.policy.address_free)))
        for key, free in pairs[:1] if known_device else pairs:
            count, last = session.execute(
                select(func.count(LoginAttempt.id), func.max(LoginAttempt.created_at))
                .where(LoginAttempt.key == key, LoginAttempt.created_at >= since)).one()
            delay = self._delay(count, free)
            if delay and last is not None:
                wait = max(wait, (last + dt.timedelta(seconds=delay) - now).total_seconds())
        return max(0, math.ceil(wait))

    def record_failure(self, session: Session, username: str, address: str | None,
                       now: dt.datetime | None = None) -> None:
        now = now or utcnow()
        for key in self.keys(username, address):
            session.add(LoginAttempt(key=key, created_at=now))
        # Forget what is outside the window, so the table stays small.
        session.execute(delete(LoginAttempt).where(
            LoginAttempt.created_at < now - dt.timedelta(seconds=self.policy.window_s)))

    def record_success(self, session: Session, username: str, address: str | None) -> None:
        """A correct password clears the pair's counter (not the address's: one's own
        account must not be a way to reset the per-address limit)."""
        session.execute(delete(LoginAttempt).where(LoginAttempt.key == self.keys(username, address)[0]))


def login_throttle(app: Flask | None = None) -> LoginThrottle:
    app = app or current_app
    return app.extensions["sachnoi_throttle"]


# -- the app hook --------------------------------------------------------------------------------
def _trusted_hops(value: Any) -> int:
    if value is True:
        return 1
    if value in (False, None, "", 0):
        return 0
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 1 if str(value).lower() in ("true", "yes", "on") else 0


def init_security(app: Flask) -> None:
    check_secret_key(app.config)
    app.config["SECRET_KEY_FALLBACKS"] = _fallbacks(app.config.get("SECRET_KEY_FALLBACKS"))
    production = is_production(app)
    secure = bool(app.config.get("SESSION_COOKIE_SECURE")) or production
    app.config.update(SESSION_COOKIE_SECURE=secure, REMEMBER_COOKIE_SECURE=secure,
                      SESSION_COOKIE_HTTPONLY=True, REMEMBER_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax", REMEMBER_COOKIE_SAMESITE="Lax")
    if production:
        app.config.setdefault("PREFERRED_URL_SCHEME", "https")
    hops = _trusted_hops(app.config.get("TRUST_PROXY"))
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)
    policy = BackoffPolicy(**{k: v for k, v in (app.config.get("LOGIN_BACKOFF") or {}).items()})
    app.extensions["sachnoi_throttle"] = LoginThrottle(policy)

    @app.after_request
    def _headers(response):
        if getattr(response, "proxy_only", False):
            return response  # an answer only nginx reads (web.media.authz_media), never a page
        embeddable = request.path.startswith(EMBEDDABLE_PREFIXES)
        csp = CSP.replace("frame-ancestors 'none'", "frame-ancestors *") if embeddable else CSP
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(self), geolocation=()")
        if not embeddable:
            response.headers.setdefault("X-Frame-Options", "DENY")
        if secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

