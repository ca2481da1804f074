"""Settings: defaults, then `config.toml` in the instance folder, then `SACHNOI_*` environment variables.

`SACHNOI_HOME` (default `./instance`) chooses the instance folder. Keys are upper-case; an
environment variable `SACHNOI_<KEY>` overrides `<KEY>` (values parsed as TOML scalars when
they look like numbers or booleans, e.g. `SACHNOI_MAX_UPLOAD_MB=4096`).
"""
from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import Any, Mapping

DEFAULTS: dict[str, Any] = {
    "ENV": "development",            # development | production
    "SECRET_KEY": "",                # generated and kept in the instance folder when empty (development)
    "DATABASE_URL": "",              # default: sqlite:///<home>/sachnoi.db
    "MEDIA_ROOT": "",                # default: <home>/media
    "INBOX": "",                     # hot folder; default: <home>/inbox
    "DEFAULT_LIBRARY": "THV",        # code of the library new content belongs to by default
    "DEFAULT_LIBRARY_NAME": "Thư viện tỉnh",
    "DEFAULT_PROFILE": "library-streaming",
    "BABEL_DEFAULT_LOCALE": "vi",
    "LANGUAGES": ["vi", "en"],
    "WORKERS": 2,                    # in-process job workers
    "RUN_WORKERS": True,             # `serve` runs the durable job worker pool in-process
    "WATCH_INBOX": False,            # let `serve` also watch the hot folder
    "WEB_PROCESSES": 1,              # `serve` web processes; >1 runs granian, the job workers stay in one
    "WEB_CONNECTIONS": 900,          # open client connections one waitress process accepts (< 1 024: select())
    "JOB_NICE": 10,                  # with --processes N: niceness of the job process (mastering yields to the web)
    "JOB_CPUS": 0,                   # cores `serve`'s background jobs may keep busy; 0 = all but one (web.cli_core)
    "MAX_UPLOAD_MB": 4096,           # one audio file (tus, form upload, hot folder, CLI ingest)
    "USER_QUOTA_MB": 20480,
    "MAX_PENDING_UPLOADS": 20,       # unfinished tus uploads per user
    "MAX_DECODED_SAMPLES": 2_073_600_000,  # frames × channels of one take: 6 h of 48 kHz stereo
    "MAX_REQUEST_MB": 32,            # request body of every route but the two upload routes
    "HEADER_TIMEOUT_S": 20,          # waitress: a request's line and headers must arrive within this
    "BODY_MIN_RATE_KBS": 1,          # waitress: a body must keep at least this average rate (kB/s) ...
    "BODY_GRACE_S": 30,              # ... after this grace
    "WEB_CONNECTIONS_PER_ADDRESS": 300,  # waitress: open connections one client address may hold (0: no limit)
    "MEDIA_TOKEN_TTL_S": 6 * 3600,
    "APP_LINK_TTL_S": 7 * 86400,     # links in a manifest handed to an app (renewed by fetching it again)
    "MEDIA_SERVE_MODE": "direct",    # direct | x-accel | auth-request (docs/nginx.conf)
    "X_ACCEL_PREFIX": "/_media/",
    "MEDIA_AUTHZ_KEY": "",           # auth-request: shared key nginx sends to /_authz/media
    "MEDIA_AUTHZ_CACHE_S": 60,       # auth-request: how long nginx may reuse an allow decision
    "TRUST_PROXY": False,
    "SESSION_COOKIE_SECURE": False,
    "PUBLIC_BASE_URL": "",           # e.g. https://sachnoi.thuvien.example.vn: every absolute URL starts so
    "ALLOWED_HOSTS": ["localhost", "127.0.0.1", "[::1]"],  # Host headers accepted without PUBLIC_BASE_URL
    "SERVE_HOST": "",                # set by `sachnoi serve --host`; allowed as a Host too
    # Reset-by-email (web.mail): no SMTP_HOST means no mail, and the page says so.
    "SMTP_HOST": "",
    "SMTP_PORT": 587,
    "SMTP_SECURITY": "starttls",     # starttls | ssl | none
    "SMTP_USERNAME": "",
    "SMTP_PASSWORD": "",
    "MAIL_FROM": "",
    "TIME_ZONE": "Asia/Ho_Chi_Minh",  # IANA zone for times shown when no library's own zone applies
}

ENV_PREFIX = "SACHNOI_"


def instance_home(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get("SACHNOI_HOME") or "instance").resolve()


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def load_settings(overrides: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Merge defaults < instance config.toml < SACHNOI_* env < explicit overrides (tests)."""
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    home = Path(overrides.pop("HOME", None) or instance_home(environ)).resolve()
    settings = dict(DEFAULTS)
    config_file = home / "config.toml"
    if config_file.is_file():
        with open(config_file, "rb") as fh:
            settings.update({k.upper(): v for k, v in tomllib.load(fh).items()})
    for name, raw in environ.items():
        if name.startswith(ENV_PREFIX) and name != "SACHNOI_HOME":
            settings[name[len(ENV_PREFIX):]] = _parse_env_value(raw)
    settings.update(overrides)
    settings["HOME"] = str(home)
    settings["DATABASE_URL"] = settings["DATABASE_URL"] or f"sqlite:///{home / 'sachnoi.db'}"
    settings["MEDIA_ROOT"] = str(Path(settings["MEDIA_ROOT"] or home / "media").resolve())
    settings["INBOX"] = str(Path(settings["INBOX"] or home / "inbox").resolve())
    return settings


def ensure_secret_key(settings: dict[str, Any]) -> None:
    """Development: generate a random key once and keep it in the instance folder.

    Production refuses to start without a strong key (checked in web.security).
    """
    if settings.get("SECRET_KEY") or settings.get("ENV") == "production":
        return
    home = Path(settings["HOME"])
    home.mkdir(parents=True, exist_ok=True)
    key_file = home / "secret_key"
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    settings["SECRET_KEY"] = key_file.read_text().strip()
