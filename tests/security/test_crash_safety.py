"""Crash safety: kill -9 of a real `sachnoi serve` during progress writes and during an upload,
and a full disk during mastering."""
from __future__ import annotations

import base64
import errno
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from catalog.db import make_engine, make_sessionmaker
from catalog.models import Progress
from recordings.store import sha256_file
from security_world import PASSWORD, SECRET, make_app

SACHNOI = str(Path(sys.executable).with_name("sachnoi"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, home: Path, threads: int = 8, args: tuple[str, ...] = (), **env: str):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "SACHNOI_HOME": str(home), "SACHNOI_SECRET_KEY": SECRET, **env}
        self.proc = subprocess.Popen([SACHNOI, "serve", "--port", str(self.port), "--threads", str(threads), *args],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:  # not listening yet, or (several processes) not accepting yet
                time.sleep(0.2)
        self.kill()
        raise RuntimeError("sachnoi serve did not start")

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)  # no shutdown handlers, no flush: a power cut
        self.proc.wait(timeout=10)


def _login(url: str, username: str) -> tuple[requests.Session, str]:
    http = requests.Session()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', http.get(url + "/login").text).group(1)
    assert http.post(url + "/login", data={"username": username, "password": PASSWORD.format(username),
                                           "csrf_token": token}, allow_redirects=False).status_code == 302
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', http.get(url + "/").text).group(1)
    return http, csrf


@pytest.mark.slow
@pytest.mark.parametrize("processes", [1, 2])
def test_kill9_during_progress_writes_loses_no_acknowledged_write(world, processes):
    """Lost writes after a crash (a server that acknowledges before committing, or a database
    without durable commits): every position the server answered 200 for survives kill -9.
    With 2 processes the parent is killed and the web processes follow it within a second."""
    server = Server(world.home, args=("--processes", str(processes)))
    acked: list[float] = []
    stop = threading.Event()
    book = world.ids["book"]
    try:
        http, csrf = _login(server.url, "bandoc")

        def write():
            seq = 0
            while not stop.is_set():
                seq += 1
                position = round(seq * 0.001, 3)
                try:
                    r = http.put(f"{server.url}/api/books/{book}/progress", headers={"X-CSRFToken": csrf},
                                 json={"position_s": position, "event_time_ms": int(time.time() * 1000) + seq,
                                       "seq": seq, "device_id": "crash-test"}, timeout=5)
                except requests.RequestException:
                    return
                if r.status_code == 200:
                    acked.append(position)

        thread = threading.Thread(target=write)
        thread.start()
        time.sleep(1.5)
        server.kill()
        stop.set()
        thread.join(timeout=10)
    finally:
        server.kill()
    assert len(acked) > 5, "too few writes acknowledged before the kill"
    sessions = make_sessionmaker(make_engine(f"sqlite:///{world.home / 'sachnoi.db'}"))
    with sessions() as s:
        row = s.scalar(select(Progress).where(Progress.user_id == world.ids["reader"], Progress.book_id == book))
    assert row is not None and row.position_s >= max(acked), (row and row.position_s, max(acked))


@pytest.mark.slow
def test_kill9_during_upload_leaves_no_half_file_under_a_final_name(world):
    """Half-written files under final names (a crash mid-upload that leaves a truncated original
    which later passes for the real one): after kill -9, every file under a final name in the
    store is complete — originals hash to their own names — and the partial upload is only in tmp/."""
    server = Server(world.home)
    total = 8 << 20
    try:
        http, _csrf = _login(server.url, "phongthu")
        meta = "filename " + base64.b64encode(b"take-crash.wav").decode()
        created = http.post(server.url + "/api/uploads/", headers={
            "Tus-Resumable": "1.0.0", "Upload-Length": str(total), "Upload-Metadata": meta})
        assert created.status_code == 201, created.text
        location = created.headers["Location"]
        sent = threading.Event()

        def body():
            chunk = b"\x01" * (256 << 10)
            for i in range(total // len(chunk)):
                if i == 8:
                    sent.set()
                    time.sleep(5)  # the server is now holding a partial upload
                yield chunk

        def patch():
            try:
                http.patch(location, data=body(), timeout=20, headers={
                    "Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
            except requests.RequestException:
                pass

        thread = threading.Thread(target=patch)
        thread.start()
        assert sent.wait(20)
        time.sleep(0.5)
        server.kill()
        thread.join(timeout=30)
    finally:
        server.kill()
    media = world.home / "media"
    for path in (media / "originals").rglob("*"):
        if path.is_file():
            assert sha256_file(path) == path.name.split(".")[0], f"partial content under a final name: {path}"
    finals = [p for p in (media / "derived").rglob("*") if p.is_file() and p.stat().st_size and
              b"\x01" * 1024 in p.read_bytes()[:4096]]
    assert not finals, finals


def test_disk_full_during_mastering_fails_the_job_cleanly_and_the_site_stays_up(world, monkeypatch):
    """Disk full during mastering (simulated by making the media store's writers raise ENOSPC —
    no tmpfs is mounted here): the job is marked failed with the cause, no half-written file
    appears under a final name, and the site keeps answering."""
    from catalog.models import Job
    from recordings.store import MediaStore
    from studio.context import Context, Decisions
    from studio.worker import Worker, enqueue_produce

    app = make_app(world)
    services = app.extensions["sachnoi"]
    ctx = Context(sessions=services.sessions, store=services.store, settings=dict(app.config))
    root = Path(services.store.root)
    before = {p for p in root.rglob("*") if p.is_file()}

    def full_disk(self, key, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", key)

    for name in ("atomic_path", "atomic_dir", "write_bytes", "put_original"):
        monkeypatch.setattr(MediaStore, name, full_disk)
    job_id = enqueue_produce(ctx, world.ids["draft"], Decisions(approve_marks=True, accept_qc_failures=True))
    job_id = getattr(job_id, "id", job_id)
    worker = Worker(ctx, lease_s=30)
    try:
        worker.run_once()
    except OSError:
        pytest.fail("ENOSPC escaped the worker instead of failing the job")
    with services.sessions() as s:
        job = s.get(Job, job_id)
        assert job.state in ("failed", "queued"), job.state  # queued = failed attempt waiting for retry
        assert "No space" in (job.error or "") or "ENOSPC" in (job.error or ""), \
            job.error
    after = {p for p in root.rglob("*") if p.is_file() and "tmp" not in p.relative_to(root).parts}
    assert after <= before, f"new files after a failed, disk-full job: {sorted(after - before)}"
    assert app.test_client().get("/healthz").status_code == 200
    assert app.test_client().get("/").status_code == 200
