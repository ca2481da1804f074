"""Settings: defaults, then `config.toml` in the instance folder, then `SACHNOI_*` environment variables.

`SACHNOI_HOME` (default `./instance`) chooses the instance folder. Keys are upper-case; an
environment variable `SACHNOI_<KEY>` overrides `<KEY>` (values parsed as TOML scalars when
they look like numbers or booleans, e.g. `SACHNOI_MAX_UPLOAD_MB=4096`).

`SETTINGS` is the one list of settings, each with its default and meaning: code reads
a setting by its name without a fallback of its own, and the README's settings table is generated
from this list (`python -m web.config`; a test keeps the two equal).
"""
from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    meaning: str
    shown: str = ""   # the default as the README shows it when the value alone does not say (computed ones)


SETTINGS: tuple[Setting, ...] = (
    Setting("ENV", "development", "`production` refuses weak settings at start (secret key, cookies)"),
    Setting("SECRET_KEY", "", "required (strong) when `SACHNOI_ENV=production`",
            "generated into `<home>/secret_key` in development"),
    Setting("SECRET_KEY_FALLBACKS", [], "old keys (comma-separated) whose session cookies still verify, "
            "so a key can be rotated without logging everyone out (docs/security.md)"),
    Setting("DATABASE_URL", "", "a `postgresql://` URL switches to PostgreSQL", "`sqlite:///<home>/sachnoi.db`"),
    Setting("MEDIA_ROOT", "", "originals (by SHA-256) and derived media", "`<home>/media`"),
    Setting("MEDIA_URL", "", "empty: media in the folder `MEDIA_ROOT`; `s3://bucket[/prefix]`: media on an "
            "S3-compatible object store (`S3_ENDPOINT_URL`; credentials from `AWS_ACCESS_KEY_ID` and "
            "`AWS_SECRET_ACCESS_KEY`)"),
    Setting("S3_ENDPOINT_URL", "", "the object store's address, e.g. `http://127.0.0.1:7480` (empty: AWS S3)"),
    Setting("S3_REGION", "us-east-1", "region the object store's requests are signed for"),
    Setting("MEDIA_CACHE_DIR", "", "with `MEDIA_URL`: this machine's scratch folder and read cache of "
            "object-store media (files handed to ffmpeg)", "`<home>/media-cache`"),
    Setting("INBOX", "", "the hot folder `sachnoi watch` (or `serve` with `WATCH_INBOX`) ingests from",
            "`<home>/inbox`"),
    Setting("DEFAULT_LIBRARY", "THV", "code of the library new content belongs to"),
    Setting("DEFAULT_LIBRARY_NAME", "Thư viện tỉnh", "name given to that library when it is created on first use"),
    Setting("DEFAULT_PROFILE", "library-streaming",
            "delivery profile: `library-streaming`, `acx`, `podcast`, `ebu-r128`"),
    Setting("BABEL_DEFAULT_LOCALE", "vi", "language of the pages when the reader has not chosen one"),
    Setting("LANGUAGES", ["vi", "en"], "languages a reader may choose"),
    Setting("WORKERS", 2, "parallel encoding / job workers (beside `sachnoi serve`: at most `JOB_CPUS`)"),
    Setting("RUN_WORKERS", True, "`sachnoi serve` runs the durable job workers in-process"),
    Setting("JOB_WORKERS_RUNNING", False, "set by `sachnoi serve` (not by hand): job workers are running; "
            "else the jobs pages queue run in the app's own on-demand job thread"),
    Setting("WATCH_INBOX", False, "`sachnoi serve` also watches the hot folder `SACHNOI_INBOX`"),
    Setting("WEB_PROCESSES", 1, "web processes of `sachnoi serve` (`--processes`); use the number of cores"),
    Setting("WEB_CONNECTIONS", 900, "open connections one-process `sachnoi serve` (waitress) accepts; each "
            "listening player keeps one (at most ~1 000: waitress uses select())"),
    Setting("JOB_NICE", 10, "with `--processes N`: niceness of the job process and its ffmpeg children, "
            "so mastering yields the CPU to listeners"),
    Setting("JOB_CPUS", 0, "cores `sachnoi serve`'s job workers and parallel encodes may keep busy; `0` = all "
            "but one, so listeners keep a core (`sachnoi worker` is not limited)"),
    Setting("JOB_LEASE_S", 60.0, "a claimed job whose worker sent no heartbeat for this long is handed to "
            "another worker"),
    Setting("JOB_MAX_ATTEMPTS", 3, "attempts of a job stage before it is marked failed"),
    Setting("BROKER_URL", "", "task broker: `\"\"` = in-process broker and workers (no server); "
            "`amqp://user:pass@host:5672/vhost` = RabbitMQ, workers on any machine (`sachnoi worker`)"),
    Setting("JOB_TIME_LIMIT_S", 840.0, "one message (a book-level stage, one chapter's master, one encode) is "
            "stopped after this long, ffmpeg included; twice this must stay under RabbitMQ's "
            "`consumer_timeout` (30 min)"),
    Setting("JOB_RESEND_S", 300.0, "a job or part left queued this long after its message gets another one "
            "(a message lost with a dead process); duplicates are harmless"),
    Setting("MAX_UPLOAD_MB", 4096, "one audio file, on every way audio enters (tus, form, hot folder, "
            "`sachnoi ingest`)"),
    Setting("USER_QUOTA_MB", 20480, "a user's stored + pending uploads"),
    Setting("UPLOAD_DISK_RESERVE_MB", 512, "an upload is refused when it would leave less free space than this"),
    Setting("MAX_PENDING_UPLOADS", 20, "unfinished tus uploads per user"),
    Setting("MAX_DECODED_SAMPLES", 2_073_600_000, "frames × channels a take may decode to (6 h of 48 kHz stereo)"),
    Setting("PROBE_TIMEOUT_S", 60.0, "an uploaded file's probe (in a child process) is killed after this long"),
    Setting("MAX_REQUEST_MB", 32, "request body of every route but the upload routes (docs/security.md)"),
    Setting("HEADER_TIMEOUT_S", 20, "waitress: a request's line and headers must arrive within this "
            "(docs/security.md, \"Slow clients\")"),
    Setting("BODY_MIN_RATE_KBS", 1, "waitress: a request body must keep at least this average rate (kB/s) ..."),
    Setting("BODY_GRACE_S", 30, "... after this grace"),
    Setting("WEB_CONNECTIONS_PER_ADDRESS", 300, "waitress: open connections one client address may hold "
            "(`0`: no limit)"),
    Setting("PAUSE_THRESHOLD_DBFS", -50.0, "chapter marking: quieter than this is a pause "
            "(a session's `[chapters]` table may override it)"),
    Setting("PAUSE_MIN_S", 1.75, "chapter marking: a pause this long starts a chapter"),
    Setting("CHAPTER_MIN_S", 10.0, "chapter marking: a split closer than this to the previous one is dropped"),
    Setting("CHAPTER_HEAD_ROOM_TONE_S", 0.75, "chapter marking: room tone left before a chapter's first word"),
    Setting("ALIGN_MARGIN_S", 30.0, "manuscript alignment: how far (s) the narration may run ahead of or behind "
            "an even pace through the chapter (the DTW band's half width)"),
    Setting("DISK_LOW_MB", 1024, "`/healthz` reports `disk: low` below this much free space under the media "
            "folder"),
    Setting("DISK_FULL_FLOOR_MB", 64, "a job whose write failed with less free space than this failed for "
            "want of space (retried later, not counted as an attempt)"),
    Setting("TMP_SWEEP_AGE_S", 600.0, "leftover temporary files (a killed job's) older than this are swept ..."),
    Setting("TMP_SWEEP_EVERY_S", 600.0, "... at worker start and this often"),
    Setting("MEDIA_TOKEN_TTL_S", 6 * 3600, "lifetime of a media token handed to a player"),
    Setting("APP_LINK_TTL_S", 7 * 86400, "lifetime of the links in an audiobook manifest handed to an OPDS app "
            "(7 days; fetching the manifest again renews them; logout or revoking the app ends them at once, "
            "docs/security.md)"),
    Setting("MEDIA_SERVE_MODE", "direct", "`x-accel`: the app checks every media request, nginx sends the bytes "
            "(`X-Accel-Redirect`); `auth-request`: nginx asks the app once per media token and sends HLS "
            "segments itself; `signed-url`: nginx checks signed segment links itself, with no request to the "
            "app (fastest; a link works until its token expires); `path-token`: players get "
            "`/m/<token>/<book>/<version>/hls/` URLs and nginx checks the token's signature and sends segments "
            "from the media folder or the object store (docs/nginx.conf)"),
    Setting("X_ACCEL_PREFIX", "/_media/", "internal nginx location media are sent from (`x-accel`, "
            "`auth-request`, `signed-url`)"),
    Setting("MEDIA_AUTHZ_KEY", "", "key shared with nginx (16+ characters): `auth-request`: what nginx sends "
            "to `/_authz/media`; `signed-url`: what signs segment links"),
    Setting("MEDIA_VERSION_GRACE_S", 86400, "a replaced version of a book's media is removed this long after "
            "the switch (keep it above `MEDIA_TOKEN_TTL_S`: a player may still hold the old playlist)"),
    Setting("MEDIA_PRESIGN_TTL_S", 300, "object store: lifetime of the presigned URL a download is redirected "
            "to (302)"),
    Setting("MEDIA_AUTHZ_CACHE_S", 60, "`auth-request`: how long nginx may reuse an allow decision (the delay "
            "before an unpublish or policy change reaches segments)"),
    Setting("TRUST_PROXY", False, "honour `X-Forwarded-*` only behind your own proxy (a number: that many "
            "proxies)"),
    Setting("SESSION_COOKIE_SECURE", False, "session cookie only over HTTPS (always on in production)"),
    Setting("LOGIN_BACKOFF", {}, "failed-login delays, e.g. `{account_free = 5, address_free = 20}` "
            "(fields of `web.security.BackoffPolicy`)", "`web.security.BackoffPolicy`"),
    Setting("PUBLIC_BASE_URL", "", "the site's public address (`https://sachnoi.thuvien-thaibinh.vn`): absolute "
            "links in MARC 856, OAI-PMH and the podcast feed; `sachnoi export marc` refuses to run without it "
            "(or `--base-url`)"),
    Setting("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"], "Host headers accepted while "
            "`PUBLIC_BASE_URL` is unset (+ the `serve --host` address); any other gets 400 (docs/security.md)"),
    Setting("SERVE_HOST", "", "set by `sachnoi serve --host`; allowed as a Host too"),
    Setting("OPDS_PAGE_SIZE", 50, "publications per page of an OPDS 2.0 feed"),
    Setting("OAI_REPOSITORY_NAME", "", "OAI-PMH Identify `repositoryName`",
            "`Sách Nói — <DEFAULT_LIBRARY_NAME>`"),
    Setting("OAI_REPOSITORY_ID", "", "the `<id>` of OAI identifiers `oai:<id>:<book>`; set it (or "
            "`PUBLIC_BASE_URL`) before the first harvest, identifiers must not change",
            "host of `PUBLIC_BASE_URL` (else `localhost`)"),
    Setting("OAI_ADMIN_EMAIL", "admin@example.org", "OAI-PMH Identify `adminEmail`"),
    Setting("OAI_PAGE_SIZE", 100, "records per OAI-PMH response before a resumption token"),
    Setting("OAI_TOKEN_TTL_S", 24 * 3600, "lifetime of an OAI-PMH resumption token"),
    Setting("PODCAST_EMAIL", "", "podcast owner's e-mail (`itunes:email`); Apple Podcasts and Spotify need it "
            "to verify the feed"),
    Setting("PODCAST_COPYRIGHT", "", "the podcast feed's `<copyright>`", "`© <year> <library name>`"),
    Setting("LISTENER_KEY", "", "key of the listeners' statistics pseudonyms; backups carry it (marked secret) "
            "so statistics stay continuous after a restore", "`<home>/listener_key`, else `SECRET_KEY`"),
    Setting("SMTP_HOST", "", "reset-by-email (\"Quên mật khẩu?\"); works only with `SACHNOI_PUBLIC_BASE_URL` "
            "set too (the link's host never comes from the request); unset, the page tells readers to ask a "
            "librarian for a one-time password"),
    Setting("SMTP_PORT", 587, "SMTP port"),
    Setting("SMTP_SECURITY", "starttls", "`starttls`, `ssl` or `none`"),
    Setting("SMTP_USERNAME", "", "SMTP login (none when empty)"),
    Setting("SMTP_PASSWORD", "", "SMTP password"),
    Setting("MAIL_FROM", "", "sender of reset mail", "`sachnoi@<SMTP_HOST>`"),
    Setting("TIME_ZONE", "Asia/Ho_Chi_Minh", "times shown and exported when no library's own zone applies "
            "(each library sets its own on the statistics page)"),
)

DEFAULTS: dict[str, Any] = {s.name: s.default for s in SETTINGS}

ENV_PREFIX = "SACHNOI_"


def _shown(setting: Setting) -> str:
    value = setting.default
    if setting.shown:
        return setting.shown
    if value == "" or value == [] or value == {}:
        return "empty"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list):
        return f"`{', '.join(value)}`"
    return f"`{value:g}`" if isinstance(value, float) else f"`{value}`"


def settings_table() -> str:
    """The README's settings table (markdown), one row per setting in `SETTINGS`."""
    rows = ["| setting | default | meaning |", "|---|---|---|"]
    rows += [f"| `{ENV_PREFIX}{s.name}` | {_shown(s)} | {s.meaning} |" for s in SETTINGS]
    return "\n".join(rows) + "\n"


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
    settings["MEDIA_CACHE_DIR"] = str(Path(settings["MEDIA_CACHE_DIR"] or home / "media-cache").resolve())
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


if __name__ == "__main__":  # python -m web.config > table: paste between the README's settings markers
    print(settings_table(), end="")
