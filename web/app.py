"""The Flask app factory. `create_app(config)` builds a fresh app; nothing is built at import time."""
from __future__ import annotations

from typing import Any, Mapping

from flask import Flask, jsonify
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import text

from web import i18n
from web.auth import init_auth
from web.config import ensure_secret_key, load_settings
from web.extensions import init_services, services


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. `config` overrides every other source (used by tests)."""
    settings = load_settings(config)
    ensure_secret_key(settings)
    app = Flask(__name__, instance_path=settings["HOME"], instance_relative_config=False)
    app.config.update(settings)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        # every route; the upload routes raise it for their own requests (web.uploads, studio_views)
        MAX_CONTENT_LENGTH=int(float(settings.get("MAX_REQUEST_MB", 32)) * 1e6),
    )
    CSRFProtect(app)
    init_services(app)
    i18n.init_i18n(app)
    init_auth(app)
    _register_blueprints(app)
    app.add_template_filter(format_duration, "duration")
    app.context_processor(_navigation)
    from web.security import init_security
    init_security(app)

    @app.get("/healthz")
    def healthz():
        try:
            with services().engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # the point of the endpoint is to report any failure
            return jsonify(status="error", database=str(exc.__class__.__name__)), 503
        return jsonify(status="ok")

    return app


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
    from flask import current_app
    from flask_login import current_user
    links = []
    if current_user.is_authenticated:
        for endpoint, label, roles in NAV_LINKS:
            if endpoint in current_app.view_functions and (not roles or current_user.has_role(*roles)):
                links.append((endpoint, label))
    return {"nav_links": links}


def _register_blueprints(app: Flask) -> None:
    from web import reader, media
    app.register_blueprint(reader.bp)
    app.register_blueprint(media.bp)
    for optional in ("interop", "api", "uploads", "jobs", "studio_views", "librarian", "clips", "stats",
                     "admin"):
        try:
            module = __import__(f"web.{optional}", fromlist=["bp"])
        except ModuleNotFoundError as exc:
            if exc.name != f"web.{optional}":
                raise
            continue
        app.register_blueprint(module.bp)
