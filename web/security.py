"""HTTP hardening applied to every response: security headers and the content security policy.

Issue 9 deepens this module (secret-key checks, login back-off, proxy trust).
"""
from __future__ import annotations

from flask import Flask, request

# No inline script or style anywhere: every template loads its code from /static.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "media-src 'self' blob:; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; "
       "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
EMBEDDABLE_PREFIXES = ("/embed/",)  # the clip player may be framed by other sites


def init_security(app: Flask) -> None:
    @app.after_request
    def _headers(response):
        embeddable = request.path.startswith(EMBEDDABLE_PREFIXES)
        csp = CSP.replace("frame-ancestors 'none'", "frame-ancestors *") if embeddable else CSP
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not embeddable:
            response.headers.setdefault("X-Frame-Options", "DENY")
        return response
