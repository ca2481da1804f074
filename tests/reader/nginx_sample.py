"""docs/nginx.conf in a real nginx child process, rendered for temporary paths and ports.

    site = render_site(mode="auth-request", media_root=..., app_address="127.0.0.1:5000",
                       port=8080, key="...", tmp=tmp_path)
    with NginxProcess(tmp_path, site) as nginx:      # nginx.port is listening
        ...

Used by tests/reader/test_nginx_authz.py and benchmarks/bench_segments.py, so what is tested and
measured is the sample operators copy.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "docs" / "nginx.conf"
NGINX = os.environ.get("SACHNOI_NGINX", "/usr/sbin/nginx")
MIME_TYPES = Path("/etc/nginx/mime.types")
_AUTH_BLOCK = re.compile(r"^[ \t]*# >>> auth-request\n.*?^[ \t]*# <<< auth-request\n", re.S | re.M)
_SIGNED_BLOCK = re.compile(r"^[ \t]*# >>> signed-url\n.*?^[ \t]*# <<< signed-url\n", re.S | re.M)


def _block(name: str) -> re.Pattern:
    return re.compile(rf"^[ \t]*# >>> {name}\n.*?^[ \t]*# <<< {name}\n", re.S | re.M)

MAIN = """\
{user}
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
worker_rlimit_nofile {nofile};
events {{ worker_connections {worker_connections}; }}
http {{
    {mime}
    access_log {access_log};
    keepalive_requests {keepalive_requests};
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {site};
{extra}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port}")


def render_site(*, mode: str, media_root: str | Path, app_address: str, port: int, tmp: Path,
                key: str = "", static: str | Path | None = None, store: str = "local",
                store_address: str = "", bucket_path: str = "") -> str:
    """The sample for `mode` ("auth-request", "x-accel", "signed-url" or "path-token", each without
    the others' marked blocks), with its placeholders replaced; path-token with `store` "local" or
    "s3" (then `store_address` host:port and `bucket_path` "bucket[/prefix]"). Raises ValueError if
    a placeholder is missing from the sample."""
    text = SAMPLE.read_text(encoding="utf-8")
    if mode not in ("auth-request", "x-accel", "signed-url", "path-token"):
        raise ValueError(f"no nginx sample for mode {mode!r}")
    if mode != "auth-request":
        text = _AUTH_BLOCK.sub("", text)
    if mode != "signed-url":
        text = _SIGNED_BLOCK.sub("", text)
    if mode != "path-token":
        text = _block("path-token").sub("", text)
    else:
        text = _block("path-token-local" if store == "s3" else "path-token-s3").sub("", text)
    replacements = {
        "/srv/sachnoi/instance/media/": str(Path(media_root)).rstrip("/") + "/",
        "server 127.0.0.1:8000;": f"server {app_address};",
        "listen 80;": f"listen 127.0.0.1:{port};",
        "/srv/sachnoi/web/static/": str(Path(static or ROOT / "web" / "static")).rstrip("/") + "/",
    }
    if mode == "auth-request":
        replacements["/var/cache/nginx/sachnoi-authz"] = str(tmp / "authz-cache")
    if mode in ("auth-request", "signed-url", "path-token"):
        replacements["REPLACE-WITH-MEDIA_AUTHZ_KEY"] = key
    if mode == "path-token" and store == "s3":
        replacements.update({"server 127.0.0.1:7480;": f"server {store_address};",
                             "REPLACE-WITH-STORE-HOST": store_address, "REPLACE-WITH-BUCKET-PATH": bucket_path,
                             "/var/cache/nginx/sachnoi-media": str(tmp / "media-cache")})
    for placeholder, value in replacements.items():
        if placeholder not in text:
            raise ValueError(f"{SAMPLE} no longer contains {placeholder!r}")
        text = text.replace(placeholder, value)
    return text


class NginxProcess:
    """nginx as a child process (`daemon off`) with a main config wrapping `site` (http context)
    and optional `extra` http-context text; stopped on exit from the `with` block. `port` (waited
    for) defaults to the first `listen 127.0.0.1:<port>` in `site`."""

    def __init__(self, tmp: Path, site: str, *, port: int | None = None, extra: str = "",
                 access_log: bool = True, keepalive_requests: int = 1000, worker_connections: int = 1024):
        if port is None:
            found = re.search(r"listen 127\.0\.0\.1:(\d+);", site)
            if found is None:
                raise ValueError("no `listen 127.0.0.1:<port>;` in the site config: pass port=")
            port = int(found.group(1))
        self.tmp, self.port = Path(tmp), port
        self.tmp.mkdir(parents=True, exist_ok=True)
        site_file = self.tmp / "site.conf"
        site_file.write_text(site, encoding="utf-8")
        # Started by root, nginx's workers would run as "nobody" and could not read a private
        # temporary folder; keep them as the current user.
        user = "user root root;" if os.geteuid() == 0 else ""
        self.conf = self.tmp / "nginx.conf"
        self.conf.write_text(MAIN.format(
            user=user, tmp=self.tmp, site=site_file, extra=extra,
            mime=f"include {MIME_TYPES};" if MIME_TYPES.is_file() else "",
            access_log=f"{self.tmp}/access.log" if access_log else "off",
            keepalive_requests=keepalive_requests, worker_connections=worker_connections,
            nofile=2 * worker_connections + 64), encoding="utf-8")
        self.proc: subprocess.Popen | None = None

    def error_log(self) -> str:
        path = self.tmp / "nginx-error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __enter__(self) -> "NginxProcess":
        self.proc = subprocess.Popen([NGINX, "-c", str(self.conf), "-p", str(self.tmp)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_port(self.port)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"nginx did not start: {self.proc.stderr.read().decode()[-2000:]}"
                               f"{self.error_log()[-2000:]}") from None
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __exit__(self, *exc) -> None:
        self.stop()
