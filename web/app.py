"""The Flask app factory. `create_app(config)` builds a fresh app; nothing is built at import time."""
from __future__ import annotations

import re
from typing import Any, Mapping

from flask import Flask, abort, current_app, jsonify, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import text
from werkzeug.exceptions import InternalServerError

from catalog.states import BookState, ClipState, ReviewState
from catalog.integrity import CORRUPT_MESSAGE, database_path, is_corrupt, quick_check
from recordings.disk import DISK_FULL_MESSAGE, free_bytes, is_disk_full
from streaming.pseudonyms import listener_secret
from web import (admin, api, clips, i18n, interop, jobs, librarian, media, narration_views, offline, reader, readers,
                 self_service, stats, studio_views, talking_books, uploads)
from web.auth import init_auth
from web.config import ensure_secret_key, load_settings
from web.errors import error_page
from web.extensions import init_services, services
from web.security import init_security
from web.validation import init_validation


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. `config` overrides every other source (used by tests)."""
    settings = load_settings(config)
    ensure_secret_key(settings)
    settings["LISTENER_KEY"] = listener_secret(settings)  # statistics pseudonyms (kept across restores)
    app = Flask(__name__, instance_path=settings["HOME"], instance_relative_config=False)
    app.config.update(settings)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        # every route; the upload routes raise it for their own requests (web.uploads, studio_views)
        MAX_CONTENT_LENGTH=int(float(settings["MAX_REQUEST_MB"]) * 1e6),
    )
    init_validation(app)  # before any blueprint: its rules take the bounded id converter
    CSRFProtect(app)
    _init_host_check(app)
    init_services(app)
    i18n.init_i18n(app)
    init_auth(app)
    _register_blueprints(app)
    app.add_template_filter(format_duration, "duration")
    # templates compare states by name (`book.state == BookState.PUBLISHED`), as the code does
    app.jinja_env.globals.update(BookState=BookState, ClipState=ClipState, ReviewState=ReviewState)
    app.context_processor(_navigation)
    init_security(app)

    init_health(app)
    app.register_error_handler(InternalServerError, _server_error)

    return app


def init_health(app: Flask) -> None:
    """`/healthz`: the database answers, the SQLite file passed `quick_check` when the app started,
    and the disks holding the database and the media have room. 503 when the database is not usable."""
    engine = app.extensions["sachnoi"].engine
    checked: str | list[str]
    try:
        problems = quick_check(engine)
        checked = problems or "ok"
    except Exception as exc:  # not reachable now: the probe below reports that, on every request
        problems, checked = [], f"not run ({exc.__class__.__name__})"
    if problems:
        app.logger.error(CORRUPT_MESSAGE.format(path=database_path(engine)) + " quick_check: %s", problems)
    low_bytes = float(app.config["DISK_LOW_MB"]) * 1e6
    # the store's local folder: the media themselves, or an object store's scratch and cache
    watched = {"media": app.extensions["sachnoi"].store.root, "instance": app.config["HOME"]}

    @app.get("/healthz")
    def healthz():
        body: dict = {"status": "ok", "quick_check": checked}
        try:
            with services().engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # the point of the endpoint is to report any failure
            body.update(status="error", database=str(exc.__class__.__name__))
        free = {name: free_bytes(path) for name, path in watched.items()}
        body["disk_free_mb"] = {name: round(n / 1e6) for name, n in free.items()}
        if any(n < low_bytes for n in free.values()):
            body["disk"] = "low"
            body["status"] = "degraded" if body["status"] == "ok" else body["status"]
        if problems:
            body["status"] = "error"
            body["message"] = CORRUPT_MESSAGE.format(path=database_path(engine))
        return jsonify(body), 503 if body["status"] == "error" else 200


def _server_error(error: InternalServerError):
    """A full disk or a damaged database is told as such (503), not as an internal error;
    anything else is the site's own 500 page (`web.errors`; the traceback is already logged)."""
    cause = error.original_exception or error
    if is_disk_full(cause):
        message = DISK_FULL_MESSAGE
    elif is_corrupt(cause):
        message = CORRUPT_MESSAGE.format(path=database_path(services().engine))
    else:
        return error_page(error)
    try:
        body = render_template("unavailable.html", message=message)
    except Exception:  # the page itself may need what is broken; the sentence is what matters
        body = message
    return body, 503, {"Retry-After": "120", "Cache-Control": "no-store"}


_HOST = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::[0-9]{1,5})?")


def allowed_hosts(settings: Mapping[str, Any]) -> list[str] | None:
    """Host names (lower case, no port) a request may name when `PUBLIC_BASE_URL` is unset;
    None when it is set (absolute URLs then come from it alone, so the Host header is never
    written anywhere). `ALLOWED_HOSTS` is a list or a comma-separated string; a name starting
    with "." also allows its subdomains."""
    if settings.get("PUBLIC_BASE_URL"):
        return None
    raw = settings.get("ALLOWED_HOSTS") or []
    names = raw.split(",") if isinstance(raw, str) else list(raw)
    names.append(settings.get("SERVE_HOST") or "")
    return sorted({n.strip().lower() for n in names if n and n.strip()})


def host_allowed(host: str, allowed: list[str]) -> bool:
    """`host` ("name", "name:port", "[v6]:port") is one of `allowed` (port ignored)."""
    match = _HOST.fullmatch(host.lower())
    if match is None:  # "localhost:80@evil.example" and the like: the URL's host would be another
        return False
    name = match.group(1)
    return any(name == a or (a.startswith(".") and name.endswith(a)) for a in allowed)


def _init_host_check(app: Flask) -> None:
    """Without `PUBLIC_BASE_URL`, feeds, manifests, OAI, podcast RSS and MARC 856 build their
    absolute URLs from the request's Host, so a Host outside `allowed_hosts` is refused (400)
    before any view runs (Host header injection: links to an attacker's site in cached or
    harvested documents)."""
    allowed = allowed_hosts(app.config)
    if allowed is None:
        return

    @app.before_request
    def _check_host():
        if not host_allowed(request.host, allowed):
            abort(400, description="Tên máy chủ (Host) không được phép; đặt PUBLIC_BASE_URL hoặc ALLOWED_HOSTS "
                                   "(host not allowed: set PUBLIC_BASE_URL or ALLOWED_HOSTS)")


def format_duration(seconds: float | None) -> str:
    """'1:02:03' or '2:03' for a number of seconds."""
    total = int(round(seconds or 0))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


# Links shown in the header: (endpoint, Vietnamese label, roles that see it; () = everyone logged in).
NAV_LINKS = (
    ("reader.history", "Đã nghe", ()),
    ("studio_views.index", "Phòng thu", ("studio",)),
    ("jobs.index", "Tiến độ xử lý", ("studio", "librarian")),
    ("librarian.index", "Biên mục", ("librarian",)),
    ("clips.index", "Đoạn giới thiệu", ("librarian",)),
    ("stats.index", "Thống kê", ("librarian",)),
    ("admin.index", "Quản trị", ("admin",)),
)


def _navigation() -> dict:
    links = []
    if current_user.is_authenticated:
        for endpoint, label, roles in NAV_LINKS:
            if endpoint in current_app.view_functions and (not roles or current_user.has_role(*roles)):
                links.append((endpoint, label))
    return {"nav_links": links}


def _register_blueprints(app: Flask) -> None:
    for module in (self_service, readers, reader, media, interop, api, uploads, jobs, studio_views, narration_views,
                   librarian, clips, stats, admin, offline, talking_books):
        app.register_blueprint(module.bp)
