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
from dataclasses import replace
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


def _disk_full_world(world):
    from studio.context import Context, StudioSettings
    app = make_app(world)
    services = app.extensions["sachnoi"]
    return app, services, Context(sessions=services.sessions, store=services.store, settings=StudioSettings.from_mapping(app.config))


def _attempts(job) -> list[str]:
    return [line for line in (job.error or "").splitlines() if line.startswith("[lần")]


def test_disk_full_during_mastering_fails_the_job_cleanly_and_the_site_stays_up(world, monkeypatch):
    """Disk full during mastering (simulated by making the media store's writers raise ENOSPC —
    no tmpfs is mounted here): every attempt is recorded as "Hết dung lượng đĩa (No space left
    on device)" first, no half-written file appears under a final name, the site keeps answering,
    and once space is back a retry succeeds."""
    from catalog.models import Job
    from recordings.store import MediaStore
    from studio import jobs
    from studio.context import Decisions
    from studio.worker import Worker, enqueue_produce

    app, services, ctx = _disk_full_world(world)
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
        while worker.run_once():
            pass
    except OSError:
        pytest.fail("ENOSPC escaped the worker instead of failing the job")
    with services.sessions() as s:
        job = s.get(Job, job_id)
        assert job.state == "failed", job.state
        assert len(_attempts(job)) == job.max_attempts
        for line in _attempts(job):
            assert "] Hết dung lượng đĩa (No space left on device)." in line, line
    after = {p for p in root.rglob("*") if p.is_file() and "tmp" not in p.relative_to(root).parts}
    assert after <= before, f"new files after a failed, disk-full job: {sorted(after - before)}"
    assert app.test_client().get("/healthz").status_code == 200
    assert app.test_client().get("/").status_code == 200
    monkeypatch.undo()  # space is back
    assert jobs.retry(services.sessions, job_id)
    assert worker.run_once()
    with services.sessions() as s:
        assert s.get(Job, job_id).state == "done"


def test_disk_full_in_libsndfile_and_ffmpeg_writes_says_no_space(world, monkeypatch):
    """A real ENOSPC from the kernel (writes go to /dev/full): libsndfile reports it without the
    errno ("System error." or a codec initialisation error: what staff saw before). The attempt
    is recorded as a full disk, Vietnamese first. DISK_FULL_FLOOR_MB is set
    above this machine's free space, as a disk that is really full would be."""
    import contextlib

    from catalog.models import Job
    from recordings.store import MediaStore
    from studio.context import Decisions
    from studio.worker import Worker, enqueue_produce

    app, services, ctx = _disk_full_world(world)
    ctx.settings = replace(ctx.settings, disk_full_floor_mb=10**12)

    @contextlib.contextmanager
    def to_dev_full(self, key):
        yield Path("/dev/full")
        raise AssertionError("a write to /dev/full succeeded")

    monkeypatch.setattr(MediaStore, "atomic_path", to_dev_full)
    job_id = enqueue_produce(ctx, world.ids["draft"], Decisions(approve_marks=True, accept_qc_failures=True))
    Worker(ctx, lease_s=30).run_once()   # runs every attempt (the in-process broker, run dry)
    with services.sessions() as s:
        lines = _attempts(s.get(Job, job_id))
    assert lines
    for line in lines:
        assert "] Hết dung lượng đĩa (No space left on device)." in line, line


def _descendants(pid: int) -> list[tuple[int, str, str]]:
    """(pid, state, command line) of every process below `pid` (from /proc)."""
    found, parents = [], {pid}
    while True:
        layer = [p for p in _children_of(parents) if p[0] not in {f[0] for f in found}]
        if not layer:
            return found
        found += layer
        parents = {p[0] for p in layer}


def _children_of(pids: set[int]) -> list[tuple[int, str, str]]:
    """(pid, state, command line) of the processes whose parent is in `pids` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state, ppid, ...
        if int(fields[1]) in pids:
            found.append((int(entry.name), fields[0], cmdline))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"  # a zombie has exited; only its parent's wait is missing


@pytest.mark.slow
@pytest.mark.parametrize("processes", [1, 2])
def test_kill9_during_an_encode_takes_ffmpeg_along_and_the_restart_sweeps_its_temporaries(world, tmp_path,
                                                                                         processes):
    """Orphaned encoders (issue 14, "Reliability"): kill -9 of `sachnoi serve` while its worker runs
    ffmpeg left ffmpeg running on, writing to a temporary that nobody would ever move or delete.
    Now ffmpeg dies with the server (PR_SET_PDEATHSIG) and the next start removes the temporaries.
    The encode is slowed down by an `ffmpeg` on PATH that reads its input at 1/50 of real time.
    With 2 processes ffmpeg runs under the job process, which follows the killed parent."""
    from recordings.temporaries import find_temporaries
    from studio.context import Context, Decisions, StudioSettings
    from studio.worker import enqueue_produce

    slow = tmp_path / "slow-bin"
    slow.mkdir()
    (slow / "ffmpeg").write_text("#!/bin/sh\nexec /usr/bin/ffmpeg -readrate 0.02 \"$@\"\n")
    (slow / "ffmpeg").chmod(0o755)
    env = {"PATH": f"{slow}:{os.environ['PATH']}", "SACHNOI_RUN_WORKERS": "true", "SACHNOI_TMP_SWEEP_AGE_S": "0",
           "SACHNOI_JOB_LEASE_S": "5"}
    app = make_app(world)
    services = app.extensions["sachnoi"]
    enqueue_produce(Context(sessions=services.sessions, store=services.store, settings=StudioSettings.from_mapping(app.config)),
                    world.ids["draft"], Decisions(approve_marks=True, accept_qc_failures=True))
    services.engine.dispose()
    encoders: list[int] = []
    args = ("--processes", str(processes))
    server = Server(world.home, args=args, **env)
    try:
        deadline = time.monotonic() + 90
        while not encoders and time.monotonic() < deadline:
            encoders = [pid for pid, _state, cmd in _descendants(server.proc.pid) if "ffmpeg" in cmd]
            time.sleep(0.1)
        assert encoders, "no ffmpeg started by the server's worker"
        time.sleep(0.5)
        left = find_temporaries(world.home / "media")
        assert left, "the encode wrote no temporary"
        server.kill()
        deadline = time.monotonic() + 5  # the job process notices its parent is gone within 1 s
        while any(_alive(pid) for pid in encoders) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in encoders), "ffmpeg outlived the killed server"
        assert all(p.exists() for p in left)  # a crash leaves them; the next start removes them
        server = Server(world.home, args=args, **env)
        deadline = time.monotonic() + 10  # with 2 processes the job process sweeps as it starts
        while any(p.exists() for p in left) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(p.exists() for p in left), [str(p) for p in left if p.exists()]
    finally:
        server.kill()
        for pid in encoders:  # the old code's orphans: do not leave them running after the test
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_sweep_keeps_resumable_uploads_live_writers_and_final_files(tmp_path):
    """The start-up sweep removes only abandoned temporaries: a resumable tus upload is state (its
    reader resumes it after the restart), a temporary changed recently belongs to a live writer in
    another process, and files under final names are never touched."""
    from recordings.store import MediaStore
    from recordings.temporaries import sweep_temporaries
    store = MediaStore(tmp_path / "media")
    root = store.root
    book = root / "derived" / "books" / "b1"
    (book / "hls" / ".aac-64k.x1.tmp").mkdir(parents=True)
    (book / "hls" / ".aac-64k.x1.tmp" / "seg_000.m4s").write_bytes(b"x")
    (book / ".book.m4b.ab12.tmp").write_bytes(b"half")
    (book / ".tmp-abc.flac").write_bytes(b"half")
    (book / "book.m4b").write_bytes(b"final")
    (root / "tmp" / "tus-0123.part").write_bytes(b"partial upload")
    (root / "tmp" / "tus").mkdir()
    (root / "tmp" / "tus" / "0123.json").write_text("{}")
    (root / "tmp" / "abc.part").write_bytes(b"staging copy")
    old = time.time() - 3600
    for path in [*root.rglob("*")]:
        os.utime(path, (old, old))
    (book / ".live.mp3.zz.tmp").write_bytes(b"being written now")
    removed = set(sweep_temporaries(root, older_than_s=600))
    assert removed == {book / "hls" / ".aac-64k.x1.tmp", book / ".book.m4b.ab12.tmp", book / ".tmp-abc.flac",
                       root / "tmp" / "abc.part"}
    assert (book / "book.m4b").exists() and (book / ".live.mp3.zz.tmp").exists()
    assert (root / "tmp" / "tus-0123.part").exists() and (root / "tmp" / "tus" / "0123.json").exists()
