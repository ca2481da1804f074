"""Shared fixtures: settings in a temporary instance folder, the app, a client, a live server,
the PostgreSQL URL (skipped or required), a Playwright Chromium, and the ingested demo book."""
from __future__ import annotations

import os
import shutil
import threading
import uuid
from pathlib import Path

import pytest

from service_checks import PG_URL, services_required, skip_or_fail  # noqa: F401 - fixtures' helpers

ROOT = Path(__file__).resolve().parents[1]
# The standards' schemas live in shared/ beside the repository (a clean clone in CI has it there).
STANDARDS = next((p for p in (ROOT.parent / "shared" / "standards", Path("/work/shared/standards"))
                  if p.is_dir()), ROOT.parent / "shared" / "standards")
CHROMIUM = os.environ.get("SACHNOI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-quic", "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture
def home(tmp_path) -> Path:
    path = tmp_path / "instance"
    path.mkdir()
    return path


@pytest.fixture
def settings(home) -> dict:
    return {"HOME": str(home), "SECRET_KEY": "test-" + uuid.uuid4().hex, "WTF_CSRF_ENABLED": True,
            "TESTING": True}


@pytest.fixture
def app(settings):
    from catalog.migrate import upgrade
    from web.app import create_app
    from web.config import load_settings
    upgrade(load_settings(settings)["DATABASE_URL"])
    application = create_app(settings)
    yield application
    from web.runtime import wait_for_jobs
    wait_for_jobs(application, 180.0)  # no job thread left writing to a database about to be removed
    application.extensions["sachnoi"].engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def ctx(app):
    """A studio Context sharing the app's database and media store."""
    from studio.context import Context, StudioSettings
    services = app.extensions["sachnoi"]
    return Context(sessions=services.sessions, store=services.store, settings=StudioSettings.from_mapping(app.config))


@pytest.fixture
def pg_url() -> str:
    """A fresh, empty schema on the PostgreSQL test server; dropped afterwards."""
    try:
        import psycopg
        conn = psycopg.connect(PG_URL.replace("postgresql+psycopg", "postgresql"), connect_timeout=3,
                               autocommit=True)
    except Exception as exc:  # any connection failure means "no server here"
        skip_or_fail(f"PostgreSQL not reachable at {PG_URL}: {exc.__class__.__name__}")
    schema = "t_" + uuid.uuid4().hex[:12]
    conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    conn.close()


class LiveServer:
    def __init__(self, app):
        from werkzeug.serving import make_server
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()


@pytest.fixture(scope="session")
def rgw(tmp_path_factory):
    """A real S3 server (Ceph RADOS Gateway, tests/rgw_server.py) for the whole run; stopped by pid at
    the end. Skipped with the reason when Ceph cannot start, failing instead under
    SACHNOI_REQUIRE_SERVICES=1 (CI)."""
    from rgw_server import RGWUnavailable, start_rgw
    try:
        server = start_rgw(tmp_path_factory.mktemp("rgw"))
    except RGWUnavailable as exc:
        skip_or_fail(f"Ceph RADOS Gateway unavailable: {exc}")
    yield server
    server.stop()


@pytest.fixture
def s3_settings(rgw, monkeypatch) -> dict:
    """A fresh, empty bucket on the test RGW: the settings that point the media store at it, with the
    AWS credential variables set for this test."""
    from rgw_server import new_bucket
    for name, value in rgw.env().items():
        monkeypatch.setenv(name, value)
    return {"MEDIA_URL": f"s3://{new_bucket(rgw)}", "S3_ENDPOINT_URL": rgw.endpoint, "S3_REGION": "us-east-1"}


@pytest.fixture
def live_server(app):
    server = LiveServer(app)
    yield server
    server.stop()


@pytest.fixture
def start_server():
    """start_server(app) -> LiveServer on a free loopback port, stopped after the test."""
    servers = []

    def start(application):
        server = LiveServer(application)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def ensure_vendor() -> None:
    """Copy the npm front-end files into web/static/vendor (make does this; tests may run without make)."""
    target = ROOT / "web" / "static" / "vendor"
    sources = {"hls.min.js": ROOT / "node_modules/hls.js/dist/hls.min.js",
               "tus.min.js": ROOT / "node_modules/tus-js-client/dist/tus.min.js",
               "axe.min.js": ROOT / "node_modules/axe-core/axe.min.js"}
    target.mkdir(parents=True, exist_ok=True)
    for name, src in sources.items():
        if not (target / name).exists():
            if not src.exists():
                pytest.fail(f"{src} missing: run `make install` (npm packages)")
            shutil.copy(src, target / name)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (no downloaded browser)."""
    if not Path(CHROMIUM).exists():
        skip_or_fail(f"Chromium not found at {CHROMIUM}")
    ensure_vendor()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        # Playwright's launch() gives every run a fresh temporary user-data dir of its own.
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory) -> Path:
    """An instance folder with the demo session ingested and published (done once per test run)."""
    from web.cli_core import ingest_folder_cli
    from web.config import load_settings
    home = tmp_path_factory.mktemp("demo-instance")
    settings = load_settings({"HOME": str(home), "SECRET_KEY": "demo-" + uuid.uuid4().hex})
    ingest_folder_cli(ROOT / "examples" / "demo-session", library=None, publish=True, accept_qc=True,
                      quiet=True, settings=settings)
    return home


@pytest.fixture(scope="session")
def rabbitmq_url():
    """A fresh virtual host on the RabbitMQ server at 127.0.0.1:5672 (guest/guest) for this test run,
    so parallel runs never share a queue; deleted afterwards. Skipped when the server is not there
    (failing under SACHNOI_REQUIRE_SERVICES=1)."""
    import shutil
    import socket
    import subprocess
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=3).close()
    except OSError as exc:
        skip_or_fail(f"RabbitMQ not reachable at 127.0.0.1:5672: {exc}")
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        skip_or_fail("rabbitmqctl not found: cannot make a virtual host for the test run")
    vhost = "sachnoi-test-" + uuid.uuid4().hex[:10]
    for args in (["add_vhost", vhost], ["set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"]):
        done = subprocess.run([ctl, "-q", *args], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            skip_or_fail(f"rabbitmqctl {args[0]} failed: {done.stderr.strip()[:200]}")
    yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    subprocess.run([ctl, "-q", "delete_vhost", vhost], capture_output=True, timeout=60)
